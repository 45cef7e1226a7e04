package certinfo_test

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/pki/certinfo"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestSigningKeyError: the keys the smime stage signs with, and pkcs7
// verifies, pass; any other is refused with its kind named.
func TestSigningKeyError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string // "" means usable
	}{
		{"RSA 2048", testpki.GenerateKey(t, testpki.RSA2048).Public(), ""},
		{"RSA 1024, the smallest crypto/rsa uses", testpki.GenerateKey(t, testpki.RSA1024).Public(), ""},
		{"RSA 512", testpki.GenerateKey(t, testpki.RSA512).Public(), "512-bit RSA key, under the 1024 bits"},
		{"ECDSA P-256", testpki.GenerateKey(t, testpki.ECDSAP256).Public(), ""},
		{"Ed25519", testpki.GenerateKey(t, testpki.Ed25519).Public(), "Ed25519 key is not supported"},
		{"algorithm crypto/x509 does not parse", nil, "does not implement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := certinfo.SigningKeyError(tt.pub)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("SigningKeyError = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("SigningKeyError = %v, want it to contain %q", err, tt.want)
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
