package cms

import (
	"bytes"
	"crypto"
	"crypto/cipher"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	_ "crypto/sha256" // OAEP hashes
	_ "crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

var (
	// ErrNoRecipient is returned by Decrypt when no KeyTransRecipientInfo
	// addresses the given certificate (DecryptAny: any of them). The error
	// returned is a *NoRecipientError that wraps it.
	ErrNoRecipient = errors.New("envelope: message is not encrypted for this certificate")
	// ErrDecrypt is returned by Decrypt for any cryptographic failure after
	// the recipient was found: content-encryption key unwrap, CBC padding,
	// or GCM authentication. The causes are deliberately not distinguished.
	ErrDecrypt = errors.New("envelope: decryption failed")
	// ErrBadPadding is what DecryptStream returns for a CBC padding that
	// does not check; it is also ErrDecrypt (errors.Is), and its text is
	// ErrDecrypt's. dst has then received all the content, the last block
	// whole, so that a caller can go on with it as it would with a good
	// padding and answer in the same time (see DecryptStream).
	ErrBadPadding error = badPadding{}
)

type badPadding struct{}

func (badPadding) Error() string        { return ErrDecrypt.Error() }
func (badPadding) Is(target error) bool { return target == ErrDecrypt }

// maxAuthAttrsLen bounds the authenticated attributes we re-encode as AAD.
const maxAuthAttrsLen = 1 << 20

var hashOIDs = []struct {
	oid  []byte
	hash crypto.Hash
}{
	{mustOIDBytes(1, 3, 14, 3, 2, 26), crypto.SHA1},
	{mustOIDBytes(2, 16, 840, 1, 101, 3, 4, 2, 4), crypto.SHA224},
	{mustOIDBytes(2, 16, 840, 1, 101, 3, 4, 2, 1), crypto.SHA256},
	{mustOIDBytes(2, 16, 840, 1, 101, 3, 4, 2, 2), crypto.SHA384},
	{mustOIDBytes(2, 16, 840, 1, 101, 3, 4, 2, 3), crypto.SHA512},
}

// Decrypt parses a CMS ContentInfo holding EnvelopedData or
// AuthEnvelopedData (DER or BER, including indefinite lengths and
// constructed OCTET STRINGs), finds the KeyTransRecipientInfo addressed to
// cert (by issuerAndSerialNumber or subjectKeyIdentifier), unwraps the
// content-encryption key with key (rsaEncryption PKCS #1 v1.5 or
// RSAES-OAEP with SHA-1/224/256/384/512) and returns the decrypted content.
//
// Supported content encryption: AES-128/192/256-CBC and des-ede3-cbc in
// EnvelopedData; AES-128/192/256-GCM in AuthEnvelopedData (authAttrs, if
// present, are authenticated as RFC 5083 requires; tag lengths 12..16).
// GCM in EnvelopedData and CBC in AuthEnvelopedData are rejected.
//
// The inner content type is not checked; the content octets are returned
// as they are. The input is not modified; the result is a new buffer.
//
// PKCS #1 v1.5 unwrap uses implicit rejection (a random key on padding
// failure, RFC 3218 §2.3.2) and CBC padding is checked in constant time, so
// a failure only ever surfaces as ErrDecrypt. Note that CBC has no
// integrity protection: a wrong or tampered key/ciphertext is detected only
// when the padding happens to be invalid (about 255 in 256 cases).
func Decrypt(der []byte, cert *x509.Certificate, key crypto.Decrypter) ([]byte, error) {
	out, _, err := DecryptAny(der, []Recipient{{Cert: cert, Key: key}})
	return out, err
}

// Recipient is a certificate with its private key: an identity an
// enveloped message may be encrypted for.
type Recipient struct {
	Cert *x509.Certificate
	Key  crypto.Decrypter
}

// DecryptAny is Decrypt for a party that holds several identities a
// message may be encrypted for (a host's current and previous decryption
// certificates): it decrypts with the recipient the message's
// KeyTransRecipientInfos address and returns its index in recips. When
// they address several, the first of recips wins, so list the preferred
// identity first. When they address none, the error is a
// *NoRecipientError (errors.Is ErrNoRecipient) naming whom the message is
// encrypted for. The index is -1 when no recipient was chosen; after a
// failure past the choice (ErrDecrypt) it still says which was.
func DecryptAny(der []byte, recips []Recipient) ([]byte, int, error) {
	if err := checkRecipients(recips); err != nil {
		return nil, -1, err
	}
	chosen := -1
	out, err := decryptAny(der, recips, &chosen)
	return out, chosen, err
}

// checkRecipients checks that there is a recipient and that each key
// matches its certificate, before any work on the message.
func checkRecipients(recips []Recipient) error {
	if len(recips) == 0 {
		return errors.New("envelope: decrypting needs a certificate and a private key")
	}
	for _, r := range recips {
		if r.Cert == nil || r.Key == nil {
			return errors.New("envelope: decrypting needs a certificate and a private key")
		}
		if pub, ok := r.Key.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && !pub.Equal(r.Cert.PublicKey) {
			return errors.New("envelope: private key does not match the certificate")
		}
	}
	return nil
}

func decryptAny(der []byte, recips []Recipient, chosen *int) ([]byte, error) {

	ci, rest, err := parseElement(der, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: trailing data after ContentInfo", errMalformed)
	}
	if !ci.is(classUniversal, tagSequence) {
		return nil, fmt.Errorf("%w: ContentInfo is not a SEQUENCE", errMalformed)
	}
	r, err := ci.reader()
	if err != nil {
		return nil, err
	}
	ctE, err := r.next()
	if err != nil {
		return nil, err
	}
	ctOID, err := oidBody(&ctE)
	if err != nil {
		return nil, err
	}
	auth, err := envelopeKind(ctOID)
	if err != nil {
		return nil, err
	}
	explicit, err := r.expect(classContext, 0)
	if err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	er, err := explicit.reader()
	if err != nil {
		return nil, err
	}
	inner, err := er.expect(classUniversal, tagSequence)
	if err != nil {
		return nil, err
	}
	if err := er.end(); err != nil {
		return nil, err
	}
	return decryptInner(&inner, auth, recips, chosen)
}

func decryptInner(inner *element, auth bool, recips []Recipient, chosen *int) ([]byte, error) {
	r, err := inner.reader()
	if err != nil {
		return nil, err
	}
	vE, err := r.next()
	if err != nil {
		return nil, err
	}
	version, err := smallInt(&vE)
	if err != nil {
		return nil, err
	}
	if auth && version != 0 || !auth && version != 0 && version != 2 && version != 3 && version != 4 {
		return nil, fmt.Errorf("envelope: unsupported version %d", version)
	}
	if r.peekIs(classContext, 0) { // originatorInfo: not needed for key transport
		if _, err := r.next(); err != nil {
			return nil, err
		}
	}
	ris, err := r.expect(classUniversal, tagSet)
	if err != nil {
		return nil, err
	}
	eci, err := r.expect(classUniversal, tagSequence)
	if err != nil {
		return nil, err
	}
	var aad, mac []byte
	if auth {
		if r.peekIs(classContext, 1) { // authAttrs: authenticated with the SET OF tag
			aa, err := r.next()
			if err != nil {
				return nil, err
			}
			if !aa.constructed || len(aa.raw) > maxAuthAttrsLen {
				return nil, fmt.Errorf("%w: authAttrs", errMalformed)
			}
			if aad, err = toDER(&aa); err != nil {
				return nil, err
			}
			aad[0] = 0x31
		}
		m, err := r.expect(classUniversal, tagOctetString)
		if err != nil {
			return nil, err
		}
		if mac, err = octets(&m); err != nil {
			return nil, err
		}
		if r.peekIs(classContext, 2) { // unauthAttrs
			if _, err := r.next(); err != nil {
				return nil, err
			}
		}
	} else if r.peekIs(classContext, 1) { // unprotectedAttrs
		if _, err := r.next(); err != nil {
			return nil, err
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}

	// EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm,
	//     encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL }
	cr, err := eci.reader()
	if err != nil {
		return nil, err
	}
	if _, err := cr.expect(classUniversal, tagOID); err != nil {
		return nil, err
	}
	algE, err := cr.next()
	if err != nil {
		return nil, err
	}
	algOID, params, err := algorithmIdentifier(&algE)
	if err != nil {
		return nil, err
	}
	if cr.empty() {
		return nil, errors.New("envelope: detached encrypted content is not supported")
	}
	ec, err := cr.expect(classContext, 0)
	if err != nil {
		return nil, err
	}
	if err := cr.end(); err != nil {
		return nil, err
	}
	spec, ok := specByOID(algOID)
	if !ok {
		return nil, fmt.Errorf("envelope: unsupported content-encryption algorithm %s", oidString(algOID))
	}
	if spec.gcm != auth {
		if auth {
			return nil, fmt.Errorf("envelope: %s is not an authenticated algorithm (AuthEnvelopedData)", spec.name)
		}
		return nil, fmt.Errorf("envelope: %s must be carried in AuthEnvelopedData (RFC 5084), not EnvelopedData", spec.name)
	}

	// Check the algorithm parameters before the (costly) RSA operation.
	var (
		iv, nonce []byte
		tagLen    int
	)
	if spec.gcm {
		if nonce, tagLen, err = gcmParameters(params); err != nil {
			return nil, err
		}
		if len(mac) != tagLen {
			return nil, fmt.Errorf("%w: mac length %d, aes-ICVlen %d", errMalformed, len(mac), tagLen)
		}
	} else {
		if params == nil || !params.is(classUniversal, tagOctetString) {
			return nil, fmt.Errorf("%w: CBC parameters are not an OCTET STRING", errMalformed)
		}
		if iv, err = octets(params); err != nil {
			return nil, err
		}
	}

	cek, err := recipientKey(&ris, recips, spec.keyLen, chosen)
	if err != nil {
		return nil, err
	}
	defer clear(cek)
	block, err := spec.newBlk(cek)
	if err != nil {
		return nil, ErrDecrypt
	}

	// Gather the ciphertext into a fresh buffer with room for the tag and
	// decrypt it in place.
	buf, err := gatherOctets(&ec, len(mac))
	if err != nil {
		return nil, err
	}
	if spec.gcm {
		var aead cipher.AEAD
		switch {
		case len(nonce) == gcmNonceSize:
			aead, err = cipher.NewGCMWithTagSize(block, tagLen)
		case tagLen == 16:
			aead, err = cipher.NewGCMWithNonceSize(block, len(nonce))
		default:
			err = fmt.Errorf("envelope: unsupported GCM nonce length %d with tag length %d", len(nonce), tagLen)
		}
		if err != nil {
			return nil, err
		}
		n := len(buf)
		buf = append(buf, mac...) // within capacity
		pt, err := aead.Open(buf[:0], nonce, buf, aad)
		if err != nil {
			return nil, ErrDecrypt
		}
		return pt[:n:n], nil
	}
	bs := block.BlockSize()
	if len(iv) != bs {
		return nil, fmt.Errorf("%w: IV length %d", errMalformed, len(iv))
	}
	if len(buf) == 0 || len(buf)%bs != 0 {
		return nil, fmt.Errorf("%w: ciphertext length %d is not a positive multiple of the block size", errMalformed, len(buf))
	}
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, buf)
	n, ok := unpad(buf, bs)
	if !ok {
		return nil, ErrDecrypt
	}
	return buf[:n:n], nil
}

// gcmParameters parses GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING,
// aes-ICVlen AES-GCM-ICVlen DEFAULT 12 } (RFC 5084).
func gcmParameters(p *element) (nonce []byte, tagLen int, err error) {
	if p == nil || !p.is(classUniversal, tagSequence) {
		return nil, 0, fmt.Errorf("%w: GCM parameters are not a SEQUENCE", errMalformed)
	}
	r, err := p.reader()
	if err != nil {
		return nil, 0, err
	}
	nE, err := r.expect(classUniversal, tagOctetString)
	if err != nil {
		return nil, 0, err
	}
	if nonce, err = octets(&nE); err != nil {
		return nil, 0, err
	}
	tagLen = 12
	if !r.empty() {
		tE, err := r.next()
		if err != nil {
			return nil, 0, err
		}
		if tagLen, err = smallInt(&tE); err != nil {
			return nil, 0, err
		}
	}
	if err := r.end(); err != nil {
		return nil, 0, err
	}
	if tagLen < 12 || tagLen > 16 {
		return nil, 0, fmt.Errorf("%w: aes-ICVlen %d", errMalformed, tagLen)
	}
	if len(nonce) == 0 || len(nonce) > 64 {
		return nil, 0, fmt.Errorf("%w: GCM nonce length %d", errMalformed, len(nonce))
	}
	return nonce, tagLen, nil
}

// gatherOctets copies the value of a (possibly constructed) OCTET STRING
// into a new buffer of capacity len+spare.
func gatherOctets(e *element, spare int) ([]byte, error) {
	n := 0
	if err := walkOctets(e, func(b []byte) { n += len(b) }); err != nil {
		return nil, err
	}
	out := make([]byte, 0, n+spare)
	_ = walkOctets(e, func(b []byte) { out = append(out, b...) })
	return out, nil
}

// unpad checks PKCS #7 padding on the last block in constant time and
// returns the unpadded length.
func unpad(b []byte, bs int) (int, bool) {
	n := len(b)
	last := int(b[n-1])
	good := subtle.ConstantTimeLessOrEq(1, last) & subtle.ConstantTimeLessOrEq(last, bs)
	for i := 1; i <= bs; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, last)
		eq := subtle.ConstantTimeByteEq(b[n-i], byte(last))
		good &= subtle.ConstantTimeSelect(inPad, eq, 1)
	}
	return n - subtle.ConstantTimeSelect(good, last, 0), good == 1
}

// recipientKey finds the KeyTransRecipientInfo addressed to one of
// recips, the first of recips that one addresses, sets *chosen to its
// index and unwraps the content-encryption key of length keyLen with its
// key. None addressed is a *NoRecipientError naming those the message is
// for.
func recipientKey(ris *element, recips []Recipient, keyLen int, chosen *int) ([]byte, error) {
	r, err := ris.reader()
	if err != nil {
		return nil, err
	}
	skis := make([][]byte, len(recips)) // computed lazily
	var (
		best     = len(recips) // index of the recipient chosen so far
		bestAlg  element
		bestKey  element
		intended []string // whom the message is for, when none of recips
	)
	for !r.empty() {
		ri, err := r.next()
		if err != nil {
			return nil, err
		}
		if !ri.is(classUniversal, tagSequence) {
			continue // kari [1], kekri [2], pwri [3], ori [4]: not ours
		}
		kr, err := ri.reader()
		if err != nil {
			return nil, err
		}
		vE, err := kr.next()
		if err != nil {
			return nil, err
		}
		if _, err := smallInt(&vE); err != nil {
			return nil, err
		}
		rid, err := kr.next()
		if err != nil {
			return nil, err
		}
		var (
			matches  func(i int) bool
			describe func() string
		)
		switch {
		case rid.is(classUniversal, tagSequence): // IssuerAndSerialNumber
			rr, err := rid.reader()
			if err != nil {
				return nil, err
			}
			issuer, err := rr.expect(classUniversal, tagSequence)
			if err != nil {
				return nil, err
			}
			sE, err := rr.next()
			if err != nil {
				return nil, err
			}
			serial, err := bigInt(&sE)
			if err != nil {
				return nil, err
			}
			if err := rr.end(); err != nil {
				return nil, err
			}
			matches = func(i int) bool {
				c := recips[i].Cert
				return c.SerialNumber != nil && serial.Cmp(c.SerialNumber) == 0 && issuerMatches(&issuer, c)
			}
			describe = func() string { return describeIssuerSerial(&issuer, serial) }
		case rid.is(classContext, 0): // [0] SubjectKeyIdentifier
			id, err := octets(&rid)
			if err != nil {
				return nil, err
			}
			matches = func(i int) bool {
				if skis[i] == nil {
					skis[i] = subjectKeyID(recips[i].Cert)
				}
				return len(id) > 0 && bytes.Equal(id, skis[i])
			}
			describe = func() string { return fmt.Sprintf("subject key identifier %X", clipBytes(id)) }
		default:
			return nil, fmt.Errorf("%w: unknown RecipientIdentifier", errMalformed)
		}
		algE, err := kr.expect(classUniversal, tagSequence)
		if err != nil {
			return nil, err
		}
		ekE, err := kr.expect(classUniversal, tagOctetString)
		if err != nil {
			return nil, err
		}
		if err := kr.end(); err != nil {
			return nil, err
		}
		found := false
		for i := range best {
			if matches(i) {
				best, bestAlg, bestKey, found = i, algE, ekE, true
				break
			}
		}
		if best == 0 {
			break // none can come before the first
		}
		if !found && best == len(recips) && len(intended) < maxIntended {
			intended = append(intended, describe())
		}
	}
	if best == len(recips) {
		return nil, &NoRecipientError{Intended: intended}
	}
	*chosen = best
	ek, err := octets(&bestKey)
	if err != nil {
		return nil, err
	}
	return unwrapKey(&bestAlg, ek, recips[best].Key, keyLen)
}

// maxIntended bounds the recipients a NoRecipientError names: a real
// message has one or two, and the list goes into an operator's reason.
const maxIntended = 4

// NoRecipientError is the error of a message encrypted for none of the
// identities given: it names whom it is encrypted for, so that an operator
// can tell which certificate the partner used.
type NoRecipientError struct {
	// Intended describes the KeyTransRecipientInfos' recipients, by
	// issuer and serial number or by subject key identifier (at most
	// maxIntended of them); empty when the message has none of that kind.
	Intended []string
}

func (e *NoRecipientError) Error() string {
	if len(e.Intended) == 0 {
		return ErrNoRecipient.Error() + " (it has no key transport recipient)"
	}
	return fmt.Sprintf("%s (it is encrypted for %s)", ErrNoRecipient, strings.Join(e.Intended, "; "))
}

// Unwrap makes errors.Is(err, ErrNoRecipient) hold.
func (e *NoRecipientError) Unwrap() error { return ErrNoRecipient }

// describeIssuerSerial is DescribeIssuerSerial for an issuer element.
func describeIssuerSerial(issuer *element, serial *big.Int) string {
	d, err := toDER(issuer)
	if err != nil {
		d = nil
	}
	return DescribeIssuerSerial(d, serial)
}

// DescribeIssuerSerial renders an IssuerAndSerialNumber (a DER-encoded
// issuer Name and a serial number) for a person, as Go renders certificate
// names and OpenSSL serials (hex); a name that does not parse is shown as
// such. Whoever made the message chose both: they are clipped, and the
// caller's output is cleaned as any text from a message is.
func DescribeIssuerSerial(issuerDER []byte, serial *big.Int) string {
	name := "an unreadable issuer name"
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(issuerDER, &rdn); err == nil && len(rest) == 0 {
		var n pkix.Name
		n.FillFromRDNSequence(&rdn)
		name = fmt.Sprintf("%q", clipString(n.String()))
	}
	s := "none"
	if serial != nil {
		s = serial.Text(16)
		if len(s) > 64 {
			s = s[:64] + "..."
		}
	}
	return fmt.Sprintf("issuer %s, serial %s", name, s)
}

func clipString(s string) string {
	const max = 200
	if len(s) > max {
		return strings.ToValidUTF8(s[:max], "") + "..."
	}
	return s
}

func clipBytes(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func issuerMatches(issuer *element, cert *x509.Certificate) bool {
	if bytes.Equal(issuer.raw, cert.RawIssuer) {
		return true
	}
	// A BER-encoded name (indefinite lengths, long-form lengths) is
	// compared after re-encoding; an oversized one cannot be the
	// certificate's issuer, so do not spend work on it.
	if len(issuer.raw) > 4*len(cert.RawIssuer)+1024 {
		return false
	}
	d, err := toDER(issuer)
	return err == nil && bytes.Equal(d, cert.RawIssuer)
}

// subjectKeyID returns the certificate's subjectKeyIdentifier, or if it has
// none, the RFC 5280 method-1 value (SHA-1 of the subjectPublicKey bits).
func subjectKeyID(cert *x509.Certificate) []byte {
	if len(cert.SubjectKeyId) > 0 {
		return cert.SubjectKeyId
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return []byte{} // non-nil: do not recompute; matches nothing
	}
	h := sha1.Sum(spki.PublicKey.Bytes)
	return h[:]
}

func unwrapKey(algE *element, ek []byte, key crypto.Decrypter, keyLen int) ([]byte, error) {
	oid, params, err := algorithmIdentifier(algE)
	if err != nil {
		return nil, err
	}
	var opts crypto.DecrypterOpts
	switch {
	case bytes.Equal(oid, oidRSAEncryption):
		if !isAbsentOrNull(params) {
			return nil, fmt.Errorf("%w: rsaEncryption parameters", errMalformed)
		}
		// Implicit rejection: on bad padding a random key of the right
		// length is returned, and decryption fails later.
		//lint:ignore SA1019 rsaEncryption key transport is PKCS #1 v1.5 (RFC 5652); partners send it
		opts = &rsa.PKCS1v15DecryptOptions{SessionKeyLen: keyLen}
	case bytes.Equal(oid, oidRSAESOAEP):
		if opts, err = oaepOptions(params); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("envelope: unsupported key-encryption algorithm %s", oidString(oid))
	}
	cek, err := key.Decrypt(crand.Reader, ek, opts)
	if err != nil || len(cek) != keyLen {
		return nil, ErrDecrypt
	}
	return cek, nil
}

// oaepOptions parses RSAES-OAEP-params (RFC 4055 / RFC 8017 A.2.1):
//
//	SEQUENCE { hashAlgorithm [0] EXPLICIT DEFAULT sha1,
//	           maskGenAlgorithm [1] EXPLICIT DEFAULT mgf1SHA1,
//	           pSourceAlgorithm [2] EXPLICIT DEFAULT pSpecifiedEmpty }
func oaepOptions(params *element) (*rsa.OAEPOptions, error) {
	opts := &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
	if isAbsentOrNull(params) {
		return opts, nil
	}
	if !params.is(classUniversal, tagSequence) {
		return nil, fmt.Errorf("%w: RSAES-OAEP-params", errMalformed)
	}
	r, err := params.reader()
	if err != nil {
		return nil, err
	}
	explicitAlg := func(tag uint32) ([]byte, *element, error) {
		e, err := r.expect(classContext, tag)
		if err != nil {
			return nil, nil, err
		}
		er, err := e.reader()
		if err != nil {
			return nil, nil, err
		}
		a, err := er.next()
		if err != nil {
			return nil, nil, err
		}
		if err := er.end(); err != nil {
			return nil, nil, err
		}
		return algorithmIdentifier(&a)
	}
	if r.peekIs(classContext, 0) {
		oid, p, err := explicitAlg(0)
		if err != nil {
			return nil, err
		}
		if opts.Hash, err = hashByOID(oid, p); err != nil {
			return nil, err
		}
	}
	if r.peekIs(classContext, 1) {
		oid, p, err := explicitAlg(1)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(oid, oidMGF1) || p == nil {
			return nil, fmt.Errorf("envelope: unsupported OAEP mask generation function %s", oidString(oid))
		}
		hOID, hp, err := algorithmIdentifier(p)
		if err != nil {
			return nil, err
		}
		if opts.MGFHash, err = hashByOID(hOID, hp); err != nil {
			return nil, err
		}
	}
	if r.peekIs(classContext, 2) {
		oid, p, err := explicitAlg(2)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(oid, oidPSpecified) || p == nil || !p.is(classUniversal, tagOctetString) {
			return nil, fmt.Errorf("envelope: unsupported OAEP pSourceAlgorithm %s", oidString(oid))
		}
		label, err := octets(p)
		if err != nil {
			return nil, err
		}
		if len(label) > 0 {
			opts.Label = label
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return opts, nil
}

func hashByOID(oid []byte, params *element) (crypto.Hash, error) {
	if !isAbsentOrNull(params) {
		return 0, fmt.Errorf("%w: hash algorithm parameters", errMalformed)
	}
	for _, h := range hashOIDs {
		if bytes.Equal(h.oid, oid) && h.hash.Available() {
			return h.hash, nil
		}
	}
	return 0, fmt.Errorf("envelope: unsupported hash algorithm %s", oidString(oid))
}

// oidString renders OID contents octets for error messages. Whoever made
// the message chose them: one longer than any real OID is named by its
// start, so the error does not grow with the message.
func oidString(body []byte) string {
	var oid asn1.ObjectIdentifier
	if len(body) > 127 {
		return fmt.Sprintf("(OID of %d octets, starting %x...)", len(body), body[:16])
	}
	if _, err := asn1.Unmarshal(append([]byte{0x06, byte(len(body))}, body...), &oid); err != nil {
		return fmt.Sprintf("(invalid OID %x)", body)
	}
	return oid.String()
}

// envelopeKind tells an AuthEnvelopedData (true) from an EnvelopedData by
// the ContentInfo's content type, and refuses anything else.
func envelopeKind(ctOID []byte) (auth bool, err error) {
	switch {
	case bytes.Equal(ctOID, oidEnvelopedData):
		return false, nil
	case bytes.Equal(ctOID, oidAuthEnvelopedData):
		return true, nil
	}
	return false, errors.New("envelope: content type is neither envelopedData nor authEnvelopedData")
}
