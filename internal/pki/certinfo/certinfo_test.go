package certinfo_test

import (
	"crypto"
	//lint:ignore SA1019 a DSA key, which certificates still have, is named
	"crypto/dsa"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/pki/certinfo"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestSigningKeyError: the keys the smime stage signs with, and pkcs7
// verifies, pass; any other is refused with its kind named.
func TestSigningKeyError(t *testing.T) {
	t.Parallel()
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string // "" means usable
	}{
		{"RSA 2048", testpki.GenerateKey(t, testpki.RSA2048).Public(), ""},
		{"RSA 1024, the smallest crypto/rsa uses", testpki.GenerateKey(t, testpki.RSA1024).Public(), ""},
		{"RSA 512", testpki.GenerateKey(t, testpki.RSA512).Public(), "512-bit RSA key, under the 1024 bits"},
		{"RSA with an even public exponent", &rsa.PublicKey{N: testpki.GenerateKey(t, testpki.RSA2048).Public().(*rsa.PublicKey).N, E: 65536}, "even public exponent 65536"},
		{"ECDSA P-256", testpki.GenerateKey(t, testpki.ECDSAP256).Public(), ""},
		{"Ed25519", testpki.GenerateKey(t, testpki.Ed25519).Public(), "Ed25519 key is not supported"},
		{"algorithm crypto/x509 does not parse", nil, "does not implement"},
		// Named in words, not by Go type (*dsa.PublicKey).
		{"DSA", &dsa.PublicKey{}, "a DSA key is not supported"},
		{"X25519", x25519.PublicKey(), "an X25519 key is not supported"},
		{"key of a type no parser returns", struct{ N int }{}, "a key of this algorithm is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := certinfo.SigningKeyError(tt.pub)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("SigningKeyError = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("SigningKeyError = %v, want it to contain %q", err, tt.want)
			case err != nil && strings.ContainsAny(err.Error(), "*{}"):
				t.Errorf("SigningKeyError = %v: names a Go type", err)
			}
		})
	}
}

// TestPublicKey: a certificate's key is named with its size or curve, and
// a key crypto/x509 does not parse (RSASSA-PSS, Ed448, as OpenSSL makes
// them) by its algorithm rather than as "0", the number of
// x509.UnknownPublicKeyAlgorithm.
func TestPublicKey(t *testing.T) {
	t.Parallel()
	openssl := func(args ...string) func(t *testing.T) *x509.Certificate {
		return func(t *testing.T) *x509.Certificate {
			dir := t.TempDir()
			cert := filepath.Join(dir, "cert.pem")
			args := append(args, "-nodes", "-subj", "/CN=test", "-days", "1", "-out", cert)
			cmd := exec.Command(testpki.OpenSSL(t), args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			data, err := os.ReadFile(cert)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(data)
			if block == nil {
				t.Fatalf("openssl wrote no PEM certificate:\n%s", data)
			}
			x, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
	}
	generated := func(kt testpki.KeyType) func(t *testing.T) *x509.Certificate {
		return func(t *testing.T) *x509.Certificate {
			return testpki.SelfSigned(t, testpki.Options{CommonName: "test", KeyType: kt}).Cert
		}
	}
	tests := []struct {
		name string
		cert func(t *testing.T) *x509.Certificate
		key  string // PublicKey
		alg  string // Algorithm
	}{
		{"RSA", generated(testpki.RSA2048), "RSA 2048", "RSA"},
		{"ECDSA", generated(testpki.ECDSAP256), "ECDSA P-256", "ECDSA"},
		{"Ed25519", generated(testpki.Ed25519), "Ed25519", "Ed25519"},
		{"RSASSA-PSS", openssl("req", "-x509", "-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048", "-keyout", "key.pem"), "RSASSA-PSS", "RSASSA-PSS"},
		{"Ed448", openssl("req", "-x509", "-newkey", "ed448", "-keyout", "key.pem"), "Ed448", "Ed448"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := tt.cert(t)
			if got := certinfo.PublicKey(x); got != tt.key {
				t.Errorf("PublicKey = %q, want %q", got, tt.key)
			}
			if got := certinfo.Algorithm(x); got != tt.alg {
				t.Errorf("Algorithm = %q, want %q", got, tt.alg)
			}
		})
	}
}

// TestRSAKeyError: RSAKeyError refuses exactly the RSA keys crypto/rsa
// refuses to encrypt with (and to verify with, the other public key
// operation), whatever crypto/x509 parses, naming the defect; a key
// crypto/rsa uses passes, and so does any other key.
func TestRSAKeyError(t *testing.T) {
	t.Parallel()
	n := testpki.GenerateKey(t, testpki.RSA2048).Public().(*rsa.PublicKey).N
	evenN := new(big.Int).SetBit(new(big.Int).Set(n), 0, 0)
	var big64 uint64 = 1<<32 + 1 // a variable: the constant overflows a 32-bit int
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string // "" means crypto/rsa uses it
	}{
		{"RSA 2048, exponent 65537", testpki.GenerateKey(t, testpki.RSA2048).Public(), ""},
		{"RSA 1024, the smallest crypto/rsa uses", testpki.GenerateKey(t, testpki.RSA1024).Public(), ""},
		{"exponent 3, the smallest crypto/rsa uses", &rsa.PublicKey{N: n, E: 3}, ""},
		{"exponent 2^31-1, the largest crypto/rsa uses", &rsa.PublicKey{N: n, E: certinfo.MaxRSAExponent}, ""},
		{"RSA 512", testpki.GenerateKey(t, testpki.RSA512).Public(), "a 512-bit RSA key, under the 1024 bits crypto/rsa accepts"},
		{"even exponent", &rsa.PublicKey{N: n, E: 65536}, "an RSA key with the even public exponent 65536, which crypto/rsa refuses"},
		{"exponent 2", &rsa.PublicKey{N: n, E: 2}, "an RSA key with the even public exponent 2, which crypto/rsa refuses"},
		{"exponent 1", &rsa.PublicKey{N: n, E: 1}, "an RSA key with public exponent 1, which crypto/rsa refuses"},
		{"exponent 2^32+1, over 32 bits", &rsa.PublicKey{N: n, E: int(big64)}, "an RSA key with public exponent 4294967297, which crypto/rsa refuses"},
		{"even modulus", &rsa.PublicKey{N: evenN, E: 65537}, "an RSA key with an even modulus, which crypto/rsa refuses"},
		{"even modulus under 1024 bits: the size first, as crypto/rsa", &rsa.PublicKey{N: big.NewInt(1 << 40), E: 65537}, "a 41-bit RSA key"},
		{"ECDSA", testpki.GenerateKey(t, testpki.ECDSAP256).Public(), ""},
		{"Ed25519", testpki.GenerateKey(t, testpki.Ed25519).Public(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.name, "2^32") && strconv.IntSize == 32 {
				t.Skip("an exponent over 32 bits does not fit a 32-bit int")
			}
			err := certinfo.RSAKeyError(tt.pub)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("RSAKeyError = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("RSAKeyError = %v, want it to contain %q", err, tt.want)
			}
			k, ok := tt.pub.(*rsa.PublicKey)
			if !ok {
				return
			}
			// crypto/rsa's own verdict, in both public key operations.
			_, encErr := rsa.EncryptOAEP(sha256.New(), rand.Reader, k, []byte("content key"), nil)
			if (encErr != nil) != (err != nil) {
				t.Errorf("RSAKeyError = %v, but crypto/rsa's EncryptOAEP = %v", err, encErr)
			}
			digest := sha256.Sum256([]byte("signed"))
			verErr := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], make([]byte, (k.N.BitLen()+7)/8))
			if refused := verErr != nil && verErr != rsa.ErrVerification; refused != (err != nil) {
				t.Errorf("RSAKeyError = %v, but crypto/rsa's VerifyPKCS1v15 = %v", err, verErr)
			}
		})
	}
}

// TestRSAKeyErrorParsed: the keys refused above reach RSAKeyError through
// crypto/x509, which marshals and parses them in a certificate.
func TestRSAKeyErrorParsed(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t, "test CA")
	n := testpki.GenerateKey(t, testpki.RSA2048).Public().(*rsa.PublicKey).N
	for _, pub := range []*rsa.PublicKey{
		{N: n, E: 65536},
		{N: n, E: 1},
		{N: new(big.Int).SetBit(new(big.Int).Set(n), 0, 0), E: 65537},
	} {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
		if err != nil {
			t.Fatalf("e=%d: %v", pub.E, err)
		}
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("e=%d: %v", pub.E, err)
		}
		if certinfo.RSAKeyError(x.PublicKey) == nil {
			t.Errorf("e=%d, modulus odd %t: RSAKeyError of the parsed certificate's key = nil", pub.E, pub.N.Bit(0) == 1)
		}
	}
}

// TestCriticalExtensionError: a critical extension crypto/x509 does not
// handle is named; one it handles, or a non-critical unknown one, is not
// refused, and SignerError refuses what it refuses.
func TestCriticalExtensionError(t *testing.T) {
	t.Parallel()
	unknown := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}
	key := testpki.GenerateKey(t, testpki.ECDSAP256)
	tests := []struct {
		name string
		ext  []pkix.Extension
		want string
	}{
		{"none", nil, ""},
		{"unknown, not critical", []pkix.Extension{{Id: unknown, Value: []byte{5, 0}}}, ""},
		{"unknown, critical", []pkix.Extension{{Id: unknown, Critical: true, Value: []byte{5, 0}}}, "unhandled critical extension 1.3.6.1.4.1.55555.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := testpki.SelfSigned(t, testpki.Options{CommonName: "test", Key: key, ExtraExtensions: tt.ext}).Cert
			for fn, err := range map[string]error{"CriticalExtensionError": certinfo.CriticalExtensionError(x), "SignerError": certinfo.SignerError(x)} {
				switch {
				case tt.want == "" && err != nil:
					t.Errorf("%s = %v, want nil", fn, err)
				case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
					t.Errorf("%s = %v, want it to contain %q", fn, err, tt.want)
				}
			}
		})
	}
}

func TestWithArticle(t *testing.T) {
	for name, want := range map[string]string{
		"ECDSA":                   "an ECDSA",
		"Ed25519":                 "an Ed25519",
		"RSA":                     "an RSA",
		"RSASSA-PSS":              "an RSASSA-PSS",
		"X25519":                  "an X25519",
		"DSA":                     "a DSA",
		"DH":                      "a DH",
		"unknown algorithm 1.2.3": "an unknown algorithm 1.2.3",
		"":                        "",
	} {
		if got := certinfo.WithArticle(name); got != want {
			t.Errorf("WithArticle(%q) = %q, want %q", name, got, want)
		}
	}
}
