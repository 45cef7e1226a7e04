package cms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"fmt"
	"strings"
)

// Algorithm is a content-encryption algorithm.
//
// The zero value is not a valid algorithm; Encrypt rejects it. Use
// ParseAlgorithm to map a configuration string (see the language spec,
// encryption_algorithm) to an Algorithm.
type Algorithm int

const (
	// AES128CBC is AES-128 in CBC mode (RFC 3565), EnvelopedData.
	AES128CBC Algorithm = iota + 1
	// AES256CBC is AES-256 in CBC mode (RFC 3565), EnvelopedData.
	// It is the configuration default (DefaultAlgorithm).
	AES256CBC
	// AES128GCM is AES-128 in GCM mode (RFC 5084), AuthEnvelopedData.
	AES128GCM
	// AES256GCM is AES-256 in GCM mode (RFC 5084), AuthEnvelopedData.
	AES256GCM
	// DES3CBC is Triple-DES (des-ede3-cbc, RFC 3370), EnvelopedData.
	// It is weak and only present for legacy partners.
	DES3CBC
)

// DefaultAlgorithm is the algorithm used when configuration does not name one.
const DefaultAlgorithm = AES256CBC

// cipherSpec describes one content-encryption algorithm identifier. The table
// below is read-only after package initialisation.
type cipherSpec struct {
	alg    Algorithm // 0 for algorithms accepted by Decrypt only
	name   string
	oid    []byte // DER contents octets of the OBJECT IDENTIFIER
	keyLen int
	gcm    bool
	newBlk func(key []byte) (cipher.Block, error)
}

var (
	oidAES128CBC = mustOIDBytes(2, 16, 840, 1, 101, 3, 4, 1, 2)
	oidAES192CBC = mustOIDBytes(2, 16, 840, 1, 101, 3, 4, 1, 22)
	oidAES256CBC = mustOIDBytes(2, 16, 840, 1, 101, 3, 4, 1, 42)
	oidAES128GCM = mustOIDBytes(2, 16, 840, 1, 101, 3, 4, 1, 6)
	oidAES192GCM = mustOIDBytes(2, 16, 840, 1, 101, 3, 4, 1, 26)
	oidAES256GCM = mustOIDBytes(2, 16, 840, 1, 101, 3, 4, 1, 46)
	oidDES3CBC   = mustOIDBytes(1, 2, 840, 113549, 3, 7)
)

var cipherSpecs = []cipherSpec{
	{AES128CBC, "aes128-cbc", oidAES128CBC, 16, false, aes.NewCipher},
	{AES256CBC, "aes256-cbc", oidAES256CBC, 32, false, aes.NewCipher},
	{AES128GCM, "aes128-gcm", oidAES128GCM, 16, true, aes.NewCipher},
	{AES256GCM, "aes256-gcm", oidAES256GCM, 32, true, aes.NewCipher},
	{DES3CBC, "des3", oidDES3CBC, 24, false, des.NewTripleDESCipher},
	// Accepted by Decrypt only (other senders may use them).
	{0, "aes192-cbc", oidAES192CBC, 24, false, aes.NewCipher},
	{0, "aes192-gcm", oidAES192GCM, 24, true, aes.NewCipher},
}

func (a Algorithm) spec() (*cipherSpec, bool) {
	if a <= 0 {
		return nil, false
	}
	for i := range cipherSpecs {
		if cipherSpecs[i].alg == a {
			return &cipherSpecs[i], true
		}
	}
	return nil, false
}

func specByOID(oid []byte) (*cipherSpec, bool) {
	for i := range cipherSpecs {
		if string(cipherSpecs[i].oid) == string(oid) {
			return &cipherSpecs[i], true
		}
	}
	return nil, false
}

// ParseAlgorithm maps a configuration name ("aes128-cbc", "aes256-cbc",
// "aes128-gcm", "aes256-gcm", "des3") to an Algorithm. Matching is
// case-insensitive and ignores surrounding white space.
func ParseAlgorithm(s string) (Algorithm, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	for _, c := range cipherSpecs {
		if c.alg != 0 && c.name == n {
			return c.alg, nil
		}
	}
	return 0, fmt.Errorf("envelope: unknown encryption algorithm %q (want one of %s)", s, strings.Join(AlgorithmNames(), ", "))
}

// AlgorithmNames returns the configuration names accepted by ParseAlgorithm,
// in a stable order.
func AlgorithmNames() []string {
	var out []string
	for _, c := range cipherSpecs {
		if c.alg != 0 {
			out = append(out, c.name)
		}
	}
	return out
}

// String returns the configuration name of a ("aes256-cbc", ...), or
// "Algorithm(N)" for an invalid value.
func (a Algorithm) String() string {
	if s, ok := a.spec(); ok {
		return s.name
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// Valid reports whether a is one of the defined algorithms.
func (a Algorithm) Valid() bool {
	_, ok := a.spec()
	return ok
}

// Authenticated reports whether a is an AEAD algorithm (AES-GCM). Encrypt then
// produces AuthEnvelopedData (RFC 5083) rather than EnvelopedData, and the
// S/MIME smime-type parameter is "authEnveloped-data".
func (a Algorithm) Authenticated() bool {
	s, ok := a.spec()
	return ok && s.gcm
}

// Weak reports whether a is considered weak (Triple-DES; diagnostic BP5001).
func (a Algorithm) Weak() bool { return a == DES3CBC }

// SMIMEType returns the value of the smime-type parameter of the
// application/pkcs7-mime Content-Type for a message enveloped with a:
// "authEnveloped-data" for GCM and "enveloped-data" otherwise.
func (a Algorithm) SMIMEType() string {
	if a.Authenticated() {
		return "authEnveloped-data"
	}
	return "enveloped-data"
}
