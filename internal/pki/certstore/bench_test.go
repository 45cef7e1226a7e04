package certstore

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

// makeStores writes n stores of about ten certificates each: PEM and DER
// certificates, an RSA signing certificate with its key, and in every fifth
// store a PKCS#12 file with a chain.
func makeStores(b *testing.B, n int) []string {
	b.Helper()
	ca := testpki.NewCA(b, "bench CA")
	signing := ca.Issue(b, testpki.Options{CommonName: "signing", Key: keys.Key(b, testpki.RSA2048, 0)})
	p12 := signing.PKCS12(b, "pw", false, ca)
	var partners []*testpki.Cert
	for i := range 8 {
		partners = append(partners, ca.Issue(b, testpki.Options{CommonName: fmt.Sprintf("partner %d", i), KeyType: testpki.ECDSAP256}))
	}
	root := b.TempDir()
	dirs := make([]string, n)
	for i := range dirs {
		dir := filepath.Join(root, fmt.Sprintf("store%03d", i))
		for j, p := range partners {
			if j%2 == 0 {
				testpki.WriteFile(b, dir, fmt.Sprintf("partner%d.pem", j), p.CertPEM())
			} else {
				testpki.WriteFile(b, dir, fmt.Sprintf("partner%d.cer", j), p.DER)
			}
		}
		testpki.WriteFile(b, dir, "signing.crt", signing.CertPEM())
		testpki.WriteFile(b, dir, "signing.key", signing.KeyPEM())
		testpki.WriteFile(b, dir, "ca.der", ca.DER)
		if i%5 == 0 {
			testpki.WriteFile(b, dir, "signing.p12", p12)
		}
		dirs[i] = dir
	}
	return dirs
}

// BenchmarkLoad200Stores loads 200 stores one after another, without a
// cache, the worst case for `bizpipe validate`.
func BenchmarkLoad200Stores(b *testing.B) {
	dirs := makeStores(b, 200)
	for b.Loop() {
		for _, d := range dirs {
			s, err := Load(d, KnownPassword("pw"))
			if err != nil || len(s.Problems) != 0 || len(s.Certificates) != 10 {
				b.Fatalf("%s: %v, problems %v, %d certificates", d, err, s.Problems, len(s.Certificates))
			}
		}
	}
}
