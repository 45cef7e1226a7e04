package smime

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	crand "crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"slices"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/bizpipe/bizpipe/internal/ber"
	"github.com/bizpipe/bizpipe/internal/pki/certinfo"
)

// Signatures built from a digest, for the streaming encoder: the content is
// hashed as it passes, and only the SignerInfo is built at the end. The
// result is what signedData (through pkcs7) builds: version 1, issuer and
// serial number, the configured digest (never pkcs7's SHA-1 default),
// signed attributes content-type (id-data), signing-time, message-digest
// and SMIMECapabilities, and the signature algorithm pkcs7 names for the
// key (sha*WithRSAEncryption, PKCS #1 v1.5; ecdsa-with-SHA*).

var (
	oidAttrContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
)

// signatureOID returns the signature algorithm for the signer's key and
// the digest, as pkcs7 chooses it. A key it refuses is one validate
// refuses too (BP3005), by the same function.
func signatureOID(pub crypto.PublicKey, d digestSpec) (asn1.ObjectIdentifier, error) {
	if err := certinfo.SigningKeyError(pub); err != nil {
		return nil, fmt.Errorf("smime: cannot sign: %w", err)
	}
	switch pub.(type) {
	case *rsa.PublicKey:
		switch d.hash {
		case crypto.SHA1:
			return pkcs7.OIDEncryptionAlgorithmRSASHA1, nil
		case crypto.SHA256:
			return pkcs7.OIDEncryptionAlgorithmRSASHA256, nil
		case crypto.SHA384:
			return pkcs7.OIDEncryptionAlgorithmRSASHA384, nil
		case crypto.SHA512:
			return pkcs7.OIDEncryptionAlgorithmRSASHA512, nil
		}
	case *ecdsa.PublicKey:
		switch d.hash {
		case crypto.SHA1:
			return pkcs7.OIDDigestAlgorithmECDSASHA1, nil
		case crypto.SHA256:
			return pkcs7.OIDDigestAlgorithmECDSASHA256, nil
		case crypto.SHA384:
			return pkcs7.OIDDigestAlgorithmECDSASHA384, nil
		case crypto.SHA512:
			return pkcs7.OIDDigestAlgorithmECDSASHA512, nil
		}
	}
	// Only a digest without its signature algorithm here comes this far;
	// the key is named in words, not by its Go type (*rsa.PublicKey).
	key := "a key of this algorithm"
	if name := certinfo.KeyType(pub); name != "" {
		key = certinfo.WithArticle(name) + " key"
	}
	return nil, fmt.Errorf("smime: signing with %s and %v is not supported", key, d.hash)
}

// marshalAttribute returns the DER Attribute { type, SET { value } }.
func marshalAttribute(oid asn1.ObjectIdentifier, value []byte) []byte {
	return ber.AppendTLV(nil, 0x30, derOID(oid), ber.AppendTLV(nil, 0x31, value))
}

// signerInfoFor signs digest (of the content) and returns the DER
// SignerInfo.
func signerInfoFor(s *Signer, d digestSpec, digest []byte, now time.Time) ([]byte, error) {
	sigOID, err := signatureOID(s.Key.Public(), d)
	if err != nil {
		return nil, err
	}
	signingTime, err := asn1.Marshal(now.UTC())
	if err != nil {
		return nil, fmt.Errorf("smime: encoding the signing time: %w", err)
	}
	attrs := [][]byte{
		marshalAttribute(oidAttrContentType, derOID(oidData)),
		marshalAttribute(oidAttrSigningTime, signingTime),
		marshalAttribute(oidAttrMessageDigest, ber.AppendTLV(nil, 0x04, digest)),
		marshalAttribute(oidSMIMECapabilities, smimeCapabilities),
	}
	// DER SET OF: sorted by encoding. The signature covers the SET with
	// its universal tag; the SignerInfo carries it as [0] IMPLICIT.
	slices.SortFunc(attrs, bytes.Compare)
	signed := ber.AppendTLV(nil, 0x31, attrs...)
	h := d.hash.New()
	h.Write(signed)
	sig, err := s.Key.Sign(crand.Reader, h.Sum(nil), d.hash)
	if err != nil {
		return nil, fmt.Errorf("smime: signing with certificate %q: %w", s.Cert.Subject, err)
	}
	serial, err := asn1.Marshal(s.Cert.SerialNumber)
	if err != nil {
		return nil, fmt.Errorf("smime: encoding the certificate serial number: %w", err)
	}
	signed[0] = 0xa0
	return ber.AppendTLV(nil, 0x30,
		[]byte{0x02, 0x01, 0x01}, // version 1: issuerAndSerialNumber
		ber.AppendTLV(nil, 0x30, s.Cert.RawIssuer, serial),
		digestAlgorithmID(d),
		signed,
		ber.AppendTLV(nil, 0x30, derOID(sigOID)),
		ber.AppendTLV(nil, 0x04, sig),
	), nil
}

// digestAlgorithmID is the AlgorithmIdentifier of d, without parameters
// (as pkcs7 writes it).
func digestAlgorithmID(d digestSpec) []byte {
	return ber.AppendTLV(nil, 0x30, derOID(d.oid))
}

// certificatesField is the [0] IMPLICIT certificates of a SignedData: the
// signer's certificate and chain, or nothing without includeCerts.
func certificatesField(s *Signer, includeCerts bool) []byte {
	if !includeCerts {
		return nil
	}
	certs := [][]byte{s.Cert.Raw}
	for _, c := range s.Chain {
		certs = append(certs, c.Raw)
	}
	return ber.AppendTLV(nil, 0xa0, certs...)
}

// signedDataHead is everything of a SignedData ContentInfo before its
// encapContentInfo, BER indefinite-length.
func signedDataHead(d digestSpec) []byte {
	b := ber.AppendIndefinite(nil, 0x30) // ContentInfo
	b = append(b, derOID(oidSignedData)...)
	b = ber.AppendIndefinite(b, 0xa0) // [0] EXPLICIT
	b = ber.AppendIndefinite(b, 0x30) // SignedData
	b = append(b, 0x02, 0x01, 0x01)   // version 1
	return ber.AppendTLV(b, 0x31, digestAlgorithmID(d))
}

// detachedSignedData returns the DER ContentInfo of a detached SignedData
// with one SignerInfo.
func detachedSignedData(s *Signer, d digestSpec, includeCerts bool, signerInfo []byte) []byte {
	sd := ber.AppendTLV(nil, 0x30,
		[]byte{0x02, 0x01, 0x01},
		ber.AppendTLV(nil, 0x31, digestAlgorithmID(d)),
		ber.AppendTLV(nil, 0x30, derOID(oidData)),
		certificatesField(s, includeCerts),
		ber.AppendTLV(nil, 0x31, signerInfo),
	)
	return ber.AppendTLV(nil, 0x30, derOID(oidSignedData), ber.AppendTLV(nil, 0xa0, sd))
}
