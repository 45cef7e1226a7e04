// Package certinfo describes X.509 certificates in the words administrators
// know from certificate dialogs and openssl: key usage names, public key
// algorithm and size.
package certinfo

import (
	"crypto"
	//lint:ignore SA1019 only to name a key crypto/x509 parses (certificates still have them)
	"crypto/dsa"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
)

// KeyUsage returns the RFC 5280 names of the bits set in u, in bit order.
func KeyUsage(u x509.KeyUsage) []string {
	names := []struct {
		bit  x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, "digitalSignature"},
		{x509.KeyUsageContentCommitment, "nonRepudiation"},
		{x509.KeyUsageKeyEncipherment, "keyEncipherment"},
		{x509.KeyUsageDataEncipherment, "dataEncipherment"},
		{x509.KeyUsageKeyAgreement, "keyAgreement"},
		{x509.KeyUsageCertSign, "keyCertSign"},
		{x509.KeyUsageCRLSign, "cRLSign"},
		{x509.KeyUsageEncipherOnly, "encipherOnly"},
		{x509.KeyUsageDecipherOnly, "decipherOnly"},
	}
	out := []string{}
	for _, n := range names {
		if u&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// ExtKeyUsage returns the names of extended key usages, as openssl prints
// them in short form; unknown ones are shown by number.
func ExtKeyUsage(us []x509.ExtKeyUsage) []string {
	names := map[x509.ExtKeyUsage]string{
		x509.ExtKeyUsageAny:             "anyExtendedKeyUsage",
		x509.ExtKeyUsageServerAuth:      "serverAuth",
		x509.ExtKeyUsageClientAuth:      "clientAuth",
		x509.ExtKeyUsageCodeSigning:     "codeSigning",
		x509.ExtKeyUsageEmailProtection: "emailProtection",
		x509.ExtKeyUsageTimeStamping:    "timeStamping",
		x509.ExtKeyUsageOCSPSigning:     "OCSPSigning",
	}
	out := []string{}
	for _, u := range us {
		if n, ok := names[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("extKeyUsage(%d)", int(u)))
		}
	}
	return out
}

// PublicKey describes the certificate's key, e.g. "RSA 2048" or "ECDSA P-256".
func PublicKey(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return Algorithm(c)
	}
}

// MinRSABits is the smallest RSA key crypto/rsa uses at all: it refuses a
// smaller one in every operation (signing, verifying, encrypting,
// decrypting), unless GODEBUG rsa1024min=0, which bizpipe does not set.
const MinRSABits = 1024

// MaxRSAExponent is the largest public exponent crypto/rsa accepts: it
// wants one that fits in 32 bits whatever the size of an int.
const MaxRSAExponent = 1<<31 - 1

// RSAKeyError reports an RSA key crypto/rsa refuses to use in every
// operation (signing, verifying, encrypting, decrypting): one under
// MinRSABits, or one whose numbers no RSA key pair has, which
// crypto/x509 parses all the same: an even modulus (a modulus is the
// product of two odd primes), or a public exponent that is not odd, or
// under 3, or over MaxRSAExponent. It names the defect, and is nil for a
// key crypto/rsa uses and for any other key. The checks, and their
// order, are crypto/rsa's (checkPublicKeySize, then checkPublicKey in
// crypto/internal/fips140/rsa), so that the key validate accepts is one
// run can use.
func RSAKeyError(pub crypto.PublicKey) error {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil
	}
	refused := fmt.Sprintf("which crypto/rsa refuses (it accepts odd public exponents from 3 to %d)", MaxRSAExponent)
	switch {
	case k.N == nil:
		return errors.New("an RSA key without a modulus")
	case k.N.BitLen() < MinRSABits:
		return fmt.Errorf("a %d-bit RSA key, under the %d bits crypto/rsa accepts", k.N.BitLen(), MinRSABits)
	case k.N.Bit(0) == 0:
		return errors.New("an RSA key with an even modulus, which crypto/rsa refuses (a modulus is the product of two odd primes)")
	case k.E < 2:
		return fmt.Errorf("an RSA key with public exponent %d, %s", k.E, refused)
	case k.E%2 == 0:
		return fmt.Errorf("an RSA key with the even public exponent %d, %s", k.E, refused)
	case k.E > MaxRSAExponent:
		return fmt.Errorf("an RSA key with public exponent %d, %s", k.E, refused)
	}
	return nil
}

// SigningKeyError reports why an S/MIME signature cannot be made or
// verified with pub: the signer (smime) and the verifier (pkcs7 through
// crypto/x509) support RSA and ECDSA keys only, and RSA keys crypto/rsa
// accepts (RSAKeyError). It is nil when it can.
// validate and run share it, so that a key validate accepts is one run
// can use.
func SigningKeyError(pub crypto.PublicKey) error {
	switch pub.(type) {
	case *rsa.PublicKey:
		return RSAKeyError(pub)
	case *ecdsa.PublicKey:
		return nil
	case ed25519.PublicKey:
		return errors.New("an Ed25519 key is not supported for S/MIME signatures (RSA or ECDSA)")
	case nil:
		// crypto/x509 leaves the key nil for an algorithm it cannot
		// parse, such as RSASSA-PSS.
		return errors.New("a public key algorithm crypto/x509 does not implement is not supported for S/MIME signatures (RSA or ECDSA)")
	}
	if name := KeyType(pub); name != "" {
		return fmt.Errorf("%s key is not supported for S/MIME signatures (RSA or ECDSA)", WithArticle(name))
	}
	return errors.New("a key of this algorithm is not supported for S/MIME signatures (RSA or ECDSA)")
}

// KeyType names the algorithm of a public or private key of a type
// crypto/x509 parses ("RSA", "ECDSA", "Ed25519", "DSA", "X25519"), for
// messages: a Go type name (*ecdh.PrivateKey) means nothing to an
// administrator. It is "" for a key of any other type.
func KeyType(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PublicKey, *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "Ed25519"
	case *dsa.PublicKey, *dsa.PrivateKey:
		return "DSA"
	case *ecdh.PublicKey:
		return ecdhName(k.Curve())
	case *ecdh.PrivateKey:
		return ecdhName(k.Curve())
	}
	return ""
}

// ecdhName names an ECDH key by its curve: "X25519", the one crypto/x509
// makes ECDH keys of, or "ECDH P-256".
func ecdhName(c ecdh.Curve) string {
	if c == ecdh.X25519() {
		return "X25519"
	}
	return "ECDH " + fmt.Sprint(c)
}

// SignerError reports why a signature made with x, a party's pinned
// signing certificate, is rejected whatever the time (its dates are the
// verifier's other test): a key usage extension without digitalSignature
// or nonRepudiation, a critical extension crypto/x509 does not handle
// (Certificate.Verify refuses it), or a key SigningKeyError refuses. The
// S/MIME decoder runs it on every signer and validate on every party
// certificate, so that the two agree.
func SignerError(x *x509.Certificate) error {
	if x.KeyUsage != 0 && x.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return errors.New("key usage does not allow digital signatures")
	}
	if err := CriticalExtensionError(x); err != nil {
		return err
	}
	return SigningKeyError(x.PublicKey)
}

// CriticalExtensionError reports the first critical extension of x that
// crypto/x509 does not handle: Certificate.Verify refuses such a
// certificate, as RFC 5280 (4.2) bids a verifier do with a critical
// extension it does not recognize, and OpenSSL refuses one it does not
// know ("unhandled critical extension"). It is nil when there is none.
func CriticalExtensionError(x *x509.Certificate) error {
	if len(x.UnhandledCriticalExtensions) > 0 {
		return fmt.Errorf("x509: unhandled critical extension %v", x.UnhandledCriticalExtensions[0])
	}
	return nil
}

// Algorithm names the certificate's public key algorithm as crypto/x509
// does ("RSA", "ECDSA", "Ed25519"), and one crypto/x509 does not parse by
// its object identifier ("RSASSA-PSS", "Ed448", or the identifier itself):
// x509.UnknownPublicKeyAlgorithm would print as "0".
func Algorithm(c *x509.Certificate) string {
	if c.PublicKeyAlgorithm != x509.UnknownPublicKeyAlgorithm {
		return c.PublicKeyAlgorithm.String()
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		return "unknown algorithm"
	}
	if name, ok := keyAlgorithmNames[spki.Algorithm.Algorithm.String()]; ok {
		return name
	}
	return "unknown algorithm " + spki.Algorithm.Algorithm.String()
}

// WithArticle is name, a key algorithm's as Algorithm gives it, after its
// indefinite article, chosen by how the name is read out: "an ECDSA", "an
// RSA", "an X25519", "a DSA", "a DH".
func WithArticle(name string) string {
	if name == "" {
		return name
	}
	// Letters whose spoken name starts with a vowel sound (an RSA: "ar"),
	// besides the vowels; a lower-case start is a word (an unknown).
	if strings.ContainsRune("AEFHILMNORSXaeiou", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}

// KeyAlgorithmName names a key algorithm crypto/x509 does not parse (the
// key of a certificate, or a PKCS#8 private key) by its object identifier:
// "DSA", "RSASSA-PSS", "Ed448" ..., and ok false for one it does not know.
func KeyAlgorithmName(oid asn1.ObjectIdentifier) (name string, ok bool) {
	name, ok = keyAlgorithmNames[oid.String()]
	return name, ok
}

// keyAlgorithmNames are the public key algorithms of certificates seen in
// the wild that crypto/x509 does not parse, by object identifier, and DSA,
// whose keys it parses in certificates only.
var keyAlgorithmNames = map[string]string{
	"1.2.840.10040.4.1":     "DSA",
	"1.2.840.113549.1.1.10": "RSASSA-PSS",
	"1.2.840.10046.2.1":     "DH",
	"1.3.101.110":           "X25519",
	"1.3.101.111":           "X448",
	"1.3.101.113":           "Ed448",
}
