//go:build linux

package runner_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// spoolFiles counts this process's descriptors open on files of dir (the
// decoder's spool files are unlinked at once, so only their descriptors
// show them).
func spoolFiles(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(os.PathSeparator)) {
			n++
		}
	}
	return n
}

// inboundReviewConfig: party fabrikam rolls its signing certificate over
// (both listed), fabrikam_eu shares {{.Shared}} with it (declared after),
// and the host rotates its decryption certificate ({{.Previous}}).
const inboundReviewConfig = `
group "g" { signing_certificate = "{{.Sign}}" }
` + serverAndHost + `party "fabrikam" { signing_certificates = ["{{.Next}}", "{{.Partner}}", "{{.Shared}}"] }
party "fabrikam_eu" { signing_certificates = ["{{.Shared}}"] }
` + decodePipeline + decodeRoute

// TestInboundOpenSSLScenarios: messages OpenSSL made as partners make
// them, through a decrypting and verifying location: signed with the
// party's previous certificate during its rollover, with a certificate two
// parties list, encrypted for the host's previous decryption certificate,
// signed, encrypted and signed again (RFC 2634's triple wrapping) are
// delivered once with their party; an unsigned one is suspended with a
// reason naming the location. No spool file stays open afterwards.
func TestInboundOpenSSLScenarios(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	keys := testpki.NewKeys()
	next := p.ca.Issue(t, testpki.Options{CommonName: "Fabrikam 2027", Key: keys.Key(t, testpki.RSA2048, 3)})
	shared := p.ca.Issue(t, testpki.Options{CommonName: "Fabrikam Group", Key: keys.Key(t, testpki.RSA2048, 4)})
	previous := previousCert(t, p)
	decrypt := p.ca.Issue(t, testpki.Options{CommonName: "Contoso Decryption", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 0)})
	dir := setup(t, p, withPrevious(t, inboundReviewConfig), map[string]string{"Decrypt": decrypt.SHA1(), "Previous": previous.SHA1(),
		"Next": next.SHA1(), "Shared": shared.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "decrypt.pem", append(decrypt.CertPEM(), decrypt.KeyPEM()...))
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "previous.pem", append(previous.CertPEM(), previous.KeyPEM()...))
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "next.pem", next.CertPEM())
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "shared.pem", shared.CertPEM())

	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	payload := binaryBody(4000)
	entity := file("entity.mime", append([]byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n"), payload...))
	sign := func(in string, c *testpki.Cert, name string) string {
		return file(name, run("cms", "-sign", "-binary", "-in", in, "-signer", file(name+".pem", c.CertPEM()), "-inkey", file(name+".key", c.KeyPEM())))
	}
	encrypt := func(in string, recip *testpki.Cert, name string) string {
		return file(name, run("cms", "-encrypt", "-binary", "-aes256", "-in", in, file(name+".pem", recip.CertPEM())))
	}
	cases := []struct {
		name, path string
		party      string // "" when refused
		why        string
	}{
		{"rollover-old.edi", encrypt(sign(entity, p.partner, "s-old"), decrypt, "e-old"), "fabrikam", ""},
		{"rollover-new.edi", encrypt(sign(entity, next, "s-new"), decrypt, "e-new"), "fabrikam", ""},
		{"shared.edi", encrypt(sign(entity, shared, "s-shared"), decrypt, "e-shared"), "fabrikam", ""},
		{"previous-decryption.edi", encrypt(sign(entity, p.partner, "s-prev"), previous, "e-prev"), "fabrikam", ""},
		{"triple.edi", sign(encrypt(sign(entity, p.partner, "s-in"), decrypt, "e-mid"), next, "s-out"), "fabrikam", ""},
		{"unsigned.edi", encrypt(entity, decrypt, "e-unsigned"), "", "not signed"},
	}
	for _, tc := range cases {
		put(t, dir, tc.name, readAll(t, tc.path))
	}
	spool := t.TempDir()
	r, box := startWith(t, dir, func(o *runner.Options) { o.SpoolDir = spool })
	sum := runUntilSettled(t, r)
	if sum.Received != len(cases) || sum.Delivered != len(cases)-1 || sum.Suspended != 1 {
		t.Errorf("summary %+v, want %d received, %d delivered, 1 suspended", sum, len(cases), len(cases)-1)
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(cases) {
		t.Errorf("%d messages stored, want %d", len(msgs), len(cases))
	}
	byName := map[string]msgbox.Message{}
	for _, m := range msgs {
		byName[m.FileName] = m
	}
	for _, tc := range cases {
		m := byName[tc.name]
		if tc.why != "" {
			if m.Status != msgbox.StatusSuspended || m.Decoding != msgbox.DecodingFailed ||
				!strings.Contains(m.Reason, `receive location "from_fabrikam"`) || !strings.Contains(m.Reason, tc.why) {
				t.Errorf("%s: status %s, decoding %q, reason %q; want suspended naming the location and %q", tc.name, m.Status, m.Decoding, m.Reason, tc.why)
			}
			continue
		}
		if m.Status != msgbox.StatusDelivered || m.Party != tc.party {
			t.Errorf("%s: status %s, party %q, reason %q; want delivered from %s", tc.name, m.Status, m.Party, m.Reason, tc.party)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "out", tc.party+"-"+tc.name)); err != nil || !bytes.Equal(got, payload) {
			t.Errorf("%s: delivered %d bytes, %v; want the payload", tc.name, len(got), err)
		}
	}
	if n := spoolFiles(t, spool); n != 0 {
		t.Errorf("%d spool files still open after the run", n)
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
}

// TestInboundRefusedThenFixed: a message signed by a certificate no party
// lists yet is stored as received and suspended, naming the location and
// the signer. Once the operator adds the certificate to the party, the box
// still neither resumes nor resubmits it (docs/operations.md: it was never
// authenticated); received again, its bytes as received are decoded and
// delivered once, the original staying suspended with its reason.
func TestInboundRefusedThenFixed(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p, decrypt, dir := setupDecode(t, decodeConfig, nil)
	newcomer := p.ca.Issue(t, testpki.Options{CommonName: "Fabrikam New", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 5)})
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	payload := []byte("ISA*00*refused-then-fixed~")
	entity := file("entity.mime", append([]byte("Content-Type: application/edi-x12\r\n\r\n"), payload...))
	signed := file("s.eml", mustRun(t, ossl, "cms", "-sign", "-binary", "-in", entity,
		"-signer", file("n.pem", newcomer.CertPEM()), "-inkey", file("n.key", newcomer.KeyPEM())))
	data := mustRun(t, ossl, "cms", "-encrypt", "-binary", "-aes256", "-in", signed, file("d.pem", decrypt.CertPEM()))
	put(t, dir, "order.edi", data)

	spool := t.TempDir()
	r, box := startWith(t, dir, func(o *runner.Options) { o.SpoolDir = spool })
	if sum := runUntilSettled(t, r); sum.Suspended != 1 || sum.Delivered != 0 {
		t.Fatalf("summary %+v, want 1 suspended", sum)
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages %v, %v; want one", msgs, err)
	}
	refused := msgs[0]
	if !strings.Contains(refused.Reason, `receive location "from_fabrikam"`) || !strings.Contains(refused.Reason, "CN=Fabrikam New") ||
		refused.FileName != "order.edi" {
		t.Errorf("reason %q, file %q; want the location, the signer and order.edi", refused.Reason, refused.FileName)
	}
	box.Close()

	// The fix: the newcomer's certificate added to fabrikam.
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "newcomer.pem", newcomer.CertPEM())
	cfg := readAll(t, filepath.Join(dir, "bizpipe.hcl"))
	fixed := bytes.Replace(cfg, []byte(`signing_certificates = ["`+p.partner.SHA1()+`"]`),
		[]byte(`signing_certificates = ["`+p.partner.SHA1()+`", "`+newcomer.SHA1()+`"]`), 1)
	if bytes.Equal(fixed, cfg) {
		t.Fatal("no signing_certificates to add to")
	}
	testpki.WriteFile(t, dir, "bizpipe.hcl", fixed)
	before := runtime.NumGoroutine()
	r, box = startWith(t, dir, func(o *runner.Options) { o.SpoolDir = spool })
	if err := box.Resume(context.Background(), refused.ID); !errors.Is(err, msgbox.ErrInvalidState) {
		t.Errorf("Resume of the refused message: %v; want ErrInvalidState", err)
	}
	d, err := box.Get(context.Background(), refused.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := msgbox.CheckResubmit(refused.ID, d.Message.Status, d.Message.Decoding, d.Deliveries, ""); !errors.Is(err, msgbox.ErrInvalidState) {
		t.Errorf("CheckResubmit of the refused message: %v; want ErrInvalidState", err)
	}
	// Received again, as the docs say: its bytes as received.
	put(t, dir, "order.edi", asReceived(t, box, refused.ID))
	if sum := runUntilSettled(t, r); sum.Delivered != 1 || sum.Suspended != 0 {
		t.Errorf("after the fix: summary %+v, want 1 delivered", sum)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "out", "fabrikam-order.edi")); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("delivered %q, %v; want the payload", got, err)
	}
	m, err := box.Message(context.Background(), refused.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != msgbox.StatusSuspended || m.Reason != refused.Reason {
		t.Errorf("the original: %s %q; want suspended with its reason", m.Status, m.Reason)
	}
	msgs, _ = msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if len(msgs) != 2 {
		t.Errorf("%d messages, want the original and the one received again", len(msgs))
	}
	if n := spoolFiles(t, spool); n != 0 {
		t.Errorf("%d spool files still open", n)
	}
	// Goroutines: what the runner and its box started has ended.
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	box.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestInboundHTTPRepeatWhileDecoding: a client that sends one message
// several times at once under one Idempotency-Key (its retries overtaking
// the first request, still being decoded) to a decoding location gets
// the same message id each time, and the message is stored and delivered
// once. Nothing stays open in the spool once the run stops.
func TestInboundHTTPRepeatWhileDecoding(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p, decrypt, dir := setupDecode(t, httpDecodeConfig(), map[string]string{"Port": freePort(t)})
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	payload := binaryBody(200 << 10)
	entity := file("entity.mime", append([]byte("Content-Type: application/edi-x12\r\n\r\n"), payload...))
	signed := file("signed.eml", mustRun(t, ossl, "cms", "-sign", "-binary", "-nodetach", "-in", entity,
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM())))
	good := mustRun(t, ossl, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", signed, file("d.pem", decrypt.CertPEM()))

	spool := t.TempDir()
	r, box := startWith(t, dir, func(o *runner.Options) { o.SpoolDir = spool })
	stop := runInBackground(t, r)
	url := "http://127.0.0.1:" + portOf(t, dir) + "/as"
	waitListening(t, url)
	const repeats = 4
	send := func(key string, body []byte) []string {
		ids := make([]string, repeats)
		errs := make(chan error, repeats)
		for i := range repeats {
			go func() {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", `application/pkcs7-mime; smime-type=enveloped-data`)
				req.Header.Set("Idempotency-Key", key)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
					ids[i] = resp.Header.Get("Bizpipe-Message-Id")
					if resp.StatusCode != http.StatusAccepted {
						err = errors.New(resp.Status)
					}
				}
				errs <- err
			}()
		}
		for range repeats {
			if err := <-errs; err != nil {
				t.Errorf("key %s: %v", key, err)
			}
		}
		return ids
	}
	ids := send("good-1", good)
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Errorf("message ids %v, want one", ids)
			break
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "out", "fabrikam-")); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Status != msgbox.StatusDelivered || msgs[0].Party != "fabrikam" {
		t.Errorf("messages %+v; want one, delivered from fabrikam", msgs)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "out", "fabrikam-")); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("delivered %d bytes, %v; want the payload", len(got), err)
	}
	if n := spoolFiles(t, spool); n != 0 {
		t.Errorf("%d spool files still open after the stop", n)
	}
}
