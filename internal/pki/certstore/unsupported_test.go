package certstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnsupportedKeyAlgorithm: a private key of an algorithm crypto/x509
// does not parse is named in words, with the keys bizpipe uses, in every
// form a store reads it (a PKCS#12 file with or without an integrity
// check, its key bag shrouded or not; PEM and DER PKCS#8), instead of
// x509's "unknown algorithm" and an object identifier.
func TestUnsupportedKeyAlgorithm(t *testing.T) {
	t.Parallel()
	gen := t.TempDir()
	dsaParams := filepath.Join(gen, "dsa-params.pem")
	runOpenSSL(t, "genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:1024", "-out", dsaParams)
	keys := []struct {
		name string
		gen  []string // openssl genpkey options
		want string
	}{
		{"dsa", []string{"-paramfile", dsaParams}, "a DSA private key"},
		{"pss", []string{"-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"}, "an RSASSA-PSS private key"},
		{"ed448", []string{"-algorithm", "ED448"}, "an Ed448 private key"},
		{"x448", []string{"-algorithm", "X448"}, "an X448 private key"},
	}
	forms := []struct {
		name string
		make func(t *testing.T, key, dir string)
	}{
		{"PKCS#12", func(t *testing.T, key, dir string) {
			runOpenSSL(t, "pkcs12", "-export", "-nocerts", "-inkey", key, "-passout", "pass:pw", "-out", filepath.Join(dir, "id.p12"))
		}},
		{"PKCS#12 key bag not shrouded", func(t *testing.T, key, dir string) {
			runOpenSSL(t, "pkcs12", "-export", "-nocerts", "-inkey", key, "-keypbe", "NONE", "-passout", "pass:pw", "-out", filepath.Join(dir, "id.p12"))
		}},
		{"PKCS#12 without MAC", func(t *testing.T, key, dir string) {
			runOpenSSL(t, "pkcs12", "-export", "-nocerts", "-inkey", key, "-nomac", "-passout", "pass:pw", "-out", filepath.Join(dir, "id.p12"))
		}},
		{"PEM PKCS#8", func(t *testing.T, key, dir string) {
			runOpenSSL(t, "pkey", "-in", key, "-out", filepath.Join(dir, "id.key"))
		}},
		{"DER PKCS#8", func(t *testing.T, key, dir string) {
			// pkcs8, as pkey writes a DSA key in OpenSSL's own format.
			runOpenSSL(t, "pkcs8", "-topk8", "-nocrypt", "-in", key, "-outform", "DER", "-out", filepath.Join(dir, "id.der"))
		}},
	}
	for _, k := range keys {
		key := filepath.Join(gen, k.name+".pem")
		runOpenSSL(t, append([]string{"genpkey", "-out", key}, k.gen...)...)
		for _, f := range forms {
			t.Run(k.name+" "+f.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				f.make(t, key, dir)
				s := mustLoad(t, dir, KnownPassword("pw"))
				if len(s.Problems) != 1 {
					t.Fatalf("problems %v, want one", s.Problems)
				}
				msg := s.Problems[0].Err.Error()
				if s.Problems[0].Kind != ProblemParse || !strings.Contains(msg, k.want+", which bizpipe does not support") ||
					!strings.Contains(msg, "RSA keys, and ECDSA keys") || strings.Contains(msg, "unknown algorithm") {
					t.Errorf("problem %v %q, want a parse problem naming %q and the keys bizpipe uses", s.Problems[0].Kind, msg, k.want)
				}
				if fi, err := os.ReadDir(dir); err != nil || len(fi) != 1 {
					t.Fatalf("store holds %v (%v), want one file", fi, err)
				}
			})
		}
	}
}
