package rules_test

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// TestSigningNetscapeCertType: a signing certificate whose legacy Netscape
// certificate type (nsCertType, which crypto/x509 ignores) allows neither
// S/MIME nor SSL client makes signatures OpenSSL's cms -verify refuses
// ("unsuitable certificate purpose"), as an extended key usage without
// emailProtection does: validate warns of it the same way (BP3005). Each
// case first asks OpenSSL for its verdict, so that the expectation is
// OpenSSL's and not this test's.
func TestSigningNetscapeCertType(t *testing.T) {
	t.Parallel()
	openssl := testpki.OpenSSL(t)
	p := newPKI(t)
	// Bits in ASN.1 order: 0 SSL client, 1 SSL server, 2 S/MIME, 3 object signing.
	bitString := func(bits ...int) []byte {
		b := asn1.BitString{Bytes: []byte{0}, BitLength: 8}
		for _, i := range bits {
			b.Bytes[0] |= 0x80 >> i
		}
		der, err := asn1.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	oid := asn1.ObjectIdentifier{2, 16, 840, 1, 113730, 1, 1}
	cases := []struct {
		name string
		bits []int
		// refused is OpenSSL's verdict on the smimesign purpose.
		refused bool
		allows  string
	}{
		{"sign-ns-server", []int{1}, true, "it allows server"},
		{"sign-ns-objsign", []int{3}, true, "it allows objsign"},
		{"sign-ns-none", nil, true, "it allows no type"},
		{"sign-ns-email", []int{2}, false, ""},
		{"sign-ns-client", []int{0}, false, ""},
		{"sign-ns-server-email", []int{1, 2}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := p.with(t)
			c := testpki.SelfSigned(t, testpki.Options{CommonName: "test " + tc.name,
				Key:             p.keys.Key(t, testpki.RSA2048, keySignAlt),
				ExtraExtensions: []pkix.Extension{{Id: oid, Value: bitString(tc.bits...)}}})
			p.certs[tc.name] = c

			pem := testpki.WriteFile(t, t.TempDir(), "sign.pem", c.CertPEM())
			out, err := exec.Command(openssl, "verify", "-purpose", "smimesign", "-partial_chain", "-trusted", pem, pem).CombinedOutput()
			if refused := err != nil; refused != tc.refused {
				t.Fatalf("fixture: openssl verify -purpose smimesign refused=%t, want %t:\n%s", refused, tc.refused, out)
			}

			s := newScene(t, p)
			s.certKey("personal", "sign.pem", tc.name)
			s.der("other", "partner.cer", "partner")
			s.write(topo{Sign: `"{{tp "` + tc.name + `"}}"`}.hcl())
			cfg, loadDiags := s.loadChecked()
			_, diags := rules.Check(cfg, rules.Options{Now: p.now})
			var want []finding
			if tc.refused {
				want = []finding{{diag.CodeSignCertUsage, warningSev, "sign", `"{{tp "` + tc.name + `"}}"`, "",
					list(`group "contoso"`, `{{TP "`+tc.name+`"}}`, filepath.Join("stores", "personal", "sign.pem"), "nsCertType", tc.allows, "unsuitable certificate purpose")}}
			}
			s.expect(append(loadDiags, diags...), want)
		})
	}
}
