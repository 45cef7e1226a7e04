package cms

import (
	"bytes"
	"crypto/cipher"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"

	"github.com/bizpipe/bizpipe/internal/ber"
	"github.com/bizpipe/bizpipe/internal/cms/aescbc"
	"github.com/bizpipe/bizpipe/internal/pki/certinfo"
)

var (
	oidData              = mustOIDBytes(1, 2, 840, 113549, 1, 7, 1)
	oidEnvelopedData     = mustOIDBytes(1, 2, 840, 113549, 1, 7, 3)
	oidAuthEnvelopedData = mustOIDBytes(1, 2, 840, 113549, 1, 9, 16, 1, 23)
	oidRSAEncryption     = mustOIDBytes(1, 2, 840, 113549, 1, 1, 1)
	oidRSAESOAEP         = mustOIDBytes(1, 2, 840, 113549, 1, 1, 7)
	oidMGF1              = mustOIDBytes(1, 2, 840, 113549, 1, 1, 8)
	oidPSpecified        = mustOIDBytes(1, 2, 840, 113549, 1, 1, 9)
)

const (
	gcmNonceSize = 12
	gcmTagSize   = 16 // written as aes-ICVlen 16, as OpenSSL does
)

// Encrypt envelopes content for each recipient and returns the DER encoding
// of a CMS ContentInfo:
//
//   - for CBC algorithms (AES128CBC, AES256CBC, DES3CBC): id-envelopedData,
//     EnvelopedData version 0, random IV as the algorithm parameter, PKCS #7
//     padding;
//   - for GCM algorithms (AES128GCM, AES256GCM): id-ct-authEnvelopedData,
//     AuthEnvelopedData version 0, GCMParameters with a random 12-byte nonce
//     and aes-ICVlen 16, the tag in mac, no authAttrs.
//
// The inner content type is id-data. Each recipient gets a
// KeyTransRecipientInfo (version 0, issuerAndSerialNumber, rsaEncryption
// PKCS #1 v1.5). Recipients must have RSA public keys; their key usage is not
// checked here (that is configuration validation's job).
//
// rand supplies the content-encryption key, IV/nonce and RSA padding; nil
// means crypto/rand.Reader. (Since Go 1.26 crypto/rsa ignores a custom
// reader for padding unless GODEBUG=cryptocustomrand=1.)
//
// The output is built in one allocation of the exact final size and the
// content is encrypted straight into it; content is not modified.
func Encrypt(rand io.Reader, content []byte, alg Algorithm, recipients ...*x509.Certificate) ([]byte, error) {
	if alg.Authenticated() && uint64(len(content)) > gcmMaxPlaintext {
		return nil, fmt.Errorf("envelope: %w", errGCMTooLarge)
	}
	if rand == nil {
		rand = crand.Reader
	}
	spec, block, newCBC, ris, err := contentKey(rand, alg, recipients)
	if err != nil {
		return nil, err
	}
	riSet := tlv(0x31, ris...)

	// Algorithm identifier and ciphertext length.
	if spec.gcm {
		nonce := make([]byte, gcmNonceSize)
		if _, err := io.ReadFull(rand, nonce); err != nil {
			return nil, fmt.Errorf("envelope: reading random nonce: %w", err)
		}
		aead, err := cipher.NewGCMWithTagSize(block, gcmTagSize)
		if err != nil {
			return nil, fmt.Errorf("envelope: %w", err)
		}
		// GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 }
		params := tlv(0x30, tlv(0x04, nonce), []byte{0x02, 0x01, gcmTagSize})
		algID := tlv(0x30, tlv(0x06, spec.oid), params)
		ctLen := len(content)
		macLen := 2 + gcmTagSize
		return assemble(algID, riSet, ctLen, macLen, oidAuthEnvelopedData, func(ct []byte) {
			// Seal writes ciphertext||tag starting at ct[0]; the caller's
			// layout has 2 spare octets after the ciphertext for the mac
			// header, so move the tag up and write "04 10" in front of it.
			out := aead.Seal(ct[:0], nonce, content, nil)
			if len(out) > 0 && &out[0] != &ct[0] {
				copy(ct, out) // cannot happen (cap is sufficient); be safe
			}
			copy(ct[ctLen+2:ctLen+2+gcmTagSize], ct[ctLen:ctLen+gcmTagSize])
			ct[ctLen] = 0x04
			ct[ctLen+1] = gcmTagSize
		}), nil
	}

	bs := block.BlockSize()
	iv := make([]byte, bs)
	if _, err := io.ReadFull(rand, iv); err != nil {
		return nil, fmt.Errorf("envelope: reading random IV: %w", err)
	}
	algID := tlv(0x30, tlv(0x06, spec.oid), tlv(0x04, iv))
	ctLen := (len(content)/bs + 1) * bs
	cbc, err := newCBC(iv)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return assemble(algID, riSet, ctLen, 0, oidEnvelopedData, func(ct []byte) {
		full := len(content) / bs * bs
		cbc.CryptBlocks(ct[:full], content[:full])
		// Last block: remaining bytes plus PKCS #7 padding (1..bs octets).
		last := ct[full:ctLen]
		n := copy(last, content[full:])
		for i := n; i < bs; i++ {
			last[i] = byte(bs - n)
		}
		cbc.CryptBlocks(last, last)
	}), nil
}

// assemble lays out
//
//	ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT SEQUENCE {
//	    version 0, recipientInfos, EncryptedContentInfo ::= SEQUENCE {
//	        id-data, algID, [0] IMPLICIT OCTET STRING (ctLen octets) }
//	    [mac OCTET STRING (macLen octets incl. header)] } }
//
// in one exact-size buffer and calls fill with the slice starting at the
// ciphertext, of length ctLen+macLen.
func assemble(algID, riSet []byte, ctLen, macLen int, contentType []byte, fill func(ct []byte)) []byte {
	dataOID := tlv(0x06, oidData)
	eciBody := len(dataOID) + len(algID) + 1 + ber.LenLen(ctLen) + ctLen
	innerBody := 3 + len(riSet) + 1 + ber.LenLen(eciBody) + eciBody + macLen
	explicitBody := 1 + ber.LenLen(innerBody) + innerBody
	typeOID := tlv(0x06, contentType)
	ciBody := len(typeOID) + 1 + ber.LenLen(explicitBody) + explicitBody
	total := 1 + ber.LenLen(ciBody) + ciBody

	out := make([]byte, 0, total)
	out = append(out, 0x30)
	out = appendLength(out, ciBody)
	out = append(out, typeOID...)
	out = append(out, 0xa0)
	out = appendLength(out, explicitBody)
	out = append(out, 0x30)
	out = appendLength(out, innerBody)
	out = append(out, 0x02, 0x01, 0x00) // version 0
	out = append(out, riSet...)
	out = append(out, 0x30)
	out = appendLength(out, eciBody)
	out = append(out, dataOID...)
	out = append(out, algID...)
	out = append(out, 0x80) // [0] IMPLICIT OCTET STRING, primitive
	out = appendLength(out, ctLen)
	start := len(out)
	out = out[:total]
	fill(out[start:])
	return out
}

// keyTransRecipientInfo builds
//
//	KeyTransRecipientInfo ::= SEQUENCE { version 0, IssuerAndSerialNumber,
//	    rsaEncryption, encryptedKey OCTET STRING }
func keyTransRecipientInfo(rand io.Reader, cert *x509.Certificate, cek []byte) ([]byte, error) {
	if cert == nil {
		return nil, errors.New("nil certificate")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		// Named in words, as validate names it (BP4005): a Go type
		// (*ecdsa.PublicKey) means nothing to an operator.
		return nil, fmt.Errorf("certificate %q has %s key; only RSA key transport is supported", cert.Subject, certinfo.WithArticle(certinfo.Algorithm(cert)))
	}
	if len(cert.RawIssuer) == 0 || cert.SerialNumber == nil {
		return nil, errors.New("certificate has no issuer or serial number (not parsed by x509.ParseCertificate?)")
	}
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return nil, err
	}
	// PKCS #1 v1.5, deprecated in Go 1.26 for new protocols, is what
	// rsaEncryption key transport is (RFC 5652 and 8551), and what BizTalk
	// and most partners' S/MIME stacks expect.
	//lint:ignore SA1019 the S/MIME key transport the issue and partners require
	ek, err := rsa.EncryptPKCS1v15(rand, pub, cek)
	if err != nil {
		return nil, err
	}
	return tlv(0x30,
		[]byte{0x02, 0x01, 0x00},
		tlv(0x30, cert.RawIssuer, serial),
		tlv(0x30, tlv(0x06, oidRSAEncryption), []byte{0x05, 0x00}),
		tlv(0x04, ek),
	), nil
}

// setOddParity sets the DES parity bit of each key octet (as OpenSSL does
// for generated DES keys; Go's DES ignores parity).
func setOddParity(k []byte) {
	for i, b := range k {
		b &^= 1
		if bits.OnesCount8(b)%2 == 0 {
			b |= 1
		}
		k[i] = b
	}
}

// newCBCFunc makes the content encrypter of a CBC algorithm for an IV.
type newCBCFunc func(iv []byte) (cipher.BlockMode, error)

// contentKey draws a content-encryption key for alg and wraps it for each
// recipient: the cipher keyed with it, for CBC algorithms the maker of the
// CBC encrypter (nil for GCM), and the RecipientInfos sorted for a DER SET
// OF. The key itself does not outlive the call.
func contentKey(rand io.Reader, alg Algorithm, recipients []*x509.Certificate) (*cipherSpec, cipher.Block, newCBCFunc, [][]byte, error) {
	spec, ok := alg.spec()
	if !ok {
		return nil, nil, nil, nil, fmt.Errorf("envelope: invalid algorithm %v", alg)
	}
	if len(recipients) == 0 {
		return nil, nil, nil, nil, errors.New("envelope: no recipients")
	}
	cek := make([]byte, spec.keyLen)
	defer clear(cek)
	if _, err := io.ReadFull(rand, cek); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("envelope: reading random key: %w", err)
	}
	if alg == DES3CBC {
		setOddParity(cek)
	}
	block, err := spec.newBlk(cek)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("envelope: %w", err)
	}
	var newCBC newCBCFunc
	switch {
	case spec.gcm:
	case alg == DES3CBC:
		newCBC = func(iv []byte) (cipher.BlockMode, error) { return cipher.NewCBCEncrypter(block, iv), nil }
	default:
		// AES: crypto/cipher has no assembly for CBC encryption on amd64,
		// aescbc has. The IV is drawn later, so the key is expanded now.
		k, err := aescbc.NewKey(cek)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("envelope: %w", err)
		}
		newCBC = k.NewEncrypter
	}
	ris := make([][]byte, 0, len(recipients))
	for i, cert := range recipients {
		ri, err := keyTransRecipientInfo(rand, cert, cek)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("envelope: recipient %d: %w", i, err)
		}
		ris = append(ris, ri)
	}
	slices.SortFunc(ris, bytes.Compare)
	return spec, block, newCBC, ris, nil
}
