package runner_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/runner"
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
	p := newPKI(t)
	url, box := startAS2Receiver(t, p)
	sealed := sealer(t, p)
	const id = repeatedID
	post := func(t *testing.T, ct string, body []byte) (*as2.ReceivedMDN, []byte) {
		t.Helper()
		return postRepeat(t, p, url, ct, body, true)
	}
	list := func() []msgbox.Message {
		t.Helper()
		msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}

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

// repeatedID is the Message-ID fabrikam sends its messages under in the
// repeat tests, and sealedType their Content-Type.
const (
	repeatedID = "<future-42@fabrikam.example>"
	sealedType = `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`
)

// sealer returns what signs an entity as fabrikam and encrypts it for us,
// anew each time (another content-encryption key), with OpenSSL.
func sealer(t *testing.T, p *pki) func(entity []byte) []byte {
	ossl := testpki.OpenSSL(t)
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	openssl := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	return func(entity []byte) []byte {
		signed := openssl("cms", "-sign", "-binary", "-nodetach", "-in", file("entity.mime", entity),
			"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM()))
		return openssl("cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", file("signed.eml", signed), file("r.pem", p.signer.CertPEM()))
	}
}

// postRepeat posts body as fabrikam's under repeatedID to url, asking for
// a signed synchronous MDN when receipt (else for none), and returns the
// MDN, verified, with its body (nil and nil without one).
func postRepeat(t *testing.T, p *pki, url, ct string, body []byte, receipt bool) (*as2.ReceivedMDN, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Content-Type": ct, "AS2-Version": "1.2", "AS2-From": "FABRIKAM", "AS2-To": "CONTOSO",
		"Message-ID": repeatedID} {
		req.Header.Set(k, v)
	}
	if receipt {
		req.Header.Set("Disposition-Notification-To", "as2@fabrikam.example")
		req.Header.Set("Disposition-Notification-Options", "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha256")
	}
	resp, b := testhttp.Do(t, nil, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %s %q", resp.Status, b)
	}
	if !receipt {
		return nil, nil
	}
	m, err := as2.ParseMDN(as2.JoinEntity(resp.Header, b), as2.VerifyOptions{Trusted: []*x509.Certificate{p.signer.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Signed || m.OriginalMessageID != repeatedID {
		t.Errorf("MDN signed %v for %q, want signed for %s", m.Signed, m.OriginalMessageID, repeatedID)
	}
	return m, b
}

// noPutMDNBox is the engine's box with every PutMDN failing (unreachable
// just after a commit): what the as2 receive location keeps for a new
// message must be stored with it.
type noPutMDNBox struct{ *sqlitebox.Box }

func (noPutMDNBox) PutMDN(context.Context, msgbox.SentMDN) error {
	return errors.New("the message box is unreachable")
}

// TestAS2RecordWithMessage: through the engine's decoding pipeline, a
// signed and encrypted message asking for no MDN is stored with the
// record of its content (its MIC, in an MDN never sent) in one
// transaction: with every PutMDN failing it is kept all the same, and
// another content under its Message-ID is refused by it rather than
// acknowledged with its own MIC; the same content is answered processed.
func TestAS2RecordWithMessage(t *testing.T) {
	p := newPKI(t)
	url, box := startAS2ReceiverWith(t, p, func(o *runner.Options) { o.Box = noPutMDNBox{o.Box.(*sqlitebox.Box)} })
	sealed := sealer(t, p)
	order := []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*ORDER 1~")
	postRepeat(t, p, url, sealedType, sealed(order), false)
	msgs, err := msgbox.Collect(t.Context(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Decoding != msgbox.Decoded {
		t.Fatalf("stored %+v; want fabrikam's message, decoded", msgs)
	}
	wantMIC := as2.ComputeMIC(as2.SHA256, order)
	if rec, err := box.(msgbox.MDNOutbox).SentMDN(t.Context(), msgs[0].ID); err != nil || rec.State != msgbox.MDNUnrequested {
		t.Errorf("kept for the message: %s, %v; want its record, unrequested", rec.State, err)
	} else if m, err := as2.ParseMDN(rec.Data, as2.VerifyOptions{Unverified: true}); err != nil || m.MIC == nil || !m.MIC.Equal(wantMIC) {
		t.Errorf("the record: %v, %v; want the content's MIC %v", m, err, wantMIC)
	}

	other, _ := postRepeat(t, p, url, sealedType, sealed([]byte("Content-Type: application/edi-x12\r\n\r\nISA*00*ORDER 2~")), true)
	if other.Disposition.Positive() || other.MIC != nil || !strings.Contains(other.Text, repeatedID) {
		t.Errorf("another content under the Message-ID answered %q, MIC %v, text %q; want processed/error naming %s",
			other.Disposition, other.MIC, other.Text, repeatedID)
	}
	if same, _ := postRepeat(t, p, url, sealedType, sealed(order), true); !same.Disposition.Positive() || same.MIC == nil || !same.MIC.Equal(wantMIC) {
		t.Errorf("the same content again answered %q, MIC %v; want processed, %v", same.Disposition, same.MIC, wantMIC)
	}
	if msgs, err := msgbox.Collect(t.Context(), box, msgbox.Filter{}); err != nil || len(msgs) != 1 {
		t.Errorf("%d messages stored after the repeats (%v), want 1", len(msgs), err)
	}
}
