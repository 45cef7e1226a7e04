package benchgen

import (
	"crypto"
	"crypto/ecdsa"
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
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// p12Password is the password of every generated PKCS#12 file, and the
// default of the configuration's p12_password variable. Benchmark data only.
const p12Password = "bench-only"

// cert is a generated certificate and its key.
type cert struct {
	x509 *x509.Certificate
	key  crypto.Signer
}

// pki is the certificates a configuration shares: a two-level CA, the group
// signing certificate and the partner certificates.
type pki struct {
	now      time.Time
	root     *cert
	inter    *cert
	signing  *cert
	partners []*cert
}

func newPKI(p Params, now time.Time) (*pki, error) {
	k := &pki{now: now}
	var err error
	if k.root, err = k.issue(nil, "bizpipe bench Root CA", nil, kindCA, validFor(now, 20)); err != nil {
		return nil, err
	}
	if k.inter, err = k.issue(k.root, "bizpipe bench Issuing CA", nil, kindCA, validFor(now, 10)); err != nil {
		return nil, err
	}
	signingKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if k.signing, err = k.issue(k.inter, "Contoso Group Signing (BENCHMARK ONLY)", signingKey, kindSMIME, validFor(now, 3)); err != nil {
		return nil, err
	}
	keys := make([]crypto.Signer, p.PartnerKeys)
	for i := range keys {
		if keys[i], err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("partner key: %w", err)
		}
	}
	for j := range p.Partners {
		c, err := k.issue(k.inter, fmt.Sprintf("Partner %02d (BENCHMARK ONLY)", j), keys[j%len(keys)], kindSMIME, validFor(now, 2))
		if err != nil {
			return nil, err
		}
		k.partners = append(k.partners, c)
	}
	return k, nil
}

// Kinds of certificate, for key usage.
const (
	kindCA = iota
	kindSMIME
	kindTLSClient
)

type validity struct{ notBefore, notAfter time.Time }

// validFor is valid from an hour ago for years years.
func validFor(now time.Time, years int) validity {
	return validity{now.Add(-time.Hour), now.AddDate(years, 0, 0)}
}

// expired ended a year ago.
func expired(now time.Time) validity {
	return validity{now.AddDate(-3, 0, 0), now.AddDate(-1, 0, 0)}
}

// issue makes a certificate signed by parent (self-signed when nil) for key,
// or for a new ECDSA P-256 key when key is nil.
func (k *pki) issue(parent *cert, cn string, key crypto.Signer, kind int, v validity) (*cert, error) {
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, fmt.Errorf("key for %q: %w", cn, err)
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"bizpipe benchmark"}, CommonName: cn},
		NotBefore:             v.notBefore,
		NotAfter:              v.notAfter,
		BasicConstraintsValid: true,
	}
	switch kind {
	case kindCA:
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	case kindSMIME:
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
		tmpl.EmailAddresses = []string{strings.ToLower(strings.Fields(cn)[0]) + "@example.com"}
	case kindTLSClient:
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	issuerCert, signer := tmpl, key
	if parent != nil {
		issuerCert, signer = parent.x509, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("certificate %q: %w", cn, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &cert{x509: c, key: key}, nil
}

// filler makes a certificate a store holds besides the ones the
// configuration refers to.
func (k *pki) filler(cn string, kind int, v validity) (*cert, error) {
	return k.issue(k.inter, cn, nil, kind, v)
}

// certPEM is the certificate as a PEM block.
func (c *cert) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.x509.Raw})
}

// keyPEM is the key as PKCS#8, or as PKCS#1 / SEC 1 when legacy is set.
func (c *cert) keyPEM(legacy bool) ([]byte, error) {
	if legacy {
		switch key := c.key.(type) {
		case *rsa.PrivateKey:
			return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), nil
		case *ecdsa.PrivateKey:
			der, err := x509.MarshalECPrivateKey(key)
			if err != nil {
				return nil, err
			}
			return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// pkcs12 is the certificate, its key and chain in a PKCS#12 file protected
// by p12Password: modern (PBES2, AES-256) or legacy (RC2 and 3DES).
func (c *cert) pkcs12(legacy bool, chain ...*cert) ([]byte, error) {
	enc := pkcs12.Modern2023
	if legacy {
		enc = pkcs12.LegacyRC2
	}
	cas := make([]*x509.Certificate, len(chain))
	for i, ca := range chain {
		cas[i] = ca.x509
	}
	return enc.Encode(c.key, c.x509, cas, p12Password)
}

// sha1Hex and sha256Hex are the thumbprints in uppercase hex.
func (c *cert) sha1Hex() string {
	sum := sha1.Sum(c.x509.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func (c *cert) sha256Hex() string {
	sum := sha256.Sum256(c.x509.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// thumbprintForm writes a thumbprint the ways users paste them: variant 0 is
// Windows' spaced pairs, 1 plain uppercase, 2 openssl's lowercase colon
// pairs, 3 SHA-256.
func (c *cert) thumbprintForm(variant int) string {
	pairs := func(s, sep string) string {
		var out []string
		for i := 0; i < len(s); i += 2 {
			out = append(out, s[i:i+2])
		}
		return strings.Join(out, sep)
	}
	switch variant % 4 {
	case 0:
		return pairs(c.sha1Hex(), " ")
	case 1:
		return c.sha1Hex()
	case 2:
		return strings.ToLower(pairs(c.sha1Hex(), ":"))
	default:
		return c.sha256Hex()
	}
}
