package smime

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestDecodeSignerValidAtReceiptNotSigningTime: the party's certificate is
// judged at the time of receipt (language §10), not at the signing-time
// attribute, which is the signer's own clock: a partner whose clock lags
// behind the notBefore of the certificate it has just switched to (its
// rollover) is accepted once the certificate is valid, by the decoder
// stage and by Decode (MDNs) alike, and refused, as not yet valid, when it
// is received before then.
func TestDecodeSignerValidAtReceiptNotSigningTime(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	now := time.Now()
	// OpenSSL writes its clock's now as the signing time: before the
	// certificate's notBefore.
	next := p.ca.Issue(t, testpki.Options{CommonName: "Fabrikam 2027", Key: keys.Key(t, testpki.RSA2048, 4),
		NotBefore: now.Add(2 * time.Minute), NotAfter: now.Add(24 * time.Hour)})
	dir := t.TempDir()
	in := testpki.WriteFile(t, dir, "entity.mime", []byte("Content-Type: text/plain\r\n\r\nhello\r\n"))
	signer := []string{"-signer", testpki.WriteFile(t, dir, "next.pem", next.CertPEM()), "-inkey", testpki.WriteFile(t, dir, "next.key", next.KeyPEM())}
	sign := func(args ...string) []byte {
		return run(t, nil, ossl, append(append([]string{"cms", "-sign", "-binary", "-md", "sha256", "-in", in}, signer...), args...)...)
	}
	parties := []component.PartyCertificate{{Party: "fabrikam", Cert: next.Cert}}
	st := newDecoderStage(t, false, true, component.DecoderEnv{Keys: component.Keys{PartySigners: parties}})
	roots := p.roots.Clone()
	roots.AddCert(next.Cert)
	for _, msg := range []struct {
		name string
		data []byte
	}{{"clear", sign()}, {"opaque", sign("-nodetach")}} {
		for _, tt := range []struct {
			name string
			at   time.Time
			want string // "" when accepted
		}{
			{"received once valid", now.Add(5 * time.Minute), ""},
			{"received before notBefore", now, "x509: certificate has expired or is not yet valid"},
		} {
			t.Run(msg.name+"/"+tt.name, func(t *testing.T) {
				var out bytes.Buffer
				d, err := st.Decode(t.Context(), component.Header{}, bytes.NewReader(msg.data), &out, tt.at)
				_, derr := Decode(msg.data, DecodeOptions{Roots: roots, Parties: parties, Now: tt.at, SpoolDir: t.TempDir()})
				if tt.want == "" {
					if err != nil || d.Party != "fabrikam" {
						t.Errorf("decoder stage: party %q, %v; want fabrikam", d.Party, err)
					}
					if derr != nil {
						t.Errorf("Decode: %v", derr)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("decoder stage: %v; want %q", err, tt.want)
				}
				if derr == nil || !strings.Contains(derr.Error(), tt.want) {
					t.Errorf("Decode: %v; want %q", derr, tt.want)
				}
			})
		}
	}
}
