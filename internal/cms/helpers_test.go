package cms

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/ber"
)

var allAlgorithms = []Algorithm{AES128CBC, AES256CBC, AES128GCM, AES256GCM, DES3CBC}

// recipient is a test key pair with a self-signed certificate.
type recipient struct {
	name string
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

var (
	recipientsMu    sync.Mutex
	recipientsCache = map[string]*recipient{}
)

// testRecipient returns a cached RSA-2048 recipient for name (generated on
// first use; key generation is the slowest part of the tests).
func testRecipient(t testing.TB, name string) *recipient {
	t.Helper()
	recipientsMu.Lock()
	defer recipientsMu.Unlock()
	if r, ok := recipientsCache[name]; ok {
		return r
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	ski := sha1.Sum(x509.MarshalPKCS1PublicKey(&key.PublicKey))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   name + " partner",
			Organization: []string{"bizpipe test"},
			Country:      []string{"NL"},
		},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		SubjectKeyId: ski[:],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	r := &recipient{name: name, cert: cert, key: key}
	recipientsCache[name] = r
	return r
}

// writePEMs writes the recipient's certificate and PKCS #8 key to dir and
// returns their paths.
func (r *recipient) writePEMs(t testing.TB, dir string) (certPath, keyPath string) {
	t.Helper()
	certPath = filepath.Join(dir, r.name+".crt.pem")
	keyPath = filepath.Join(dir, r.name+".key.pem")
	k, err := x509.MarshalPKCS8PrivateKey(r.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// namedBody is a test message body.
type namedBody struct {
	name string
	data []byte
}

func testBodies(withLarge bool) []namedBody {
	var all []byte
	for i := 0; i < 256; i++ {
		all = append(all, byte(i))
	}
	all = append(all, "\r\n\x00\r\r\n\n\x00\x00line\nline\r\n\xff"...)
	bodies := []namedBody{
		{"allbytes", all},
		{"empty", []byte{}},
		{"oneblock", []byte("0123456789abcdef")}, // exactly one AES block, two DES blocks
		{"lf-text", []byte("hello\nworld\n")},
		{"odd17", []byte("0123456789abcdef\n")},
	}
	if withLarge {
		big := make([]byte, 1<<20+3)
		r := mrand.NewChaCha8([32]byte{1, 2, 3})
		_, _ = r.Read(big)
		bodies = append(bodies, namedBody{"1MiB+3", big})
	}
	return bodies
}

// openssl returns the path of the openssl binary or fails the test: the
// interop tests are required, not optional.
func openssl(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl binary not found (%v); the CMS interop tests require it", err)
	}
	return p
}

// runOpenSSL runs openssl with args and fails the test on error.
func runOpenSSL(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := tryOpenSSL(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tryOpenSSL(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(openssl(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &opensslError{args: args, err: err, stderr: stderr.String()}
	}
	return stdout.Bytes(), nil
}

type opensslError struct {
	args   []string
	err    error
	stderr string
}

func (e *opensslError) Error() string {
	return "openssl " + joinArgs(e.args) + ": " + e.err.Error() + "\n" + e.stderr
}

func joinArgs(a []string) string {
	var b bytes.Buffer
	for i, s := range a {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return b.String()
}

// toBER rewrites a DER encoding into an equivalent BER one the way a
// streaming encoder would: every constructed element gets an indefinite
// length, and every OCTET STRING and primitive [0] (encryptedContent,
// subjectKeyIdentifier) becomes a constructed, indefinite-length string of
// chunk-sized segments.
func toBER(t testing.TB, der []byte, chunk int) []byte {
	t.Helper()
	var out []byte
	for len(der) > 0 {
		e, rest, err := parseElement(der, 0)
		if err != nil {
			t.Fatalf("toBER: %v", err)
		}
		id := e.raw[:headerIDLen(e.raw)]
		switch {
		case e.constructed:
			out = append(out, id...)
			out = append(out, 0x80)
			out = append(out, toBER(t, e.body, chunk)...)
			out = append(out, 0, 0)
		case e.is(classUniversal, tagOctetString) || e.is(classContext, 0):
			out = append(out, id[0]|0x20, 0x80)
			for b := e.body; len(b) > 0; {
				n := min(chunk, len(b))
				out = append(out, tlv(0x04, b[:n])...)
				b = b[n:]
			}
			out = append(out, 0, 0)
		default:
			out = append(out, e.raw...)
		}
		der = rest
	}
	return out
}

// lyingDecrypter claims the public key of one certificate but decrypts with
// another private key: it gets past Decrypt's key/certificate check and so
// exercises the cryptographic failure paths.
type lyingDecrypter struct {
	pub crypto.PublicKey
	key *rsa.PrivateKey
}

func (d lyingDecrypter) Public() crypto.PublicKey { return d.pub }
func (d lyingDecrypter) Decrypt(r io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return d.key.Decrypt(r, msg, opts)
}

func (a Algorithm) specMust() *cipherSpec {
	s, ok := a.spec()
	if !ok {
		panic("envelope: invalid algorithm " + a.String())
	}
	return s
}

// headerIDLen returns the length of the identifier octets of a valid encoding.
func headerIDLen(b []byte) int {
	h, err := ber.ParseHeader(b)
	if err != nil {
		panic(err)
	}
	return h.IDLen
}
