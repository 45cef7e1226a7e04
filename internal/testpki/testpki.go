// Package testpki creates certificates, keys and PKCS#12 files for tests.
//
// Everything is generated with crypto/x509 at test time, so no test depends
// on fixture files that expire. Functions take a testing.TB and fail the test
// on error, so callers need no error handling. The package holds no global
// state: to reuse slow RSA keys across tests, create a Keys pool and pass its
// keys in Options.Key.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// KeyType names a key algorithm and size.
type KeyType string

// Key types. The zero value means RSA2048.
const (
	RSA2048   KeyType = "rsa2048"
	RSA1024   KeyType = "rsa1024"
	RSA4096   KeyType = "rsa4096"
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	Ed25519   KeyType = "ed25519"
	// RSA512 is a key crypto/rsa refuses to use (under 1024 bits), for
	// tests of what rejects it. A self-signed certificate with it is
	// signed by a throwaway ECDSA key, as crypto/rsa will not sign with
	// it either: its own signature does not verify.
	RSA512 KeyType = "rsa512"
)

// Default validity periods, used when Options leaves the dates zero.
const (
	LeafValidity = 365 * 24 * time.Hour
	CAValidity   = 10 * 365 * 24 * time.Hour
)

// Options describes a certificate to create. The zero value gives an RSA-2048
// S/MIME leaf certificate valid from an hour ago for LeafValidity.
type Options struct {
	// CommonName is the subject CN.
	CommonName string
	// Email, when set, is added as an rfc822Name subject alternative name.
	Email string
	// IPAddresses are added as iPAddress subject alternative names (a TLS
	// server's, see ServerTLS).
	IPAddresses []net.IP

	// NotBefore and NotAfter bound the validity; pass times relative to
	// time.Now() so tests do not expire. A zero NotBefore is an hour ago (or
	// earlier than NotAfter when NotAfter is in the past, so that expired
	// certificates need only NotAfter); a zero NotAfter is NotBefore plus
	// LeafValidity (CAValidity for a CA). x509 stores whole seconds.
	NotBefore, NotAfter time.Time

	// KeyType selects the key to generate; "" means RSA2048. Ignored when Key
	// is set.
	KeyType KeyType
	// Key, when set, is used instead of generating a key (see Keys).
	Key crypto.Signer

	// KeyUsage defaults to DigitalSignature|KeyEncipherment for a leaf and
	// CertSign|CRLSign|DigitalSignature for a CA. Set OmitKeyUsage for a
	// certificate without the key usage extension.
	KeyUsage     x509.KeyUsage
	OmitKeyUsage bool
	// ExtKeyUsage defaults to emailProtection for a leaf and nothing for a CA.
	// Set OmitExtKeyUsage for a leaf without the extension.
	ExtKeyUsage     []x509.ExtKeyUsage
	OmitExtKeyUsage bool

	// ExtraExtensions are added as they are, e.g. a critical extension
	// crypto/x509 does not handle.
	ExtraExtensions []pkix.Extension

	// IsCA makes the certificate a CA (basic constraints cA=true).
	IsCA bool
	// SerialNumber defaults to a random 128-bit number.
	SerialNumber *big.Int
}

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// DER is the certificate's DER encoding (the same bytes as Cert.Raw).
	DER []byte
	// Issuer is the CA that signed the certificate; nil when self-signed.
	Issuer *Cert
}

// NewCA returns a self-signed CA named cn. It uses an ECDSA P-256 key because
// generating it is instant and a CA's key type plays no part in bizpipe's
// checks; use SelfSigned with IsCA for any other CA.
func NewCA(t testing.TB, cn string) *Cert {
	t.Helper()
	return SelfSigned(t, Options{CommonName: cn, IsCA: true, KeyType: ECDSAP256})
}

// SelfSigned returns a self-signed certificate, the usual form of a BizTalk
// signing certificate in test environments.
func SelfSigned(t testing.TB, opts Options) *Cert {
	t.Helper()
	c, err := create(opts, nil)
	if err != nil {
		t.Fatalf("testpki: self-signed certificate %q: %v", opts.CommonName, err)
	}
	return c
}

// Issue returns a certificate signed by ca.
func (ca *Cert) Issue(t testing.TB, opts Options) *Cert {
	t.Helper()
	c, err := create(opts, ca)
	if err != nil {
		t.Fatalf("testpki: certificate %q issued by %q: %v", opts.CommonName, ca.Cert.Subject.CommonName, err)
	}
	return c
}

func create(opts Options, issuer *Cert) (*Cert, error) {
	key := opts.Key
	if key == nil {
		var err error
		if key, err = generateKey(opts.KeyType); err != nil {
			return nil, err
		}
	}
	serial := opts.SerialNumber
	if serial == nil {
		var err error
		if serial, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128)); err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
	}
	validity := LeafValidity
	if opts.IsCA {
		validity = CAValidity
	}
	notBefore, notAfter := validityPeriod(time.Now(), opts.NotBefore, opts.NotAfter, validity)

	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  opts.IsCA,
	}
	if opts.Email != "" {
		tmpl.EmailAddresses = []string{opts.Email}
	}
	tmpl.IPAddresses = opts.IPAddresses
	tmpl.ExtraExtensions = opts.ExtraExtensions
	switch {
	case opts.OmitKeyUsage:
	case opts.KeyUsage != 0:
		tmpl.KeyUsage = opts.KeyUsage
	case opts.IsCA:
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	default:
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	switch {
	case opts.OmitExtKeyUsage:
	case opts.ExtKeyUsage != nil:
		tmpl.ExtKeyUsage = opts.ExtKeyUsage
	case !opts.IsCA:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	}

	parent, signer := tmpl, key
	if issuer != nil {
		parent, signer = issuer.Cert, issuer.Key
	} else if k, ok := key.(*rsa.PrivateKey); ok && k.N.BitLen() < 1024 {
		var err error
		if signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse created certificate: %w", err)
	}
	return &Cert{Cert: cert, Key: key, DER: der, Issuer: issuer}, nil
}

// validityPeriod fills in zero dates (see Options).
func validityPeriod(now, notBefore, notAfter time.Time, validity time.Duration) (time.Time, time.Time) {
	if notBefore.IsZero() {
		notBefore = now.Add(-time.Hour)
		if !notAfter.IsZero() && !notAfter.After(notBefore) {
			notBefore = notAfter.Add(-validity)
		}
	}
	if notAfter.IsZero() {
		notAfter = notBefore.Add(validity)
	}
	return notBefore, notAfter
}

// GenerateKey returns a new key of type kt ("" means RSA2048).
func GenerateKey(t testing.TB, kt KeyType) crypto.Signer {
	t.Helper()
	k, err := generateKey(kt)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return k
}

func generateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case RSA2048, "":
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA1024:
		return rsa.GenerateKey(rand.Reader, 1024)
	case RSA512:
		return smallRSAKey(512)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q (want %s, %s, %s, %s, %s, %s or %s)",
		kt, RSA2048, RSA1024, RSA512, RSA4096, ECDSAP256, ECDSAP384, Ed25519)
}

// smallRSAKey makes an RSA key of bits under 1024 from two primes, as
// rsa.GenerateKey refuses to.
func smallRSAKey(bits int) (*rsa.PrivateKey, error) {
	one, e := big.NewInt(1), big.NewInt(65537)
	for {
		p, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			return nil, err
		}
		q, err := rand.Prime(rand.Reader, bits-bits/2)
		if err != nil {
			return nil, err
		}
		n := new(big.Int).Mul(p, q)
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(e, phi)
		if p.Cmp(q) == 0 || n.BitLen() != bits || d == nil {
			continue
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: int(e.Int64())}, D: d, Primes: []*big.Int{p, q}}
		k.Precompute()
		return k, nil
	}
}

// Keys is a pool of generated keys that a test binary can share between tests
// to avoid generating RSA keys again and again. Create one with NewKeys (for
// example in a package-level variable of a _test.go file); it is safe for
// concurrent use.
type Keys struct {
	mu   sync.Mutex
	keys map[KeyType][]crypto.Signer
}

// NewKeys returns an empty pool.
func NewKeys() *Keys { return &Keys{keys: make(map[KeyType][]crypto.Signer)} }

// Key returns the i-th key (from 0) of type kt, generating it on first use:
// the same (kt, i) always gives the same key and different i give different
// keys, so two certificates that must not share a key use different i.
func (k *Keys) Key(t testing.TB, kt KeyType, i int) crypto.Signer {
	t.Helper()
	if kt == "" {
		kt = RSA2048
	}
	if i < 0 {
		t.Fatalf("testpki: negative key index %d", i)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for len(k.keys[kt]) <= i {
		key, err := generateKey(kt)
		if err != nil {
			t.Fatalf("testpki: %v", err)
		}
		k.keys[kt] = append(k.keys[kt], key)
	}
	return k.keys[kt][i]
}

// CertPEM returns the certificate as a PEM CERTIFICATE block.
func (c *Cert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})
}

// KeyPEM returns the private key as a PKCS#8 "PRIVATE KEY" PEM block.
func (c *Cert) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		// Every key type this package generates marshals; only a foreign key
		// passed in Options.Key can get here.
		panic(fmt.Sprintf("testpki: marshal PKCS#8 key of type %T: %v", c.Key, err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// KeyPKCS1PEM returns an RSA private key as a PKCS#1 "RSA PRIVATE KEY" PEM
// block; it fails the test for other keys.
func (c *Cert) KeyPKCS1PEM(t testing.TB) []byte {
	t.Helper()
	k, ok := c.Key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("testpki: PKCS#1 needs an RSA key, %q has %T", c.Cert.Subject.CommonName, c.Key)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// KeySEC1PEM returns an ECDSA private key as a SEC 1 "EC PRIVATE KEY" PEM
// block; it fails the test for other keys.
func (c *Cert) KeySEC1PEM(t testing.TB) []byte {
	t.Helper()
	k, ok := c.Key.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("testpki: SEC 1 needs an ECDSA key, %q has %T", c.Cert.Subject.CommonName, c.Key)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatalf("testpki: marshal EC key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// PKCS12 returns a PKCS#12 file holding the key, the certificate and caCerts,
// encrypted with password. legacy selects pkcs12.LegacyRC2 (RC2-40 for the
// certificates, 3DES for the key, SHA-1 MAC: what OpenSSL 1.x and older
// Windows produce); otherwise pkcs12.Modern2023 (PBES2 with AES-256-CBC, the
// OpenSSL 3 default).
func (c *Cert) PKCS12(t testing.TB, password string, legacy bool, caCerts ...*Cert) []byte {
	t.Helper()
	enc := pkcs12.Modern2023
	if legacy {
		enc = pkcs12.LegacyRC2
	}
	return c.PKCS12With(t, enc, password, caCerts...)
}

// PKCS12With is PKCS12 with a chosen encoder, e.g. pkcs12.LegacyDES.
func (c *Cert) PKCS12With(t testing.TB, enc *pkcs12.Encoder, password string, caCerts ...*Cert) []byte {
	t.Helper()
	cas := make([]*x509.Certificate, len(caCerts))
	for i, ca := range caCerts {
		cas[i] = ca.Cert
	}
	data, err := enc.Encode(c.Key, c.Cert, cas, password)
	if err != nil {
		t.Fatalf("testpki: PKCS#12 for %q: %v", c.Cert.Subject.CommonName, err)
	}
	return data
}

// SHA1 returns the certificate's SHA-1 thumbprint in lowercase hex without
// separators, the form certstore reports.
func (c *Cert) SHA1() string {
	sum := sha1.Sum(c.DER)
	return hex.EncodeToString(sum[:])
}

// SHA256 returns the certificate's SHA-256 thumbprint in lowercase hex.
func (c *Cert) SHA256() string {
	sum := sha256.Sum256(c.DER)
	return hex.EncodeToString(sum[:])
}

// ServerTLS writes a self-signed TLS server certificate for 127.0.0.1 and
// its key (PEM, ECDSA P-256) to a new temporary directory, for a test
// listener's tls block, and returns their paths and the certificate, which
// a client trusts.
func ServerTLS(t testing.TB) (certFile, keyFile string, c *Cert) {
	t.Helper()
	c = SelfSigned(t, Options{CommonName: "127.0.0.1", KeyType: ECDSAP256,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	dir := t.TempDir()
	return WriteFile(t, dir, "server.pem", c.CertPEM()), WriteFile(t, dir, "server.key", c.KeyPEM()), c
}

// WriteFile writes data to dir/name with mode 0600 (creating dir with mode
// 0700 when missing) and returns the file's path. The restrictive modes keep
// files written with keys clean for the live permission checks (BP6003).
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("testpki: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return path
}

// Keytool returns the path of the JDK's keytool, failing the test (never
// skipping it) when it is missing, as OpenSSL does: the Java keystores the
// tests read are the ones the real keytool writes.
func Keytool(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("keytool")
	if err != nil {
		t.Fatalf("testpki: this test needs the JDK's keytool (Debian: apt-get install default-jre-headless): %v", err)
	}
	return path
}

// OpenSSLPath is where tests expect the openssl binary.
const OpenSSLPath = "/usr/bin/openssl"

// OpenSSL returns the path of the openssl binary, failing the test (never
// skipping it) when it is missing: a skipped interoperability test would
// look like a passing one.
func OpenSSL(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(OpenSSLPath); err != nil {
		t.Fatalf("testpki: this test needs the openssl binary: %v", err)
	}
	return OpenSSLPath
}
