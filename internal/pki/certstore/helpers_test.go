package certstore

import (
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

// keys is shared by the package's tests so that few RSA keys are generated.
var keys = testpki.NewKeys()

// fixtures are the certificates the table tests put into stores, identified
// in expectations by their common names.
type fixtures struct {
	ca, rsaLeaf, ecLeaf, edLeaf, other *testpki.Cert
}

func newFixtures(t *testing.T) *fixtures {
	ca := testpki.NewCA(t, "Test CA")
	return &fixtures{
		ca:      ca,
		rsaLeaf: ca.Issue(t, testpki.Options{CommonName: "rsa leaf", Key: keys.Key(t, testpki.RSA2048, 0)}),
		ecLeaf:  ca.Issue(t, testpki.Options{CommonName: "ec leaf", KeyType: testpki.ECDSAP256}),
		edLeaf:  testpki.SelfSigned(t, testpki.Options{CommonName: "ed leaf", KeyType: testpki.Ed25519}),
		other:   testpki.SelfSigned(t, testpki.Options{CommonName: "other", KeyType: testpki.ECDSAP256}),
	}
}

type wantCert struct {
	cn      string // subject common name
	file    string // base name of the file it is listed from
	keyFile string // base name of its key's file; "" = no key
}

type wantProblem struct {
	file     string
	kind     ProblemKind
	contains string
}

// want is the complete expected content of a store: every list is compared
// exactly, so unexpected certificates, problems or notes fail the test.
type want struct {
	certs       []wantCert
	files       map[string]FileKind
	unencrypted []string
	problems    []wantProblem
	notes       []string // substrings, one per note, in order
	unopened    []string
}

func checkStore(t *testing.T, dir string, s *Store, w want) {
	t.Helper()
	if s.Dir != dir {
		t.Errorf("Dir = %q, want %q", s.Dir, dir)
	}

	var gotCerts []wantCert
	for _, c := range s.Certificates {
		g := wantCert{cn: c.Cert.Subject.CommonName, file: filepath.Base(c.File)}
		if c.Key != nil {
			g.keyFile = filepath.Base(c.Key.File)
			if !c.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(c.Cert.PublicKey) {
				t.Errorf("certificate %q got a key that does not match it", g.cn)
			}
		}
		gotCerts = append(gotCerts, g)
		s1, s256 := sha1.Sum(c.Cert.Raw), sha256.Sum256(c.Cert.Raw)
		if c.SHA1 != hex.EncodeToString(s1[:]) || c.SHA256 != hex.EncodeToString(s256[:]) {
			t.Errorf("certificate %q: thumbprints %s %s do not hash its DER", g.cn, c.SHA1, c.SHA256)
		}
	}
	if !slices.Equal(gotCerts, w.certs) {
		t.Errorf("certificates:\n got %+v\nwant %+v", gotCerts, w.certs)
	}

	gotFiles := map[string]FileKind{}
	var gotUnenc []string
	for _, f := range s.Files {
		if filepath.Dir(f.Path) != dir {
			t.Errorf("file path %q is not in %q", f.Path, dir)
		}
		gotFiles[filepath.Base(f.Path)] = f.Kind
		if f.HasUnencryptedKey {
			gotUnenc = append(gotUnenc, filepath.Base(f.Path))
		}
	}
	if w.files == nil {
		w.files = map[string]FileKind{}
	}
	if !mapsEqual(gotFiles, w.files) {
		t.Errorf("files:\n got %v\nwant %v", gotFiles, w.files)
	}
	if !slices.Equal(gotUnenc, w.unencrypted) {
		t.Errorf("files with unencrypted keys: got %v, want %v", gotUnenc, w.unencrypted)
	}

	if len(s.Problems) != len(w.problems) {
		t.Errorf("got %d problems, want %d:", len(s.Problems), len(w.problems))
		for _, p := range s.Problems {
			t.Errorf("  %v: %v", p.Kind, p)
		}
	} else {
		for i, p := range s.Problems {
			wp := w.problems[i]
			if filepath.Base(p.File) != wp.file || p.Kind != wp.kind || !strings.Contains(p.Error(), wp.contains) {
				t.Errorf("problem %d = %v %q, want %v in %s containing %q", i, p.Kind, p.Error(), wp.kind, wp.file, wp.contains)
			}
			if !strings.HasPrefix(p.Error(), filepath.Join(dir, wp.file)+": ") {
				t.Errorf("problem %q does not start with the file's path", p.Error())
			}
		}
	}

	if len(s.Notes) != len(w.notes) {
		t.Errorf("notes:\n got %q\nwant %q", s.Notes, w.notes)
	} else {
		for i, n := range s.Notes {
			if !strings.Contains(n, w.notes[i]) || !strings.HasPrefix(n, dir+string(filepath.Separator)) {
				t.Errorf("note %d = %q, want a note naming a file in the store containing %q", i, n, w.notes[i])
			}
		}
	}

	var gotUnopened []string
	for _, p := range s.UnopenedPKCS12 {
		gotUnopened = append(gotUnopened, filepath.Base(p))
	}
	if !slices.Equal(gotUnopened, w.unopened) {
		t.Errorf("unopened PKCS#12: got %v, want %v", gotUnopened, w.unopened)
	}
}

func mapsEqual[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func join(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// runOpenSSL runs the real openssl binary, failing the test when it is
// missing or fails.
func runOpenSSL(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(testpki.OpenSSL(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// scratch writes a certificate's PEM and key into a directory outside the
// store, for openssl to read.
func scratch(t *testing.T, c *testpki.Cert) (certPath, keyPath string) {
	t.Helper()
	d := t.TempDir()
	return testpki.WriteFile(t, d, "cert.pem", c.CertPEM()), testpki.WriteFile(t, d, "key.pem", c.KeyPEM())
}

func mustLoad(t *testing.T, dir string, pw Password) *Store {
	t.Helper()
	s, err := Load(dir, pw)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	return s
}
