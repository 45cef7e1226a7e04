//go:build linux

package runner_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/syncbuf"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// withPrevious adds previous_decryption_certificates = [{{.Previous}}] to
// the host of a configuration made with serverAndHost.
func withPrevious(t *testing.T, cfg string) string {
	t.Helper()
	const attr = `  decryption_certificate = "{{.}}"`
	if !strings.Contains(cfg, attr) {
		t.Fatal("the configuration has no decryption_certificate to add previous certificates to")
	}
	return strings.Replace(cfg, attr, attr+"\n"+`  previous_decryption_certificates = ["{{$.Previous}}"]`, 1)
}

// previousCert issues the host's previous decryption certificate, with a
// key of its own.
func previousCert(t *testing.T, p *pki) *testpki.Cert {
	t.Helper()
	return p.ca.Issue(t, testpki.Options{CommonName: "Contoso Decryption 2025", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 1)})
}

// TestDecodePreviousCertificate: while a host rotates its decryption
// certificate, a message OpenSSL encrypted for the previous one (a partner
// that has not switched yet) is decrypted, verified and delivered like one
// encrypted for the current one, and the "message received" line of each
// names the certificate that decrypted it, by thumbprint, and whether it
// is the current or a previous one, so that the operator sees when
// partners have switched; no key material is logged. A message encrypted
// for a certificate the host does not hold is still suspended, its reason
// naming the certificate it is for and those the host decrypts with.
func TestDecodePreviousCertificate(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	previous := previousCert(t, p)
	// The current certificate, as setupDecode issues it.
	decrypt := p.ca.Issue(t, testpki.Options{CommonName: "Contoso Decryption", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 0)})
	dir := setup(t, p, withPrevious(t, decodeConfig), map[string]string{"Decrypt": decrypt.SHA1(), "Previous": previous.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "decrypt.pem", append(decrypt.CertPEM(), decrypt.KeyPEM()...))
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "previous.pem", append(previous.CertPEM(), previous.KeyPEM()...))
	stranger := p.ca.Issue(t, testpki.Options{CommonName: "Another Host", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 2)})

	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	payload := binaryBody(3000)
	entity := file("entity.mime", append([]byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n"), payload...))
	signed := file("signed.eml", run("cms", "-sign", "-binary", "-in", entity,
		"-signer", file("partner.pem", p.partner.CertPEM()), "-inkey", file("partner.key", p.partner.KeyPEM())))
	encrypt := func(recip *testpki.Cert, cipher string) []byte {
		return run("cms", "-encrypt", "-binary", "-in", signed, cipher, file("recip.pem", recip.CertPEM()))
	}
	up := strings.ToUpper
	good := map[string]struct {
		data  []byte
		with  string // decrypted_with
		which string // decryption_certificate
	}{
		"for-previous.edi":     {encrypt(previous, "-aes256"), up(previous.SHA1()), "previous"},
		"for-previous-gcm.edi": {encrypt(previous, "-aes-128-gcm"), up(previous.SHA1()), "previous"},
		"for-current.edi":      {encrypt(decrypt, "-aes256"), up(decrypt.SHA1()), "current"},
	}
	unknown := encrypt(stranger, "-aes256")
	for name, g := range good {
		put(t, dir, name, g.data)
	}
	put(t, dir, "for-unknown.edi", unknown)

	var logs syncbuf.Buffer
	r, box := startWith(t, dir, func(o *runner.Options) {
		o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Received != len(good)+1 || sum.Delivered != len(good) || sum.Suspended != 1 {
		t.Errorf("summary %+v, want %d received, %d delivered, 1 suspended", sum, len(good)+1, len(good))
	}
	for name := range good {
		got, err := os.ReadFile(filepath.Join(dir, "out", "fabrikam-"+name))
		if err != nil {
			t.Errorf("%s: not delivered: %v", name, err)
		} else if !bytes.Equal(got, payload) {
			t.Errorf("%s: delivered %d bytes, not the payload (%d bytes)", name, len(got), len(payload))
		}
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]msgbox.Message{}
	byName := map[string]msgbox.Message{}
	for _, m := range msgs {
		byName[m.FileName], byID[m.ID] = m, m
	}
	for name := range good {
		if m := byName[name]; m.Status != msgbox.StatusDelivered || m.Party != "fabrikam" || m.Decoding != msgbox.Decoded {
			t.Errorf("%s: status %s, party %q, decoding %q; want delivered from fabrikam, decoded", name, m.Status, m.Party, m.Decoding)
		}
	}
	m := byName["for-unknown.edi"]
	wantReason := []string{
		`decoding failed at receive location "from_fabrikam"`,
		fmt.Sprintf(`encrypted for issuer "CN=Test CA", serial %s, which is none of the certificates decrypted with here`, stranger.Cert.SerialNumber.Text(16)),
		fmt.Sprintf(`"CN=Contoso Decryption" (serial %s)`, decrypt.Cert.SerialNumber.Text(16)),
		fmt.Sprintf(`"CN=Contoso Decryption 2025" (serial %s)`, previous.Cert.SerialNumber.Text(16)),
	}
	if m.Status != msgbox.StatusSuspended || m.Decoding != msgbox.DecodingFailed {
		t.Errorf("for-unknown.edi: status %s, decoding %q; want suspended, failed", m.Status, m.Decoding)
	}
	for _, want := range wantReason {
		if !strings.Contains(m.Reason, want) {
			t.Errorf("for-unknown.edi: reason %q; want it to contain %q", m.Reason, want)
		}
	}

	// The "message received" line of each message.
	received := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if id, _ := rec["message_id"].(string); rec["msg"] == "message received" && id != "" {
			received[byID[id].FileName] = rec
		}
	}
	for name, g := range good {
		rec := received[name]
		if rec["decrypted_with"] != g.with || rec["decryption_certificate"] != g.which {
			t.Errorf("%s: logged decrypted_with %v, decryption_certificate %v; want %s, %s", name, rec["decrypted_with"], rec["decryption_certificate"], g.with, g.which)
		}
	}
	if rec, ok := received["for-unknown.edi"]; !ok || rec["decrypted_with"] != nil {
		t.Errorf("for-unknown.edi: logged %v; want a line without decrypted_with", rec)
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") || strings.Contains(logs.String(), "BEGIN") {
		t.Error("the log holds key material")
	}
}

// TestAS2ReceivePreviousCertificate: an AS2 receive location decrypts
// through the same decoders: a message OpenSSL encrypted for the host's
// previous certificate is stored decoded and answered with a positive MDN,
// one for a certificate the host does not hold with processed/error:
// decryption-failed.
func TestAS2ReceivePreviousCertificate(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	previous := previousCert(t, p)
	northwind := p.ca.Issue(t, testpki.Options{CommonName: "Northwind", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 4)})
	dir := setup(t, p, withPrevious(t, as2RecvConfig), map[string]string{"Port": freePort(t), "Northwind": northwind.SHA1(),
		"Decrypt": p.signer.SHA1(), "Previous": previous.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "northwind.pem", northwind.CertPEM())
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "previous.pem", append(previous.CertPEM(), previous.KeyPEM()...))
	url, box := serveAS2(t, dir, nil)

	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	payload := []byte("ISA*00*          *00*          *ZZ*FABRIKAM~")
	signed := file("signed.eml", run("cms", "-sign", "-binary", "-nodetach",
		"-in", file("entity.mime", append([]byte("Content-Type: application/edi-x12\r\n\r\n"), payload...)),
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM())))
	stranger := p.ca.Issue(t, testpki.Options{CommonName: "Another Host", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 2)})
	for i, tc := range []struct {
		name        string
		recipient   *testpki.Cert
		disposition string
	}{
		{"for the previous certificate", previous, "automatic-action/MDN-sent-automatically; processed"},
		{"for the current certificate", p.signer, "automatic-action/MDN-sent-automatically; processed"},
		{"for an unknown certificate", stranger, "automatic-action/MDN-sent-automatically; processed/error: decryption-failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der := run("cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", signed, file("r.pem", tc.recipient.CertPEM()))
			id := fmt.Sprintf("<rot%d@fabrikam.example>", i)
			req := as2Request(t, url, "FABRIKAM", id, `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`, der)
			req.Header.Set("Disposition-Notification-Options", "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, sha-256")
			resp, b := testhttp.Do(t, nil, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST: %s", resp.Status)
			}
			rc, err := as2.ParseMDN(as2.JoinEntity(resp.Header, b), as2.VerifyOptions{Trusted: []*x509.Certificate{p.signer.Cert}})
			if err != nil {
				t.Fatal(err)
			}
			if got := rc.MDN.Disposition.String(); got != tc.disposition || rc.MDN.OriginalMessageID != id {
				t.Errorf("MDN for %s: %q; want %q", rc.MDN.OriginalMessageID, got, tc.disposition)
			}
		})
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	decoded := 0
	for _, m := range msgs {
		if m.Decoding == msgbox.Decoded && m.Party == "fabrikam" {
			decoded++
			if got := body(t, box, m.ID); !bytes.Equal(got, payload) {
				t.Errorf("message %s: stored body %q, want the payload", m.ID, got)
			}
		}
	}
	if decoded != 2 || len(msgs) != 3 {
		t.Errorf("%d messages stored, %d decoded from fabrikam; want 3, 2", len(msgs), decoded)
	}
}
