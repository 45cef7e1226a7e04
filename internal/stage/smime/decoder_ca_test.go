package smime

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestDecoderStageCAIsNoParty: a party's signing_certificates list the
// certificates that may sign, not the CAs that issue them (language §10):
// with a CA certificate listed, a message signed with a certificate that
// CA issued (embedded in the signature, its chain to the listed
// certificate valid) is refused as signed by no party, an authentication
// failure, clear and opaque; the CA's own signature is the party's.
func TestDecoderStageCAIsNoParty(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	dir := t.TempDir()
	in := testpki.WriteFile(t, dir, "entity.mime", []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*~\r\n"))
	sign := func(c *testpki.Cert, args ...string) []byte {
		return run(t, nil, ossl, append([]string{"cms", "-sign", "-binary", "-in", in, "-md", "sha256",
			"-signer", testpki.WriteFile(t, dir, "s.pem", c.CertPEM()), "-inkey", testpki.WriteFile(t, dir, "s.key", c.KeyPEM())}, args...)...)
	}
	// fabrikam lists the CA that issued the group certificate.
	st := newDecoderStage(t, false, true, component.DecoderEnv{
		Keys: component.Keys{PartySigners: []component.PartyCertificate{{Party: "fabrikam", Cert: p.ca.Cert}}}})
	want := fmt.Sprintf(`smime: the signer "CN=Contoso group signing" (issuer "CN=bizpipe test CA", serial %s) is not a signing certificate of any party`,
		p.group.Cert.SerialNumber.Text(16))
	for name, msg := range map[string][]byte{"clear": sign(p.group), "opaque": sign(p.group, "-nodetach")} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			d, err := st.Decode(t.Context(), component.Header{}, bytes.NewReader(msg), &out, time.Now())
			if err == nil || err.Error() != want || !errors.Is(err, component.ErrAuthenticationFailed) {
				t.Errorf("Decode: party %q, %v; want the authentication failure %q", d.Party, err, want)
			}
		})
	}
	var out bytes.Buffer
	if d, err := st.Decode(t.Context(), component.Header{}, bytes.NewReader(sign(p.ca)), &out, time.Now()); err != nil || d.Party != "fabrikam" {
		t.Errorf("signed with the listed certificate itself: %v, party %q; want fabrikam", err, d.Party)
	}
}
