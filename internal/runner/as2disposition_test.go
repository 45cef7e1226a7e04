package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestAS2RefusalDispositions: each kind of refusal by the real decoder
// ("decrypt = true, verify = true") is answered with its RFC 4130 §7.4.3
// disposition, the message stored suspended, never routed, with a reason
// naming the location and the cause: a message not encrypted, or
// encrypted (AES-GCM, which authenticates what it decrypts, so the
// precise disposition may show) but not signed, lacks the security the
// location requires (insufficient-message-security); one signed by no
// party fails authentication (authentication-failed); one encrypted for
// another certificate cannot be decrypted (decryption-failed); a body that
// claims to be S/MIME and is not, or whose decrypted content is no MIME
// entity, is an unexpected-processing-error.
func TestAS2RefusalDispositions(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	url, box := startAS2Receiver(t, p)
	stranger := p.ca.Issue(t, testpki.Options{CommonName: "Stranger", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 5)})
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	entity := file("entity.mime", []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*~\r\n"))
	sign := func(c *testpki.Cert) string {
		return file("signed-"+c.Cert.Subject.CommonName+".eml", run("cms", "-sign", "-binary", "-nodetach", "-in", entity,
			"-signer", file("s.pem", c.CertPEM()), "-inkey", file("s.key", c.KeyPEM())))
	}
	encrypt := func(in string, recipient *testpki.Cert) []byte {
		return run("cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-gcm", "-in", in, file("r.pem", recipient.CertPEM()))
	}
	const enveloped = `application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"`
	// The opaque signature as the request's body: its Content-Type goes in
	// the HTTP header, as AS2 senders post a whole entity.
	opaque := run("cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-in", entity,
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM()))
	for i, tc := range []struct {
		name, contentType string
		body              []byte
		description, why  string
	}{
		{"signed, not encrypted", `application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"`, opaque,
			"insufficient-message-security", "not encrypted"},
		{"encrypted, not signed", enveloped, encrypt(entity, p.signer), "insufficient-message-security", "not signed"},
		{"signed by no party", enveloped, encrypt(sign(stranger), p.signer), "authentication-failed", "not a signing certificate of any party"},
		{"encrypted for another certificate", enveloped, encrypt(sign(p.partner), p.partner), "decryption-failed", "decrypting"},
		{"not CMS", enveloped, []byte("this is no CMS at all"), "unexpected-processing-error", "not a CMS ContentInfo"},
		{"decrypted content is no MIME entity", enveloped, encrypt(file("raw.txt", []byte("\x00\x01 not MIME")), p.signer),
			"unexpected-processing-error", "MIME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := as2Request(t, url, "FABRIKAM", fmt.Sprintf("<refused%d@fabrikam.example>", i), tc.contentType, tc.body)
			resp, b := testhttp.Do(t, nil, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST: %s %q", resp.Status, b)
			}
			rc, err := as2.ParseMDN(as2.JoinEntity(resp.Header, b), as2.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := rc.MDN.Disposition; d.Type != "processed" || d.Modifier != "error" || d.Description != tc.description || rc.MDN.MIC != nil {
				t.Errorf("MDN disposition %q, MIC %v; want processed/error: %s without a MIC", d, rc.MDN.MIC, tc.description)
			}
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if !bytes.HasSuffix(body(t, box, m.ID), tc.body) {
					continue
				}
				if m.Status != msgbox.StatusSuspended || m.Decoding != msgbox.DecodingFailed ||
					!strings.Contains(m.Reason, `decoding failed at receive location "as2in"`) || !strings.Contains(m.Reason, tc.why) {
					t.Errorf("stored: %s, decoding %q, reason %q; want suspended, failed, saying %q", m.Status, m.Decoding, m.Reason, tc.why)
				}
				return
			}
			t.Error("the message was not stored")
		})
	}
}
