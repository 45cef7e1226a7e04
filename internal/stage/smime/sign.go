package smime

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/smallstep/pkcs7"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/bizpipe/bizpipe/internal/ber"
)

// Signer is the signing identity: the group signing certificate and its
// private key, as found in the personal store of the service account that
// runs the pipeline.
type Signer struct {
	// Cert is the signing certificate.
	Cert *x509.Certificate
	// Key is Cert's private key. It is used only to sign, never copied or
	// formatted.
	Key crypto.Signer
	// Chain holds intermediate CA certificates to embed after Cert (when
	// the encoder includes certificates), leaf-most first. The root is
	// normally omitted.
	Chain []*x509.Certificate
}

// check reports a signer that cannot produce a verifiable signature. Key
// and Cert are compared because a mismatch would only show up at the
// partner, as a signature failure on every message.
func (s *Signer) check() error {
	if s == nil || s.Cert == nil || s.Key == nil {
		return errors.New("smime: signature requested but no signing certificate and key given")
	}
	pub, ok := s.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(s.Cert.PublicKey) {
		return fmt.Errorf("smime: the private key does not belong to signing certificate %q (serial %s)", s.Cert.Subject, s.Cert.SerialNumber.Text(16))
	}
	return nil
}

var (
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	// RFC 8551 §2.5.2.
	oidSMIMECapabilities = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 15}
)

// smimeCapabilities is the DER of the SMIMECapabilities attribute value we
// announce: the content-encryption algorithms our decoder accepts, most
// preferred first (RFC 8551 §2.5.2). Triple-DES is accepted but not
// announced, so partners that honour the list never pick it.
var smimeCapabilities = func() []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, oid := range []asn1.ObjectIdentifier{
			{2, 16, 840, 1, 101, 3, 4, 1, 46}, // aes256-GCM
			{2, 16, 840, 1, 101, 3, 4, 1, 6},  // aes128-GCM
			{2, 16, 840, 1, 101, 3, 4, 1, 42}, // aes256-CBC
			{2, 16, 840, 1, 101, 3, 4, 1, 22}, // aes192-CBC
			{2, 16, 840, 1, 101, 3, 4, 1, 2},  // aes128-CBC
		} {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oid)
			})
		}
	})
	return b.BytesOrPanic()
}()

// signedData returns the DER ContentInfo of a CMS SignedData over content,
// with signed attributes content-type, message-digest, signing-time (added
// by pkcs7) and SMIMECapabilities, as OpenSSL writes them.
//
// pkcs7 builds and signs the SignerInfo; the ContentInfo around it is then
// re-assembled here, for two reasons pkcs7 cannot serve: it always embeds
// the signer's certificate (include_certificate = false must leave it out),
// and it would copy the content three times for an encapsulated signature.
// We let it produce the detached form and splice the content in ourselves,
// in one exact-size allocation.
func signedData(content []byte, s *Signer, d digestSpec, includeCerts, encapsulate bool) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, fmt.Errorf("smime: creating SignedData: %w", err)
	}
	// Explicit: pkcs7 defaults to SHA-1.
	sd.SetDigestAlgorithm(d.oid)
	err = sd.AddSigner(s.Cert, s.Key, pkcs7.SignerInfoConfig{
		ExtraSignedAttributes: []pkcs7.Attribute{{
			Type:  oidSMIMECapabilities,
			Value: asn1.RawValue{FullBytes: smimeCapabilities},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("smime: signing with certificate %q: %w", s.Cert.Subject, err)
	}
	for _, c := range s.Chain {
		sd.AddCertificate(c)
	}
	sd.Detach()
	detached, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("smime: encoding SignedData: %w", err)
	}
	var encap []byte
	if encapsulate {
		encap = content
	}
	out, err := rebuildSignedData(detached, includeCerts, encapsulate, encap)
	if err != nil {
		return nil, fmt.Errorf("smime: re-encoding SignedData: %w", err)
	}
	return out, nil
}

// rebuildSignedData takes the DER of a detached SignedData ContentInfo and
// returns it with the certificates dropped (unless includeCerts) and, when
// encapsulate is set, content as the eContent of an id-data
// EncapsulatedContentInfo. The version stays 1: eContentType is id-data and
// signers are identified by issuer and serial number (RFC 5652 §5.1).
func rebuildSignedData(der []byte, includeCerts, encapsulate bool, content []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var ci, explicit, sd cryptobyte.String
	var ctype asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() ||
		!ci.ReadASN1ObjectIdentifier(&ctype) || !ctype.Equal(oidSignedData) ||
		!ci.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific()) || !ci.Empty() ||
		!explicit.ReadASN1(&sd, cbasn1.SEQUENCE) || !explicit.Empty() {
		return nil, errors.New("unexpected ContentInfo structure")
	}
	var version, digestAlgs, encapInfo, certs, crls, signerInfos cryptobyte.String
	if !sd.ReadASN1Element(&version, cbasn1.INTEGER) ||
		!sd.ReadASN1Element(&digestAlgs, cbasn1.SET) ||
		!sd.ReadASN1Element(&encapInfo, cbasn1.SEQUENCE) {
		return nil, errors.New("unexpected SignedData structure")
	}
	certsTag := cbasn1.Tag(0).Constructed().ContextSpecific()
	crlsTag := cbasn1.Tag(1).Constructed().ContextSpecific()
	if sd.PeekASN1Tag(certsTag) && !sd.ReadASN1Element(&certs, certsTag) ||
		sd.PeekASN1Tag(crlsTag) && !sd.ReadASN1Element(&crls, crlsTag) ||
		!sd.ReadASN1Element(&signerInfos, cbasn1.SET) || !sd.Empty() {
		return nil, errors.New("unexpected SignedData structure")
	}
	if !includeCerts {
		certs = nil
	}

	dataOID := derOID(oidData)
	encapLen := len(encapInfo)
	if encapsulate {
		// SEQUENCE { id-data, [0] EXPLICIT OCTET STRING content }
		encapLen = tlvLen(len(dataOID) + tlvLen(tlvLen(len(content))))
	}
	sdBody := len(version) + len(digestAlgs) + encapLen + len(certs) + len(crls) + len(signerInfos)
	sdOID := derOID(oidSignedData)
	ciBody := len(sdOID) + tlvLen(tlvLen(sdBody))
	out := make([]byte, 0, tlvLen(ciBody))

	out = appendTL(out, 0x30, ciBody)
	out = append(out, sdOID...)
	out = appendTL(out, 0xa0, tlvLen(sdBody))
	out = appendTL(out, 0x30, sdBody)
	out = append(out, version...)
	out = append(out, digestAlgs...)
	if encapsulate {
		out = appendTL(out, 0x30, len(dataOID)+tlvLen(tlvLen(len(content))))
		out = append(out, dataOID...)
		out = appendTL(out, 0xa0, tlvLen(len(content)))
		out = appendTL(out, 0x04, len(content))
		out = append(out, content...)
	} else {
		out = append(out, encapInfo...)
	}
	out = append(out, certs...)
	out = append(out, crls...)
	out = append(out, signerInfos...)
	return out, nil
}

// derOID returns the DER TLV of oid.
func derOID(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err) // only called with the constants above
	}
	return b
}

// tlvLen is the encoded size of a DER element with n content octets.
func tlvLen(n int) int { return 1 + ber.LenLen(n) + n }

// appendTL appends a DER tag and definite length.
func appendTL(dst []byte, tag byte, n int) []byte {
	return ber.AppendLength(append(dst, tag), n)
}
