package testpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// keys keeps this package's RSA-2048 key generations to a minimum.
var keys = NewKeys()

func runOpenSSL(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(OpenSSL(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestDefaults(t *testing.T) {
	before := time.Now().Add(-time.Hour).Add(-time.Second)
	c := SelfSigned(t, Options{CommonName: "leaf", Email: "leaf@example.com", Key: keys.Key(t, RSA2048, 0)})
	after := time.Now()

	if c.Cert.Subject.CommonName != "leaf" {
		t.Errorf("CN = %q", c.Cert.Subject.CommonName)
	}
	if got := c.Cert.EmailAddresses; len(got) != 1 || got[0] != "leaf@example.com" {
		t.Errorf("EmailAddresses = %v", got)
	}
	if c.Cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Errorf("KeyUsage = %b", c.Cert.KeyUsage)
	}
	if got := c.Cert.ExtKeyUsage; len(got) != 1 || got[0] != x509.ExtKeyUsageEmailProtection {
		t.Errorf("ExtKeyUsage = %v", got)
	}
	if c.Cert.IsCA {
		t.Error("leaf is a CA")
	}
	if c.Cert.NotBefore.Before(before) || c.Cert.NotBefore.After(after) {
		t.Errorf("NotBefore = %v, want about an hour ago", c.Cert.NotBefore)
	}
	if d := c.Cert.NotAfter.Sub(c.Cert.NotBefore); d != LeafValidity {
		t.Errorf("validity = %v, want %v", d, LeafValidity)
	}
	if !bytes.Equal(c.DER, c.Cert.Raw) {
		t.Error("DER differs from Cert.Raw")
	}
	if c.Issuer != nil {
		t.Error("self-signed certificate has an Issuer")
	}
	if err := c.Cert.CheckSignature(c.Cert.SignatureAlgorithm, c.Cert.RawTBSCertificate, c.Cert.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if !c.Key.Public().(*rsa.PublicKey).Equal(c.Cert.PublicKey) {
		t.Error("Key does not match the certificate")
	}

	ca := NewCA(t, "Test CA")
	if !ca.Cert.IsCA || ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 || len(ca.Cert.ExtKeyUsage) != 0 {
		t.Errorf("CA: IsCA=%v KeyUsage=%b EKU=%v", ca.Cert.IsCA, ca.Cert.KeyUsage, ca.Cert.ExtKeyUsage)
	}
	if d := ca.Cert.NotAfter.Sub(ca.Cert.NotBefore); d != CAValidity {
		t.Errorf("CA validity = %v, want %v", d, CAValidity)
	}
	if _, ok := ca.Key.(*ecdsa.PrivateKey); !ok {
		t.Errorf("CA key is %T, want ECDSA", ca.Key)
	}
}

func TestOptions(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, c *x509.Certificate)
	}{
		{"expired", Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)},
			func(t *testing.T, c *x509.Certificate) {
				if !c.NotBefore.Equal(now.Add(-48*time.Hour)) || !c.NotAfter.Equal(now.Add(-24*time.Hour)) {
					t.Errorf("validity %v..%v", c.NotBefore, c.NotAfter)
				}
			}},
		{"expired with only NotAfter", Options{NotAfter: now.Add(-24 * time.Hour)},
			func(t *testing.T, c *x509.Certificate) {
				if !c.NotAfter.Equal(now.Add(-24*time.Hour)) || !c.NotBefore.Before(c.NotAfter) {
					t.Errorf("validity %v..%v", c.NotBefore, c.NotAfter)
				}
			}},
		{"not yet valid with only NotBefore", Options{NotBefore: now.Add(24 * time.Hour)},
			func(t *testing.T, c *x509.Certificate) {
				if !c.NotBefore.Equal(now.Add(24*time.Hour)) || c.NotAfter.Sub(c.NotBefore) != LeafValidity {
					t.Errorf("validity %v..%v", c.NotBefore, c.NotAfter)
				}
			}},
		{"custom key usage", Options{KeyUsage: x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
			func(t *testing.T, c *x509.Certificate) {
				if c.KeyUsage != x509.KeyUsageKeyEncipherment {
					t.Errorf("KeyUsage = %b", c.KeyUsage)
				}
				if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
					t.Errorf("ExtKeyUsage = %v", c.ExtKeyUsage)
				}
			}},
		{"no usage extensions", Options{OmitKeyUsage: true, OmitExtKeyUsage: true},
			func(t *testing.T, c *x509.Certificate) {
				if c.KeyUsage != 0 || len(c.ExtKeyUsage) != 0 {
					t.Errorf("KeyUsage = %b, ExtKeyUsage = %v", c.KeyUsage, c.ExtKeyUsage)
				}
				for _, e := range c.Extensions {
					if e.Id.String() == "2.5.29.15" || e.Id.String() == "2.5.29.37" {
						t.Errorf("extension %v present", e.Id)
					}
				}
			}},
		{"serial number", Options{SerialNumber: big.NewInt(4242)},
			func(t *testing.T, c *x509.Certificate) {
				if c.SerialNumber.Int64() != 4242 {
					t.Errorf("serial = %v", c.SerialNumber)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.CommonName = tt.name
			tt.opts.KeyType = ECDSAP256
			tt.check(t, SelfSigned(t, tt.opts).Cert)
		})
	}
}

func TestKeyTypes(t *testing.T) {
	tests := []struct {
		kt    KeyType
		check func(pub crypto.PublicKey) bool
	}{
		{RSA1024, func(p crypto.PublicKey) bool { k, ok := p.(*rsa.PublicKey); return ok && k.N.BitLen() == 1024 }},
		{RSA512, func(p crypto.PublicKey) bool { k, ok := p.(*rsa.PublicKey); return ok && k.N.BitLen() == 512 }},
		{ECDSAP256, func(p crypto.PublicKey) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P256() }},
		{ECDSAP384, func(p crypto.PublicKey) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P384() }},
		{Ed25519, func(p crypto.PublicKey) bool { _, ok := p.(ed25519.PublicKey); return ok }},
	}
	for _, tt := range tests {
		t.Run(string(tt.kt), func(t *testing.T) {
			c := SelfSigned(t, Options{CommonName: string(tt.kt), KeyType: tt.kt})
			if !tt.check(c.Cert.PublicKey) {
				t.Errorf("public key %T does not have type %s", c.Cert.PublicKey, tt.kt)
			}
		})
	}
	if _, err := generateKey("dsa1024"); err == nil || !strings.Contains(err.Error(), `"dsa1024"`) {
		t.Errorf("unknown key type: err = %v", err)
	}
}

func TestIssueVerifiesWithOpenSSL(t *testing.T) {
	dir := t.TempDir()
	ca := NewCA(t, "Test CA")
	leaf := ca.Issue(t, Options{CommonName: "partner", Email: "p@example.com", KeyType: ECDSAP256})
	if leaf.Issuer != ca {
		t.Error("Issuer not recorded")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}); err != nil {
		t.Fatalf("Go does not verify the leaf: %v", err)
	}
	caPath := WriteFile(t, dir, "ca.pem", ca.CertPEM())
	leafPath := WriteFile(t, dir, "leaf.pem", leaf.CertPEM())
	out := runOpenSSL(t, "verify", "-purpose", "smimesign", "-CAfile", caPath, leafPath)
	if !strings.Contains(string(out), ": OK") {
		t.Errorf("openssl verify: %s", out)
	}

	// A certificate signed by another CA must not verify: proves the check
	// above looks at the issuer.
	other := NewCA(t, "Other CA")
	otherPath := WriteFile(t, dir, "other.pem", other.CertPEM())
	if out, err := exec.Command(OpenSSL(t), "verify", "-CAfile", otherPath, leafPath).CombinedOutput(); err == nil {
		t.Errorf("openssl verified the leaf against the wrong CA: %s", out)
	}
}

func TestThumbprintsMatchOpenSSL(t *testing.T) {
	c := SelfSigned(t, Options{CommonName: "tp", KeyType: ECDSAP256})
	path := WriteFile(t, t.TempDir(), "c.pem", c.CertPEM())
	for alg, got := range map[string]string{"-sha1": c.SHA1(), "-sha256": c.SHA256()} {
		out := runOpenSSL(t, "x509", "-in", path, "-noout", "-fingerprint", alg)
		_, fp, _ := strings.Cut(strings.TrimSpace(string(out)), "=")
		want := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
		if got != want {
			t.Errorf("%s: got %s, openssl says %s", alg, got, want)
		}
	}
}

// TestKeyEncodings checks every key encoding with openssl: the key must load
// and its public half must equal the certificate's.
func TestKeyEncodings(t *testing.T) {
	rsaCert := SelfSigned(t, Options{CommonName: "rsa", Key: keys.Key(t, RSA2048, 0)})
	ecCert := SelfSigned(t, Options{CommonName: "ec", KeyType: ECDSAP256})
	edCert := SelfSigned(t, Options{CommonName: "ed", KeyType: Ed25519})
	tests := []struct {
		name    string
		cert    *Cert
		keyPEM  []byte
		pemType string
	}{
		{"rsa pkcs8", rsaCert, rsaCert.KeyPEM(), "PRIVATE KEY"},
		{"rsa pkcs1", rsaCert, rsaCert.KeyPKCS1PEM(t), "RSA PRIVATE KEY"},
		{"ec pkcs8", ecCert, ecCert.KeyPEM(), "PRIVATE KEY"},
		{"ec sec1", ecCert, ecCert.KeySEC1PEM(t), "EC PRIVATE KEY"},
		{"ed25519 pkcs8", edCert, edCert.KeyPEM(), "PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block, rest := pem.Decode(tt.keyPEM)
			if block == nil || block.Type != tt.pemType || len(bytes.TrimSpace(rest)) != 0 {
				t.Fatalf("want one %q block, got %v", tt.pemType, block)
			}
			dir := t.TempDir()
			keyPath := WriteFile(t, dir, "key.pem", tt.keyPEM)
			certPath := WriteFile(t, dir, "cert.pem", tt.cert.CertPEM())
			fromKey := runOpenSSL(t, "pkey", "-in", keyPath, "-pubout")
			fromCert := runOpenSSL(t, "x509", "-in", certPath, "-noout", "-pubkey")
			if !bytes.Equal(fromKey, fromCert) {
				t.Errorf("key's public key\n%s\ndiffers from certificate's\n%s", fromKey, fromCert)
			}
		})
	}
}

// TestPKCS12ReadByOpenSSL reads each PKCS#12 flavour back with openssl and
// checks the certificates and key it holds.
func TestPKCS12ReadByOpenSSL(t *testing.T) {
	ca := NewCA(t, "p12 CA")
	leaf := ca.Issue(t, Options{CommonName: "p12 leaf", Key: keys.Key(t, RSA2048, 0)})
	tests := []struct {
		name       string
		data       []byte
		opensslArg []string
		wantCerts  int
	}{
		{"modern", leaf.PKCS12(t, "s3cret", false), nil, 1},
		{"modern with chain", leaf.PKCS12(t, "s3cret", false, ca), nil, 2},
		// OpenSSL 3 needs -legacy to read RC2.
		{"legacy RC2", leaf.PKCS12(t, "s3cret", true), []string{"-legacy"}, 1},
		{"legacy DES", leaf.PKCS12With(t, pkcs12.LegacyDES, "s3cret"), nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := WriteFile(t, t.TempDir(), "f.p12", tt.data)
			args := append([]string{"pkcs12", "-in", path, "-passin", "pass:s3cret", "-nodes"}, tt.opensslArg...)
			out := runOpenSSL(t, args...)
			var certs []*x509.Certificate
			var key any
			for rest := out; ; {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				switch b.Type {
				case "CERTIFICATE":
					c, err := x509.ParseCertificate(b.Bytes)
					if err != nil {
						t.Fatal(err)
					}
					certs = append(certs, c)
				case "PRIVATE KEY":
					k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
					if err != nil {
						t.Fatal(err)
					}
					key = k
				}
			}
			if len(certs) != tt.wantCerts {
				t.Fatalf("openssl found %d certificates, want %d", len(certs), tt.wantCerts)
			}
			if !certs[0].Equal(leaf.Cert) {
				t.Errorf("first certificate is %q, want the leaf", certs[0].Subject.CommonName)
			}
			if tt.wantCerts == 2 && !certs[1].Equal(ca.Cert) {
				t.Errorf("second certificate is %q, want the CA", certs[1].Subject.CommonName)
			}
			if k, ok := key.(*rsa.PrivateKey); !ok || !k.Equal(leaf.Key) {
				t.Errorf("openssl recovered key %T that is not the leaf's", key)
			}
			// The wrong password must fail, so the file really is encrypted.
			bad := append([]string{"pkcs12", "-in", path, "-passin", "pass:wrong", "-nodes"}, tt.opensslArg...)
			if out, err := exec.Command(OpenSSL(t), bad...).CombinedOutput(); err == nil {
				t.Errorf("openssl accepted the wrong password: %s", out)
			}
		})
	}
}

func TestKeysPool(t *testing.T) {
	p := NewKeys()
	a0 := p.Key(t, ECDSAP256, 0)
	a1 := p.Key(t, ECDSAP256, 1)
	if a0 == a1 || a0.(*ecdsa.PrivateKey).Equal(a1) {
		t.Error("different indexes gave the same key")
	}
	if p.Key(t, ECDSAP256, 0) != a0 || p.Key(t, ECDSAP256, 1) != a1 {
		t.Error("the same index gave a different key")
	}
	if p.Key(t, Ed25519, 0).Public().(ed25519.PublicKey).Equal(a0.Public()) {
		t.Error("key types share keys")
	}
	// Another pool is independent: no hidden shared state.
	if NewKeys().Key(t, ECDSAP256, 0) == a0 {
		t.Error("a new pool returned another pool's key")
	}

	var wg sync.WaitGroup
	got := make([]crypto.Signer, 16)
	for i := range got {
		wg.Go(func() { got[i] = p.Key(t, ECDSAP256, 5) })
	}
	wg.Wait()
	for _, k := range got {
		if k != got[0] {
			t.Fatal("concurrent callers got different keys for the same index")
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "store")
	path := WriteFile(t, dir, "a.pem", []byte("data"))
	if path != filepath.Join(dir, "a.pem") {
		t.Errorf("path = %q", path)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "data" {
		t.Fatalf("read back %q, %v", b, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestValidityPeriod(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := 24 * time.Hour
	tests := []struct {
		name           string
		nb, na         time.Time
		wantNB, wantNA time.Time
	}{
		{"both zero", time.Time{}, time.Time{}, now.Add(-time.Hour), now.Add(-time.Hour + d)},
		{"only NotAfter in future", time.Time{}, now.Add(2 * d), now.Add(-time.Hour), now.Add(2 * d)},
		{"only NotAfter in past", time.Time{}, now.Add(-2 * d), now.Add(-3 * d), now.Add(-2 * d)},
		{"only NotBefore", now.Add(5 * d), time.Time{}, now.Add(5 * d), now.Add(6 * d)},
		{"both", now.Add(-d), now.Add(d), now.Add(-d), now.Add(d)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nb, na := validityPeriod(now, tt.nb, tt.na, d)
			if !nb.Equal(tt.wantNB) || !na.Equal(tt.wantNA) {
				t.Errorf("got %v..%v, want %v..%v", nb, na, tt.wantNB, tt.wantNA)
			}
		})
	}
}

func TestServerTLS(t *testing.T) {
	certFile, keyFile, c := ServerTLS(t)
	if err := c.Cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("not a certificate for 127.0.0.1: %v", err)
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Errorf("the files do not make a TLS key pair: %v", err)
	}
	if len(c.Cert.ExtKeyUsage) != 1 || c.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("extended key usage %v, want serverAuth", c.Cert.ExtKeyUsage)
	}
}
