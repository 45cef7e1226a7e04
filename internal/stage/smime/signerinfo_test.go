package smime

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
)

// TestSignatureOIDUnsupportedDigest: a key and digest pair with no
// signature algorithm (a digest added to the table without its OID) is
// refused naming the key in words, not by a Go type (*rsa.PublicKey).
func TestSignatureOIDUnsupportedDigest(t *testing.T) {
	rk, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	md5 := digestSpec{name: "md5", micalg: "md5", hash: crypto.MD5}
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{"RSA", &rk.PublicKey, "signing with an RSA key and MD5 is not supported"},
		{"ECDSA", &ek.PublicKey, "signing with an ECDSA key and MD5 is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signatureOID(tt.pub, md5)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "PublicKey") {
				t.Errorf("signatureOID: %v, want %q and no Go type", err, tt.want)
			}
		})
	}
}
