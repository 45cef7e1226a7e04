package smime

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestDecodeSignedTwiceDuringRollover: a party that signs with both its
// old and its new certificate while it rolls over (openssl cms -sign with
// two -signer) is accepted as itself when one of them passes: its old one
// expired at receipt, or its new one listed but not in this server's
// other-people store yet, in either order given to openssl. A second
// signer that is no party's, or another party's that does not pass, still
// refuses it, as do two that both fail, with the reason of one of them
// (SignerInfos are a DER SET: their order is not the signer's).
func TestDecodeSignedTwiceDuringRollover(t *testing.T) {
	ossl := openssl(t)
	p, now, old, next, stranger := rolloverCerts(t)
	other := p.ca.Issue(t, testpki.Options{CommonName: "Northwind 2026", Key: keys.Key(t, testpki.RSA2048, 6),
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(time.Hour)})

	dir := t.TempDir()
	files := func(c *testpki.Cert) []string {
		name := c.Cert.Subject.CommonName
		return []string{"-signer", testpki.WriteFile(t, dir, name+".pem", c.CertPEM()), "-inkey", testpki.WriteFile(t, dir, name+".key", c.KeyPEM())}
	}
	in := testpki.WriteFile(t, dir, "entity.mime", []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*rollover\r\n"))
	sign := func(signers ...*testpki.Cert) []byte {
		args := []string{"cms", "-sign", "-binary", "-md", "sha256", "-in", in}
		for _, c := range signers {
			args = append(args, files(c)...)
		}
		return run(t, nil, ossl, args...)
	}
	party := func(name string, c *testpki.Cert) component.PartyCertificate {
		return component.PartyCertificate{Party: name, Cert: c.Cert}
	}
	absent := func(name string, c *testpki.Cert) component.AbsentPartyCertificate {
		sum := sha1.Sum(c.Cert.Raw)
		return component.AbsentPartyCertificate{Party: name, Thumbprint: fmt.Sprintf("%X", sum), Store: "srv2_other_people",
			Matches: func(der []byte) bool { return sha1.Sum(der) == sum }}
	}
	stage := func(present []component.PartyCertificate, missing ...component.AbsentPartyCertificate) component.DecodeStage {
		return newDecoderStage(t, false, true, component.DecoderEnv{Keys: component.Keys{PartySigners: present, AbsentPartySigners: missing}})
	}
	deployed := stage([]component.PartyCertificate{party("fabrikam", old), party("fabrikam", next), party("northwind", other)})
	notYet := stage([]component.PartyCertificate{party("fabrikam", old), party("northwind", other)}, absent("fabrikam", next))
	expired := now.Add(2 * time.Hour)
	expiredErr := func(c *testpki.Cert) string {
		return fmt.Sprintf(`smime: signer certificate %q (serial %s): x509: certificate has expired or is not yet valid: current time %s is after %s`,
			c.Cert.Subject.String(), c.Cert.SerialNumber.Text(16), expired.UTC().Format(time.RFC3339), c.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	tests := []struct {
		name  string
		stage component.DecodeStage
		msg   []byte
		at    time.Time
		want  []string // the refusals accepted; none when accepted as fabrikam
	}{
		{"old and new, both valid", deployed, sign(old, next), now, nil},
		{"old expired, then new", deployed, sign(old, next), expired, nil},
		{"new, then old expired", deployed, sign(next, old), expired, nil},
		{"old, then new not deployed here", notYet, sign(old, next), now, nil},
		{"new not deployed here, then old", notYet, sign(next, old), now, nil},
		{"old expired, new not deployed here", notYet, sign(old, next), expired, []string{expiredErr(old),
			fmt.Sprintf(`smime: the signer "CN=Fabrikam 2027" (issuer "CN=bizpipe test CA", serial %s) is party "fabrikam"'s signing certificate %s, which other-people store "srv2_other_people" does not hold: add it there`,
				next.Cert.SerialNumber.Text(16), absent("fabrikam", next).Thumbprint)}},
		{"old, then a stranger", deployed, sign(old, stranger), now, []string{
			fmt.Sprintf(`smime: the signer "CN=Not a party" (issuer "CN=bizpipe test CA", serial %s) is not a signing certificate of any party`, stranger.Cert.SerialNumber.Text(16))}},
		{"another party's expired, then new", deployed, sign(other, next), expired, []string{expiredErr(other)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			d, err := tt.stage.Decode(t.Context(), component.Header{}, bytes.NewReader(tt.msg), &out, tt.at)
			if tt.want == nil {
				if err != nil || d.Party != "fabrikam" || !bytes.Contains(out.Bytes(), []byte("ISA*00*rollover")) {
					t.Errorf("party %q, %v, decoded %q; want fabrikam's payload", d.Party, err, out.Bytes())
				}
				return
			}
			if err == nil || !slices.Contains(tt.want, err.Error()) {
				t.Errorf("Decode error\n  %v\nwant one of\n  %s", err, strings.Join(tt.want, "\n  "))
			}
			if !errors.Is(err, component.ErrAuthenticationFailed) {
				t.Errorf("Decode error %v is not an authentication failure", err)
			}
		})
	}
}

// rolloverCerts is a test PKI with a party's certificates during its
// rollover: old, valid from two days before now for an hour more, next,
// and a stranger's, each with a key of its own.
func rolloverCerts(t *testing.T) (p *testPKI, now time.Time, old, next, stranger *testpki.Cert) {
	t.Helper()
	p = newPKI(t)
	now = time.Now()
	old = p.ca.Issue(t, testpki.Options{CommonName: "Fabrikam 2026", Key: keys.Key(t, testpki.RSA2048, 3),
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(time.Hour)})
	next = p.ca.Issue(t, testpki.Options{CommonName: "Fabrikam 2027", Key: keys.Key(t, testpki.RSA2048, 4)})
	stranger = p.ca.Issue(t, testpki.Options{CommonName: "Not a party", Key: keys.Key(t, testpki.RSA2048, 5)})
	return p, now, old, next, stranger
}
