package as2

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestMDNSignerNameBounded: the subject and issuer of an MDN's signer,
// which whoever made the certificate chose, are quoted in the reason (kept
// in the box, repeated by the log) at most some 200 octets each, escaped
// as before, the certificate then named by its SHA-1 thumbprint; a
// certificate named at length is no longer a reason of its size.
func TestMDNSignerNameBounded(t *testing.T) {
	huge := strings.Repeat("\x1b[2Jx", 20000)
	ca := testpki.NewCA(t, huge)
	signer := ca.Issue(t, testpki.Options{CommonName: huge})
	partner := testpki.NewCA(t, "Test CA").Issue(t, testpki.Options{CommonName: "Fabrikam"})
	b, err := BuildMDN(testMDN(Processed()), BuildOptions{Signer: &smime.Signer{Cert: signer.Cert, Key: signer.Key}, Digest: SHA256, From: "FABRIKAM", To: "CONTOSO"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts VerifyOptions
		want string
	}{
		// The partner lists the CA: the signer chains to it, but is none
		// of the partner's certificates.
		{"issued by a listed CA", VerifyOptions{Trusted: []*x509.Certificate{ca.Cert}}, "which is not one of the partner's signing certificates"},
		{"no party's", VerifyOptions{Trusted: []*x509.Certificate{partner.Cert}, Partner: "fabrikam",
			Parties: []component.PartyCertificate{{Party: "fabrikam", Cert: partner.Cert}}}, "is not a signing certificate of any party"},
		{"chain", VerifyOptions{Trusted: []*x509.Certificate{partner.Cert}}, "signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Now = time.Now()
			_, err := ParseMDN(b.Entity, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseMDN: %.300v\nwant it to say %q", err, tc.want)
			}
			msg := err.Error()
			if len(msg) > 1000 || strings.Contains(msg, "\x1b") {
				t.Errorf("the reason is %d octets, escapes unescaped: %.400q", len(msg), msg)
			}
			for _, want := range []string{`"CN=\x1b[2Jx\x1b[2Jx`, `..."`, "SHA-1 thumbprint " + strings.ToUpper(signer.SHA1())} {
				if !strings.Contains(msg, want) {
					t.Errorf("ParseMDN: %.400q\nwant it to say %q", msg, want)
				}
			}
		})
	}
}
