//go:build linux

package runner_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/b64"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/testfs"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// decodeConfig receives S/MIME from the party fabrikam into a host that
// decrypts with its own certificate and verifies against the party's, and
// routes on message.party to a file port without a pipeline: what is
// delivered is the decoded payload itself.
const decodeConfig = `
group "g" { signing_certificate = "{{.Sign}}" }
` + serverAndHost + `party "fabrikam" { signing_certificates = ["{{.Partner}}"] }
` + decodePipeline + decodeRoute

// httpDecodeConfig is decodeConfig with an http location at
// 127.0.0.1:{{.Port}}/as instead of the file one.
func httpDecodeConfig() string {
	return strings.Replace(decodeConfig, `  transport "file" { path = "in" }`, `  transport "http" {
    listen = "127.0.0.1:{{.Port}}"
    path   = "/as"
  }`, 1)
}

// decodeRoute is a decoding file location "from_fabrikam" (in/) and a file
// port "orders" (out/) that takes party fabrikam's messages, named
// PARTY-FILE.
const decodeRoute = `
receive_location "from_fabrikam" {
  host         = host.h
  pipeline     = pipeline.decode
  content_type = "application/pkcs7-mime"
  transport "file" { path = "in" }
}
` + ordersPort

// ordersPort is a file port "orders" (out/) that takes party fabrikam's
// messages, named PARTY-FILE.
const ordersPort = `
send_port "orders" {
  host   = host.h
  filter = message.party == "fabrikam"
  transport "file" {
    path      = "out"
    file_name = "${message.party}-${message.file_name}"
  }
}
`

// TestDecodeReceive: S/MIME messages made by openssl cms (clear and opaque
// signatures by the party, AES-CBC, AES-GCM and 3DES for the host, keys
// wrapped with RSA PKCS #1 v1.5 or RSAES-OAEP SHA-512) are
// decrypted and verified on receipt, routed on message.party, and the
// delivered bytes are the payload exactly, the box keeping the bytes as
// received beside it. Messages the pipeline refuses
// (not signed, signed by a stranger, not encrypted, encrypted for someone
// else, not S/MIME at all) are stored with their bytes as received and
// suspended with the reason, never delivered, and stay so when resumed.
// Over both message boxes.
func TestDecodeReceive(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testDecodeReceive(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		testDecodeReceive(t, func(opts *runner.Options) {
			box, err := pgbox.Open(t.Context(), pg.NewDatabase(t), pgbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { box.Close() })
			opts.Box = box
		})
	})
}

func testDecodeReceive(t *testing.T, tune func(*runner.Options)) {
	ossl := testpki.OpenSSL(t)
	p, decrypt, dir := setupDecode(t, decodeConfig, nil)
	// A key of its own, from a pool of its own.
	stranger := p.ca.Issue(t, testpki.Options{CommonName: "Stranger", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 0)})

	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	payload := binaryBody(5000)
	entity := file("entity.mime", append([]byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n"), payload...))
	partnerPEM, partnerKey := file("partner.pem", p.partner.CertPEM()), file("partner.key", p.partner.KeyPEM())
	strangerPEM, strangerKey := file("stranger.pem", stranger.CertPEM()), file("stranger.key", stranger.KeyPEM())
	decryptPEM := file("decrypt.pem", decrypt.CertPEM())
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	sign := func(name, cert, key string, opaque bool) string {
		args := []string{"cms", "-sign", "-binary", "-in", entity, "-signer", cert, "-inkey", key}
		if opaque {
			args = append(args, "-nodetach")
		}
		return file(name, run(args...))
	}
	encrypt := func(in, cipher, recip string) []byte {
		return run("cms", "-encrypt", "-binary", "-in", in, cipher, recip)
	}
	clear := sign("clear.eml", partnerPEM, partnerKey, false)
	opaque := sign("opaque.eml", partnerPEM, partnerKey, true)
	byStranger := sign("stranger.eml", strangerPEM, strangerKey, false)

	good := map[string][]byte{
		"clear-aes256.edi":  encrypt(clear, "-aes256", decryptPEM),
		"opaque-gcm.edi":    encrypt(opaque, "-aes-128-gcm", decryptPEM),
		"clear-3des.edi":    encrypt(clear, "-des3", decryptPEM),
		"opaque-aes128.edi": encrypt(opaque, "-aes128", decryptPEM),
		// RSAES-OAEP with SHA-512, as libas2 wraps keys.
		"oaep-sha512.edi": run("cms", "-encrypt", "-binary", "-in", clear, "-aes256", "-recip", decryptPEM,
			"-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha512"),
	}
	bad := map[string]struct {
		data []byte
		why  string
	}{
		"unsigned.edi":      {encrypt(entity, "-aes256", decryptPEM), "not signed"},
		"stranger.edi":      {encrypt(byStranger, "-aes256", decryptPEM), "is not a signing certificate of any party"},
		"not-encrypted.edi": {readAll(t, clear), "not encrypted"},
		"not-for-us.edi":    {encrypt(clear, "-aes256", partnerPEM), "decrypting"},
		"garbage.edi":       {[]byte("not S/MIME at all\x00\xff"), "decoding failed"},
	}
	for name, data := range good {
		put(t, dir, name, data)
	}
	for name, b := range bad {
		put(t, dir, name, b.data)
	}

	r, box := startWith(t, dir, tune)
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Received != len(good)+len(bad) || sum.Delivered != len(good) || sum.Suspended != len(bad) {
		t.Errorf("summary %+v, want %d received, %d delivered, %d suspended", sum, len(good)+len(bad), len(good), len(bad))
	}
	for name := range good {
		got, err := os.ReadFile(filepath.Join(dir, "out", "fabrikam-"+name))
		if err != nil {
			t.Errorf("%s: not delivered: %v", name, err)
			continue
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("%s: delivered %d bytes, not the payload (%d bytes)", name, len(got), len(payload))
		}
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]msgbox.Message{}
	for _, m := range msgs {
		byName[m.FileName] = m
	}
	for name := range good {
		m := byName[name]
		if m.Status != msgbox.StatusDelivered || m.Party != "fabrikam" || m.Decoding != msgbox.Decoded || m.ContentType != "application/edi-x12" {
			t.Errorf("%s: status %s, party %q, decoding %q, content type %q; want delivered from fabrikam, decoded, application/edi-x12",
				name, m.Status, m.Party, m.Decoding, m.ContentType)
		}
		if got := body(t, box, m.ID); !bytes.Equal(got, payload) {
			t.Errorf("%s: stored body is not the decoded payload", name)
		}
		if got := asReceived(t, box, m.ID); !bytes.Equal(got, good[name]) {
			t.Errorf("%s: the bytes as received are not those put in", name)
		}
	}
	for name, b := range bad {
		m := byName[name]
		if m.Status != msgbox.StatusSuspended || m.Party != "" || m.Decoding != msgbox.DecodingFailed ||
			!strings.Contains(m.Reason, "decoding failed at receive location \"from_fabrikam\"") || !strings.Contains(m.Reason, b.why) {
			t.Errorf("%s: status %s, party %q, decoding %q, reason %q; want suspended, failed, a reason naming the location and %q",
				name, m.Status, m.Party, m.Decoding, m.Reason, b.why)
		}
		if got := body(t, box, m.ID); !bytes.Equal(got, b.data) {
			t.Errorf("%s: stored body is not the bytes as received", name)
		}
		if got := asReceived(t, box, m.ID); !bytes.Equal(got, b.data) {
			t.Errorf("%s: the bytes as received are not those put in", name)
		}
		if _, err := os.Stat(filepath.Join(dir, "out", "fabrikam-"+name)); err == nil {
			t.Errorf("%s: a refused message was delivered", name)
		}
	}

	// A refused message was never authenticated: the box will not resume
	// it (msgbox.CheckResume), and a run leaves it as it was.
	refused := byName["stranger.edi"]
	if err := box.Resume(context.Background(), refused.ID); !errors.Is(err, msgbox.ErrInvalidState) {
		t.Fatalf("Resume of a refused message: %v; want ErrInvalidState", err)
	}
	if _, err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err := box.Message(context.Background(), refused.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != msgbox.StatusSuspended || m.Reason != refused.Reason {
		t.Errorf("refused message after a resume and a run: status %s, reason %q; want suspended, %q", m.Status, m.Reason, refused.Reason)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "out", "*stranger*")); len(left) != 0 {
		t.Errorf("refused message delivered: %v", left)
	}
	// The router's own guard still holds for one that an earlier bizpipe
	// resumed (stored as received again): it is suspended, never routed.
	if ports, reason := runner.RoutingOf(r, m); len(ports) != 0 || !strings.Contains(reason, "never routed") {
		t.Errorf("routing of a refused message: ports %v, reason %q; want none, never routed", ports, reason)
	}
}

// setupDecode is setup for a decoding configuration: besides the test's
// PKI it issues the host's decryption certificate (the {{.Decrypt}} of
// serverAndHost) and puts it with its key into the personal store.
func setupDecode(t *testing.T, cfg string, extra map[string]string) (p *pki, decrypt *testpki.Cert, dir string) {
	t.Helper()
	p = newPKI(t)
	// A key of its own, from a pool of its own.
	decrypt = p.ca.Issue(t, testpki.Options{CommonName: "Contoso Decryption", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 0)})
	data := map[string]string{"Decrypt": decrypt.SHA1()}
	for k, v := range extra {
		data[k] = v
	}
	dir = setup(t, p, cfg, data)
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "decrypt.pem", append(decrypt.CertPEM(), decrypt.KeyPEM()...))
	return p, decrypt, dir
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// asReceived returns the bytes of message id as they were received.
func asReceived(t *testing.T, box msgbox.Box, id string) []byte {
	t.Helper()
	rc, err := box.AsReceived(context.Background(), id)
	return readAndClose(t, rc, err)
}

// TestDecodeHTTPBody: an HTTP client posts an S/MIME body (DER, openssl cms
// -outform DER) with its MIME header in the request's Content-Type, as
// HTTP carries entities: the decoding location decodes it as the body of
// an entity of that type, routes it on message.party and delivers the
// payload; the bytes as received are the request's body.
func TestDecodeHTTPBody(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p, decrypt, dir := setupDecode(t, httpDecodeConfig(), map[string]string{"Port": freePort(t)})

	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	payload := binaryBody(3000)
	entity := file("entity.mime", append([]byte("Content-Type: application/edi-x12\r\n\r\n"), payload...))
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	signed := file("signed.eml", run("cms", "-sign", "-binary", "-nodetach", "-in", entity,
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM())))
	der := run("cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", signed, file("d.pem", decrypt.CertPEM()))

	r, box := start(t, dir)
	defer runInBackground(t, r)()
	id := postAccepted(t, "http://127.0.0.1:"+portOf(t, dir)+"/as", `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`, der)
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := box.Message(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status == msgbox.StatusDelivered {
			if m.Party != "fabrikam" || m.ContentType != "application/edi-x12" {
				t.Errorf("party %q, content type %q; want fabrikam, application/edi-x12", m.Party, m.ContentType)
			}
			break
		}
		if m.Status == msgbox.StatusSuspended || time.Now().After(deadline) {
			t.Fatalf("message %s: %s %s", id, m.Status, m.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := os.ReadFile(filepath.Join(dir, "out", "fabrikam-"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Error("the delivered file is not the payload")
	}
	if got := asReceived(t, box, id); !bytes.Equal(got, der) {
		t.Error("the bytes as received are not the request's body")
	}
}

// TestDecodePlainLetThrough: a location that decrypts without requiring
// encryption or a signature lets plain input through unchanged (a file
// without a MIME header is the body of an entity of the location's
// content_type), decrypts what is encrypted and unwraps a signature
// unchecked; none has a party.
func TestDecodePlainLetThrough(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	cfg := strings.NewReplacer(`    verify  = true`, `    require_encryption = false`,
		`content_type = "application/pkcs7-mime"`, `content_type = "application/xml"`,
		`filter = message.party == "fabrikam"`, `filter = message.party == ""`).Replace(decodeConfig)
	p, decrypt, dir := setupDecode(t, cfg, nil)
	work := t.TempDir()
	plain := []byte("<order id=\"7\"/>\n")
	entity := testpki.WriteFile(t, work, "e.mime", append([]byte("Content-Type: application/xml\r\n\r\n"), plain...))
	enc, err := exec.Command(ossl, "cms", "-encrypt", "-binary", "-aes128", "-in", entity,
		testpki.WriteFile(t, work, "d.pem", decrypt.CertPEM())).Output()
	if err != nil {
		t.Fatal(err)
	}
	signed := testpki.WriteFile(t, work, "s.eml", mustRun(t, ossl, "cms", "-sign", "-binary", "-in", entity,
		"-signer", testpki.WriteFile(t, work, "p.pem", p.partner.CertPEM()), "-inkey", testpki.WriteFile(t, work, "p.key", p.partner.KeyPEM())))
	signedEnc := mustRun(t, ossl, "cms", "-encrypt", "-binary", "-aes256", "-in", signed, testpki.WriteFile(t, work, "d2.pem", decrypt.CertPEM()))
	put(t, dir, "plain.xml", plain)
	put(t, dir, "enc.eml", enc)
	put(t, dir, "signed-enc.eml", signedEnc)
	r, box := start(t, dir)
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Delivered != 3 {
		t.Fatalf("summary %+v, want 3 delivered", sum)
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		got, err := os.ReadFile(filepath.Join(dir, "out", "-"+m.FileName))
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: delivered %q, %v; want %q", m.FileName, got, err, plain)
		}
		want := map[string][]byte{"plain.xml": plain, "enc.eml": enc, "signed-enc.eml": signedEnc}[m.FileName]
		if got := asReceived(t, box, m.ID); !bytes.Equal(got, want) {
			t.Errorf("%s: as received %q, want %q", m.FileName, got, want)
		}
		if m.Party != "" || m.Decoding != msgbox.Decoded {
			t.Errorf("%s: party %q, decoding %q; want none, decoded", m.FileName, m.Party, m.Decoding)
		}
	}
	// Only the encrypted messages' bytes as received are stored apart
	// (the SQLite box keeps them in a body file; these bodies are too
	// small for any other): plain.xml's are its body.
	if files, _ := filepath.Glob(filepath.Join(dir, "data", "box.db.bodies", "*")); len(files) != 2 {
		t.Errorf("body files %q, want two: the encrypted messages' as received", files)
	}
}

// TestDecodePlainNotMIME: plain input whose first line happens to hold a
// colon (EDIFACT's UNA service string advice, JSON, a multipart body whose
// boundary has one) is not mistaken for a MIME entity's header by a
// location that lets plain input through: it is delivered as it came, with
// the location's content type, not cut down to the "body" after its first
// lines; a MIME entity still is one.
func TestDecodePlainNotMIME(t *testing.T) {
	cfg := strings.NewReplacer(`    verify  = true`, `    require_encryption = false`,
		`content_type = "application/pkcs7-mime"`, `content_type = "application/edifact"`,
		`filter = message.party == "fabrikam"`, `filter = message.party == ""`).Replace(decodeConfig)
	_, _, dir := setupDecode(t, cfg, nil)
	plain := map[string][]byte{
		"orders.edi":   []byte("UNA:+.? 'UNB+UNOC:3+SENDER:14+RECEIVER:14+200101:1200+1'\nUNH+1+ORDERS:D:96A:UN'\nBGM+220+PO1:9'\nUNT+3+1'\nUNZ+1+1'\n"),
		"order.json":   []byte("{\"order\":7,\n\"lines\":[]}\n"),
		"one-line.edi": []byte("UNA:+.? 'UNB+UNOC:3+S+R+200101:1200+1'UNZ+1+1'"),
		"parts.txt":    []byte("--b:1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b:1--\r\n"),
	}
	want := map[string][]byte{}
	for name, data := range plain {
		put(t, dir, name, data)
		want[name] = data
	}
	// A MIME entity still is one when a field after the first has a name
	// MIME would not write: its body is delivered.
	put(t, dir, "entity.mime", []byte("Content-Disposition: attachment\r\nX_Trace: 1\r\nContent-Type: application/edifact\r\n\r\nUNA:+.? '"))
	want["entity.mime"] = []byte("UNA:+.? '")
	r, box := start(t, dir)
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Delivered != len(want) {
		t.Errorf("summary %+v, want %d delivered", sum, len(want))
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		got, err := os.ReadFile(filepath.Join(dir, "out", "-"+m.FileName))
		if err != nil || !bytes.Equal(got, want[m.FileName]) {
			t.Errorf("%s: delivered %q, %v; want %q (%s %s)", m.FileName, got, err, want[m.FileName], m.Status, m.Reason)
		}
		if m.ContentType != "application/edifact" {
			t.Errorf("%s: content type %q, want the location's", m.FileName, m.ContentType)
		}
	}
}

// TestDecodeSpoolFailure: when the spool cannot be written (its directory
// is missing), nothing is decided about the message: it is not stored, it
// stays at its source, and it is received once the spool works.
func TestDecodeSpoolFailure(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p, decrypt, dir := setupDecode(t, decodeConfig, nil)
	work := t.TempDir()
	entity := testpki.WriteFile(t, work, "e.mime", []byte("Content-Type: text/plain\r\n\r\nhello\r\n"))
	signed := testpki.WriteFile(t, work, "s.eml", mustRun(t, ossl, "cms", "-sign", "-in", entity,
		"-signer", testpki.WriteFile(t, work, "p.pem", p.partner.CertPEM()), "-inkey", testpki.WriteFile(t, work, "p.key", p.partner.KeyPEM())))
	put(t, dir, "m.eml", mustRun(t, ossl, "cms", "-encrypt", "-in", signed, testpki.WriteFile(t, work, "d.pem", decrypt.CertPEM())))

	spool := filepath.Join(t.TempDir(), "missing")
	r, box := startWith(t, dir, func(o *runner.Options) { o.SpoolDir = spool })
	sum, err := r.RunOnce(context.Background())
	if !errors.Is(err, runner.ErrIncomplete) || !strings.Contains(err.Error(), "spool") {
		t.Errorf("RunOnce error %v, want ErrIncomplete naming the spool", err)
	}
	if sum.Received != 0 {
		t.Errorf("summary %+v, want nothing received", sum)
	}
	if _, err := os.Stat(filepath.Join(dir, "in", "m.eml")); err != nil {
		t.Errorf("the input left its source: %v", err)
	}
	if msgs, _ := msgbox.Collect(context.Background(), box, msgbox.Filter{}); len(msgs) != 0 {
		t.Errorf("stored %d messages, want none", len(msgs))
	}
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if sum, err := r.RunOnce(context.Background()); err != nil || sum.Delivered != 1 {
		t.Errorf("once the spool works: %+v, %v; want the message delivered", sum, err)
	}
}

// TestDecodeSpoolRoom: a signed and encrypted message of 5.5 MiB (a
// 3 MiB payload, base64 inside and out) decodes with 16 MiB free in the
// spool: the message as received, at most two of its layers at once, and
// the decoded output. When every layer stayed until the end, and the
// decoder copied the message as received once more, it needed about
// 25 MiB, and the file waited in its input directory for room that never
// came.
func TestDecodeSpoolRoom(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p, decrypt, dir := setupDecode(t, decodeConfig, nil)
	work := t.TempDir()
	payload := make([]byte, 3<<20)
	for i := range payload {
		payload[i] = byte(i*7 + i>>11)
	}
	entity := testpki.WriteFile(t, work, "e.mime", append([]byte("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
		b64.AppendLines(nil, payload)...))
	signed := testpki.WriteFile(t, work, "s.eml", mustRun(t, ossl, "cms", "-sign", "-binary", "-in", entity,
		"-signer", testpki.WriteFile(t, work, "p.pem", p.partner.CertPEM()), "-inkey", testpki.WriteFile(t, work, "p.key", p.partner.KeyPEM())))
	msg := mustRun(t, ossl, "cms", "-encrypt", "-binary", "-aes256", "-in", signed, testpki.WriteFile(t, work, "d.pem", decrypt.CertPEM()))
	put(t, dir, "m.eml", msg)

	spool := testfs.MountTmpfs(t, filepath.Join(t.TempDir(), "spool"), 16<<20)
	r, box := startWith(t, dir, func(o *runner.Options) { o.SpoolDir = spool })
	sum, err := r.RunOnce(context.Background())
	if err != nil || sum.Delivered != 1 {
		t.Fatalf("a %d-octet message with 16 MiB of spool: %+v, %v; want it delivered", len(msg), sum, err)
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "out", msgs[0].Party+"-m.eml")); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("delivered %d octets, %v; want the %d of the payload", len(got), err, len(payload))
	}
}

// TestDecodeTwoStages: a receive pipeline that decrypts in one stage and
// verifies in the next delivers what the partner signed and encrypted
// (openssl cms, clear and opaque signatures) with its party: the first
// stage, which does not verify, leaves the signature for the second
// instead of unwrapping it unchecked, so that the second does not refuse
// every message as not signed. The second still refuses what is not
// signed, or signed by a stranger.
func TestDecodeTwoStages(t *testing.T) {
	cfg := strings.Replace(decodeConfig, decodePipeline, `pipeline "decode" {
  decoder "smime" { decrypt = true }
  decoder "smime" { verify = true }
}`, 1)
	ossl := testpki.OpenSSL(t)
	p, decrypt, dir := setupDecode(t, cfg, nil)
	stranger := p.ca.Issue(t, testpki.Options{CommonName: "Stranger", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 0)})
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	payload := []byte("UNA:+.? '\r\nUNB+UNOC:3+FABRIKAM+CONTOSO'\r\n")
	entity := file("entity.mime", append([]byte("Content-Type: application/edifact\r\n\r\n"), payload...))
	decryptPEM := file("decrypt.pem", decrypt.CertPEM())
	sign := func(name string, signer *testpki.Cert, opaque bool) string {
		args := []string{"cms", "-sign", "-binary", "-in", entity, "-signer", file(name+".pem", signer.CertPEM()), "-inkey", file(name+".key", signer.KeyPEM())}
		if opaque {
			args = append(args, "-nodetach")
		}
		return file(name+".eml", mustRun(t, ossl, args...))
	}
	encrypt := func(in string) []byte {
		return mustRun(t, ossl, "cms", "-encrypt", "-binary", "-aes256", "-in", in, decryptPEM)
	}
	cases := []struct {
		name string
		data []byte
		why  string // the refusal; "" for delivered
	}{
		{"clear.edi", encrypt(sign("clear", p.partner, false)), ""},
		{"opaque.edi", encrypt(sign("opaque", p.partner, true)), ""},
		{"unsigned.edi", encrypt(entity), "stage 2: smime: the message is not signed"},
		{"stranger.edi", encrypt(sign("stranger", stranger, false)),
			`stage 2: smime: the signer "CN=Stranger" (issuer "CN=Test CA", serial ` + stranger.Cert.SerialNumber.Text(16) + `) is not a signing certificate of any party`},
		{"not-encrypted.edi", readAll(t, sign("plain", p.partner, false)), "stage 1: smime: the message is not encrypted"},
	}
	for _, tc := range cases {
		put(t, dir, tc.name, tc.data)
	}
	r, box := start(t, dir)
	if _, err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]msgbox.Message{}
	for _, m := range msgs {
		byName[m.FileName] = m
	}
	for _, tc := range cases {
		m := byName[tc.name]
		if tc.why == "" {
			if m.Status != msgbox.StatusDelivered || m.Party != "fabrikam" || m.ContentType != "application/edifact" {
				t.Errorf("%s: status %s, party %q, content type %q, reason %q; want delivered from fabrikam, application/edifact",
					tc.name, m.Status, m.Party, m.ContentType, m.Reason)
			}
			if got, err := os.ReadFile(filepath.Join(dir, "out", "fabrikam-"+tc.name)); err != nil || !bytes.Equal(got, payload) {
				t.Errorf("%s: delivered %q, %v; want the payload %q", tc.name, got, err, payload)
			}
			continue
		}
		if m.Status != msgbox.StatusSuspended || m.Party != "" || !strings.Contains(m.Reason, tc.why) {
			t.Errorf("%s: status %s, party %q, reason %q; want suspended, a reason saying %q", tc.name, m.Status, m.Party, m.Reason, tc.why)
		}
		// The history (bizpipe messages show) says it too.
		d, err := box.Get(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(d.History, func(e msgbox.Event) bool { return e.Status == "suspended" && e.Detail == m.Reason }) {
			t.Errorf("%s: history %+v has no suspension with the reason %q", tc.name, d.History, m.Reason)
		}
	}
}
