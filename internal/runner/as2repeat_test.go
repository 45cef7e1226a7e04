package runner_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestAS2RepeatAuthenticated: the engine's as2 receive location, on
// 127.0.0.1, with a pipeline that decrypts and verifies. An unsigned,
// unencrypted message sent first as fabrikam's, under the Message-ID
// fabrikam uses next, is stored suspended and refused; fabrikam's signed
// and encrypted message under that Message-ID is then stored, decoded and
// answered processed with its MIC, not with the junk's refusal. Sent
// again, encrypted anew, it is the same content (the same MIC): answered
// with its MDN, not stored again. Another signed content under that
// Message-ID is not stored and is refused with processed/error naming the
// Message-ID, instead of a processed MDN with the first one's MIC.
func TestAS2RepeatAuthenticated(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	url, box := startAS2Receiver(t, p)

	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	openssl := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	// sealed signs entity as fabrikam and encrypts it for us, anew each
	// time (another content-encryption key).
	sealed := func(entity []byte) []byte {
		signed := openssl("cms", "-sign", "-binary", "-nodetach", "-in", file("entity.mime", entity),
			"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM()))
		return openssl("cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", file("signed.eml", signed), file("r.pem", p.signer.CertPEM()))
	}
	const id = "<future-42@fabrikam.example>"
	post := func(t *testing.T, ct string, body []byte) (*as2.ReceivedMDN, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{"Content-Type": ct, "AS2-Version": "1.2", "AS2-From": "FABRIKAM", "AS2-To": "CONTOSO",
			"Message-ID": id, "Disposition-Notification-To": "as2@fabrikam.example",
			"Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha256"} {
			req.Header.Set(k, v)
		}
		resp, b := testhttp.Do(t, nil, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST: %s %q", resp.Status, b)
		}
		m, err := as2.ParseMDN(as2.JoinEntity(resp.Header, b), as2.VerifyOptions{Trusted: []*x509.Certificate{p.signer.Cert}})
		if err != nil {
			t.Fatal(err)
		}
		if !m.Signed || m.OriginalMessageID != id {
			t.Errorf("MDN signed %v for %q, want signed for %s", m.Signed, m.OriginalMessageID, id)
		}
		return m, b
	}
	list := func() []msgbox.Message {
		t.Helper()
		msgs, err := box.List(context.Background(), msgbox.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}
	const sealedType = `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`

	junk, _ := post(t, "application/edi-x12", []byte("ISA*00*JUNK~"))
	if junk.Disposition.Positive() {
		t.Fatalf("junk answered %q", junk.Disposition)
	}
	if msgs := list(); len(msgs) != 1 || msgs[0].Decoding != msgbox.DecodingFailed || msgs[0].Status != msgbox.StatusSuspended {
		t.Fatalf("after the junk: %+v; want it stored, decoding failed, suspended", msgs)
	}

	order := []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*ORDER 1~")
	first, firstBody := post(t, sealedType, sealed(order))
	wantMIC := as2.ComputeMIC(as2.SHA256, order)
	if !first.Disposition.Positive() || first.MIC == nil || !first.MIC.Equal(wantMIC) {
		t.Fatalf("fabrikam's message after the junk answered %q, MIC %v; want processed, %v", first.Disposition, first.MIC, wantMIC)
	}
	var real msgbox.Message
	for _, m := range list() {
		if m.Decoding == msgbox.Decoded {
			real = m
		}
	}
	if real.ID == "" || real.Party != "fabrikam" {
		t.Fatalf("fabrikam's message is not stored decoded: %+v", list())
	}
	if b := body(t, box, real.ID); !bytes.Equal(b, []byte("ISA*00*ORDER 1~")) {
		t.Errorf("stored body %q", b)
	}

	if again, againBody := post(t, sealedType, sealed(order)); !bytes.Equal(againBody, firstBody) {
		t.Errorf("the same content, encrypted anew, answered with another MDN: %q, MIC %v", again.Disposition, again.MIC)
	}
	if n := len(list()); n != 2 {
		t.Errorf("%d messages stored after a repeat, want 2", n)
	}

	other, _ := post(t, sealedType, sealed([]byte("Content-Type: application/edi-x12\r\n\r\nISA*00*ORDER 2~")))
	if other.Disposition.String() != "automatic-action/MDN-sent-automatically; processed/error: unexpected-processing-error" ||
		other.MIC != nil || !strings.Contains(other.Text, id) {
		t.Errorf("another content under the same Message-ID answered %q, MIC %v, text %q; want processed/error naming %s",
			other.Disposition, other.MIC, other.Text, id)
	}
	if n := len(list()); n != 2 {
		t.Errorf("%d messages stored after another content under a used Message-ID, want 2", n)
	}
	if b := body(t, box, real.ID); !bytes.Equal(b, []byte("ISA*00*ORDER 1~")) {
		t.Errorf("stored body became %q", b)
	}
}
