package smime

import (
	"crypto"
	"encoding/asn1"
	"fmt"
	"strings"

	"github.com/smallstep/pkcs7"

	"github.com/bizpipe/bizpipe/internal/cms"
)

// Options configures an Encoder. The fields mirror the attributes of the
// encoder "smime" block of the configuration language (spec §3), with the
// same spellings.
//
// The zero value of a string field means the language default ("none",
// "sha256", "base64") and a zero Algorithm means cms.DefaultAlgorithm.
// IncludeCertificate has no such default: a Go bool cannot tell "unset" from
// false, so callers translating configuration must set it explicitly (the
// language default is true); DefaultOptions returns the language defaults.
type Options struct {
	// Signature is "none", "clear" (multipart/signed, detached signature)
	// or "opaque" (application/pkcs7-mime; smime-type=signed-data).
	Signature string
	// Digest is the message digest of the signature: "sha256", "sha384",
	// "sha512" or "sha1" (weak; only when configured).
	Digest string
	// IncludeCertificate embeds the signing certificate and Signer.Chain in
	// the SignedData. Without it, verifiers must be given the certificate.
	IncludeCertificate bool
	// Encrypt envelopes the (signed or plain) entity for the recipient.
	Encrypt bool
	// Algorithm is the content-encryption algorithm used when Encrypt is set.
	Algorithm cms.Algorithm
	// ContentTransferEncoding encodes the message body: "base64",
	// "quoted-printable", "7bit", "8bit" or "binary". "" is base64, but
	// binary for a multipart or message body, which may not be encoded
	// (RFC 2045 §6.4); base64 asked for by name fails for such a body.
	ContentTransferEncoding string
}

// DefaultOptions returns the defaults of the configuration language: no
// signature, SHA-256, certificate included, no encryption (AES-256-CBC when
// enabled), base64 (binary where base64 is not allowed: "").
func DefaultOptions() Options {
	return Options{
		Signature:          "none",
		Digest:             "sha256",
		IncludeCertificate: true,
		Algorithm:          cms.DefaultAlgorithm,
	}
}

type signatureMode int

const (
	signNone signatureMode = iota
	signClear
	signOpaque
)

var signatureNames = []string{"none", "clear", "opaque"}

func (m signatureMode) String() string { return signatureNames[m] }

// digestSpec ties a configuration name to its CMS OID, its Go hash and the
// micalg parameter of multipart/signed (RFC 8551 §3.5.3.2).
type digestSpec struct {
	name   string
	micalg string
	oid    asn1.ObjectIdentifier
	hash   crypto.Hash
}

var digests = []digestSpec{
	{"sha256", "sha-256", pkcs7.OIDDigestAlgorithmSHA256, crypto.SHA256},
	{"sha384", "sha-384", pkcs7.OIDDigestAlgorithmSHA384, crypto.SHA384},
	{"sha512", "sha-512", pkcs7.OIDDigestAlgorithmSHA512, crypto.SHA512},
	{"sha1", "sha-1", pkcs7.OIDDigestAlgorithmSHA1, crypto.SHA1},
}

// digestOf is the accepted digest whose OID is oid.
func digestOf(oid asn1.ObjectIdentifier) (digestSpec, bool) {
	for _, d := range digests {
		if oid.Equal(d.oid) {
			return d, true
		}
	}
	return digestSpec{}, false
}

// digestNames are the names of digests, as the digest attribute takes them.
func digestNames() []string {
	names := make([]string, len(digests))
	for i, d := range digests {
		names[i] = d.name
	}
	return names
}

// transferEncoding is a Content-Transfer-Encoding (RFC 2045 §6).
type transferEncoding int

const (
	cteBase64 transferEncoding = iota
	cteQuotedPrintable
	cte7bit
	cte8bit
	cteBinary
)

var transferEncodingNames = []string{"base64", "quoted-printable", "7bit", "8bit", "binary"}

func (c transferEncoding) String() string { return transferEncodingNames[c] }

// identity reports whether the encoding leaves the octets unchanged (the
// body must then already be valid for the domain the name promises).
func (c transferEncoding) identity() bool { return c >= cte7bit }

// lookupName returns the index of the normalised s in names, or an error
// that lists the accepted values. An empty s selects def.
func lookupName(what, s string, names []string, def int) (int, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	if n == "" {
		return def, nil
	}
	for i, name := range names {
		if name == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("smime: invalid %s %q (want one of %s)", what, s, strings.Join(names, ", "))
}

func parseDigest(s string) (digestSpec, error) {
	i, err := lookupName("digest", s, digestNames(), 0)
	if err != nil {
		return digestSpec{}, err
	}
	return digests[i], nil
}
