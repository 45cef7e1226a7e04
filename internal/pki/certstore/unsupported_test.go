package certstore

import (
	"os"
	"path/filepath"
	"slices"
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

// TestUnsupportedKeyKeepsCertificates: a PKCS#12 file whose private key
// is of an algorithm bizpipe does not support is a parse problem (BP2002)
// naming the key, but its certificates still load, as a PEM file's other
// blocks do: the rules that need only a certificate (a partner's, in an
// other-people store) find it, and one that needs the key says the key is
// missing rather than the certificate. Before, the key's problem dropped
// the whole file. The unparsed key still counts as key material no
// password protects when its bag is not encrypted.
func TestUnsupportedKeyKeepsCertificates(t *testing.T) {
	t.Parallel()
	gen := t.TempDir()
	dsaParams := filepath.Join(gen, "dsa-params.pem")
	runOpenSSL(t, "genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:1024", "-out", dsaParams)
	ca := filepath.Join(gen, "ca.pem")
	runOpenSSL(t, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", filepath.Join(gen, "ca.key"),
		"-subj", "/CN=Extra CA", "-days", "30", "-out", ca)
	keys := []struct {
		name string
		gen  []string // openssl genpkey options
		want string
	}{
		{"dsa", []string{"-paramfile", dsaParams}, "PKCS#12 private key 1: a DSA private key, which bizpipe does not support"},
		{"ed448", []string{"-algorithm", "ED448"}, "PKCS#12 private key 1: an Ed448 private key, which bizpipe does not support"},
	}
	forms := []struct {
		name    string
		opts    []string // openssl pkcs12 -export options
		exposed bool     // File.HasUnencryptedKey
	}{
		{"with MAC", nil, false},
		{"without MAC", []string{"-nomac"}, false},
		{"key bag not shrouded", []string{"-keypbe", "NONE"}, true},
	}
	for _, k := range keys {
		key := filepath.Join(gen, k.name+".pem")
		runOpenSSL(t, append([]string{"genpkey", "-out", key}, k.gen...)...)
		cert := filepath.Join(gen, k.name+"-cert.pem")
		runOpenSSL(t, "req", "-x509", "-new", "-key", key, "-subj", "/CN="+k.name, "-days", "30", "-out", cert)
		for _, f := range forms {
			t.Run(k.name+" "+f.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				runOpenSSL(t, append([]string{"pkcs12", "-export", "-inkey", key, "-in", cert, "-certfile", ca,
					"-passout", "pass:pw", "-out", filepath.Join(dir, "id.p12")}, f.opts...)...)
				s := mustLoad(t, dir, KnownPassword("pw"))
				if len(s.Problems) != 1 || s.Problems[0].Kind != ProblemParse || !strings.Contains(s.Problems[0].Err.Error(), k.want) {
					t.Fatalf("problems %v, want one parse problem %q", s.Problems, k.want)
				}
				var subjects []string
				for _, c := range s.Certificates {
					subjects = append(subjects, c.Cert.Subject.CommonName)
					if c.Key != nil {
						t.Errorf("certificate %s has a key", c.Cert.Subject)
					}
				}
				slices.Sort(subjects)
				if want := []string{"Extra CA", k.name}; !slices.Equal(subjects, want) {
					t.Errorf("certificates %v, want %v", subjects, want)
				}
				if len(s.Files) != 1 || s.Files[0].HasUnencryptedKey != f.exposed {
					t.Errorf("files %+v, want one with HasUnencryptedKey %v", s.Files, f.exposed)
				}
			})
		}
	}
}
