package smime

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"

	"github.com/smallstep/pkcs7"
)

// RSASSA-PSS signatures (RFC 4056 in CMS, the parameters of RFC 4055
// §3.1): what "openssl cms -sign -keyopt rsa_padding_mode:pss" and some
// AS2 products write with an ordinary RSA certificate. pkcs7 verifies
// only PKCS #1 v1.5 (getSignatureAlgorithm refuses the identifier), so
// verifyPKCS7 hands such a SignerInfo to verifyPSS, which checks what
// pkcs7 checks for the others: the message-digest attribute against the
// content, then the signature over the signed attributes (or the content
// when there are none). Everything after it (chain, key usage, party,
// content-type attribute) is checkSigners', whatever the padding.

var (
	oidRSASSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
)

// pssParams is RSASSA-PSS-params. Absent fields take their defaults:
// SHA-1, MGF1 with SHA-1, a salt of 20 octets, trailer field 1.
type pssParams struct {
	Hash         pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
	MGF          pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
	SaltLength   int                      `asn1:"optional,explicit,tag:2,default:20"`
	TrailerField int                      `asn1:"optional,explicit,tag:3,default:1"`
}

// pssOptions reads the RSASSA-PSS parameters of a SignerInfo whose
// digest algorithm is digestOID and returns its hash and salt length.
// The hash must be the digest algorithm (RFC 4056 §3: one hash for the
// content, the signed attributes and the signature) and one this decoder
// accepts for any signature, MGF1 must use it too (the only mask
// crypto/rsa computes), and the trailer field must be 1.
func pssOptions(digestOID asn1.ObjectIdentifier, params asn1.RawValue) (crypto.Hash, int, error) {
	d, ok := digestOf(digestOID)
	if !ok {
		return 0, 0, fmt.Errorf("the RSASSA-PSS signature's digest algorithm %s is not accepted (want one of %s)", digestName(digestOID), strings.Join(digestNames(), ", "))
	}
	if len(params.FullBytes) == 0 {
		return 0, 0, errors.New("the RSASSA-PSS signature algorithm has no parameters")
	}
	var p pssParams
	if rest, err := asn1.Unmarshal(params.FullBytes, &p); err != nil || len(rest) > 0 {
		return 0, 0, errors.New("malformed RSASSA-PSS parameters")
	}
	hash := pkcs7.OIDDigestAlgorithmSHA1
	if p.Hash.Algorithm != nil {
		hash = p.Hash.Algorithm
	}
	if !hash.Equal(d.oid) {
		return 0, 0, fmt.Errorf("the RSASSA-PSS signature's hash %s differs from its digest algorithm %s", pssHashName(hash), d.name)
	}
	mgfHash := pkcs7.OIDDigestAlgorithmSHA1
	if p.MGF.Algorithm != nil {
		if !p.MGF.Algorithm.Equal(oidMGF1) {
			return 0, 0, fmt.Errorf("the RSASSA-PSS signature's mask generation function %s is not accepted (want MGF1)", p.MGF.Algorithm)
		}
		var h pkix.AlgorithmIdentifier
		if rest, err := asn1.Unmarshal(p.MGF.Parameters.FullBytes, &h); err != nil || len(rest) > 0 {
			return 0, 0, errors.New("malformed RSASSA-PSS parameters (MGF1 hash)")
		}
		mgfHash = h.Algorithm
	}
	if !mgfHash.Equal(d.oid) {
		return 0, 0, fmt.Errorf("the RSASSA-PSS signature's MGF1 hash %s differs from its hash %s", pssHashName(mgfHash), d.name)
	}
	if p.TrailerField != 1 {
		return 0, 0, fmt.Errorf("the RSASSA-PSS signature's trailer field is %d, want 1", p.TrailerField)
	}
	if p.SaltLength < 0 {
		return 0, 0, fmt.Errorf("the RSASSA-PSS signature's salt length is %d", p.SaltLength)
	}
	// A salt length of 0 is crypto/rsa's PSSSaltLengthAuto: any length
	// then verifies. That is no weaker: the parameters are not signed, so
	// whoever could change the signature's salt could change them too.
	return d.hash, p.SaltLength, nil
}

// pssHashName names a hash of the RSASSA-PSS parameters.
func pssHashName(oid asn1.ObjectIdentifier) string {
	if d, ok := digestOf(oid); ok {
		return d.name
	}
	return digestName(oid)
}

// pssAttribute is pkcs7's attribute, to encode the signed attributes as it
// does for the signatures it verifies.
type pssAttribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"set"`
}

// verifyPSS verifies an RSASSA-PSS SignerInfo of p7 (its fields given
// one by one: pkcs7 does not export their type) by cert, over p7.Content
// or what p7.Hasher hashes. A content that is not the one signed is a
// *pkcs7.MessageDigestMismatchError, as pkcs7's, so that the caller tries
// its next reading of a clear-signed part.
func verifyPSS(p7 *pkcs7.PKCS7, cert *x509.Certificate, digestAlg, sigAlg pkix.AlgorithmIdentifier, attrs []pssAttribute, sig []byte) error {
	hash, salt, err := pssOptions(digestAlg.Algorithm, sigAlg.Parameters)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("an RSASSA-PSS signature by a certificate whose key is not RSA")
	}
	content, err := pssContentDigest(p7, hash)
	if err != nil {
		return err
	}
	signed := content
	if len(attrs) > 0 {
		var digest []byte
		found := false
		for _, a := range attrs {
			if a.Type.Equal(oidAttrMessageDigest) {
				if rest, err := asn1.Unmarshal(a.Value.Bytes, &digest); err != nil || len(rest) > 0 {
					return errors.New("malformed message-digest signed attribute")
				}
				found = true
				break
			}
		}
		if !found {
			return errors.New("signed attributes lack the message-digest attribute")
		}
		if subtle.ConstantTimeCompare(digest, content) != 1 {
			return &pkcs7.MessageDigestMismatchError{ExpectedDigest: digest, ActualDigest: content}
		}
		enc, err := asn1.Marshal(struct {
			A []pssAttribute `asn1:"set"`
		}{A: attrs})
		if err != nil {
			return fmt.Errorf("encoding the signed attributes: %w", err)
		}
		var set asn1.RawValue
		if _, err := asn1.Unmarshal(enc, &set); err != nil {
			return fmt.Errorf("encoding the signed attributes: %w", err)
		}
		h := hash.New()
		h.Write(set.Bytes)
		signed = h.Sum(nil)
	}
	if err := rsa.VerifyPSS(pub, hash, signed, sig, &rsa.PSSOptions{SaltLength: salt}); err != nil {
		return fmt.Errorf("the RSASSA-PSS signature does not verify: %w", err)
	}
	return nil
}

// pssContentDigest is the digest of p7's content with hash, as pkcs7
// computes it: by p7.Hasher when there is one.
func pssContentDigest(p7 *pkcs7.PKCS7, hash crypto.Hash) ([]byte, error) {
	if p7.Hasher != nil {
		return p7.Hasher.Hash(hash, bytes.NewReader(p7.Content))
	}
	h := hash.New()
	h.Write(p7.Content)
	return h.Sum(nil), nil
}
