package certinfo_test

import (
	"crypto"
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
