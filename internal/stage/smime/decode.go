package smime

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/bizpipe/bizpipe/internal/ber"
	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/pki/certinfo"
)

// DecodeOptions holds what Decode needs to decrypt and verify.
type DecodeOptions struct {
	// Cert and Key decrypt enveloped messages addressed to Cert. Both are
	// needed only when the message is encrypted.
	Cert *x509.Certificate
	Key  crypto.Decrypter
	// Previous are more certificates with their keys that decrypt
	// enveloped messages addressed to them: a host's previous decryption
	// certificates, which partners that have not switched to Cert yet
	// still encrypt for. The key is chosen by the message's recipient
	// infos, Cert first when it is one of them.
	Previous []cms.Recipient

	// Roots are the trust anchors for signature verification. A signed
	// message is rejected when Roots is nil: a signature that is not
	// checked against trust anchors proves nothing.
	Roots *x509.CertPool
	// Certs are extra certificates: the signer's certificate for
	// signatures that do not embed it (include_certificate = false), and
	// intermediate CAs. They are candidates, not trust anchors.
	Certs []*x509.Certificate
	// Parties, when not nil, are the parties' signing certificates, of
	// which Roots then holds those that may sign, and nothing else (a
	// decoder stage's: all of them, each certificate its own anchor; an
	// AS2 MDN's: its partner's). A signer whose certificate does not
	// verify is then refused as what it is to them: the signing
	// certificate of no party, or, when it has the issuer and serial
	// number of a party's certificate, a certificate that does not match
	// that one; not by the chain error ("certificate signed by unknown
	// authority"), which would point at a party's certificate. A party's
	// own certificate that does not verify (expired, say) keeps its
	// error, unless Party names another party.
	Parties []component.PartyCertificate
	// Party, with Parties, is the one party whose certificates Roots
	// holds (an AS2 MDN's partner): a signer that is another party's
	// signing certificate is refused naming both parties, not by its
	// chain error.
	Party string
	// AbsentParties, with Parties, are the parties' signing certificates
	// the store lacks: a signer that is one of them is refused saying
	// which party lists it and which store lacks it.
	AbsentParties []component.AbsentPartyCertificate
	// Now is the time at which certificates must be valid; zero means the
	// current time.
	Now time.Time
	// Unverified makes DecodeStream unwrap signature layers without
	// verifying them (Roots and Certs are then not used): the result says
	// Signed false and no Signer. For a receiver that does not require
	// signatures and treats what it decodes as unauthenticated, as it
	// would an unsigned message. Decode does not support it.
	Unverified bool
	// KeepSignatures makes DecodeStream stop at the first signature
	// layer, unverified, and write it whole (header and body as they
	// came) instead of unwrapping it: for a stage that does not verify,
	// followed by one that does, which must find the signature.
	// DecodeResult.Whole says when it did; the MIC is still computed
	// over what that layer signs. Decode does not support it.
	KeepSignatures bool
	// SpoolDir is where DecodeStream keeps its temporary files (unlinked
	// while in use, so they never outlive the call); "" means
	// os.TempDir(). Decode does not use it.
	SpoolDir string

	// trace, if set (tests only), is told each layer DecodeStream reads
	// and each check it passes, in order: what it did, not how long.
	trace func(step string)
	// spoolPeak, if set (tests only), receives the most DecodeStream's
	// spool files held at once, in octets, counting what it writes to dst
	// as one more (the runner's dst is a spool file too).
	spoolPeak *int64

	// MICHash, when not zero, makes the decoder also compute the AS2
	// message integrity check (RFC 4130 §7.3.1) with this hash, returned
	// in MIC: over the content of the outermost signature as it verified
	// (the signed entity, header fields and transfer encoding included),
	// else over the outermost decrypted entity, else over the body as
	// received (before its transfer encoding is undone).
	MICHash crypto.Hash
}

// Decoded is the content of an S/MIME message.
type Decoded struct {
	// ContentType is the Content-Type of the innermost entity, as written
	// in its header (text/plain; charset=us-ascii when absent).
	ContentType string
	// Body is the innermost body with its transfer encoding undone: the
	// exact octets the sender encoded. Decode does not convert line breaks
	// in either direction, so for text/* from a conforming sender (and
	// always from Encoder) this is the CRLF canonical form that was
	// signed; the sender's local line-break convention is not recoverable.
	// Body never aliases the input.
	Body []byte
	// Signed reports that at least one signature layer was verified.
	Signed bool
	// Signer is the certificate of the innermost verified signature.
	Signer *x509.Certificate
	// Encrypted reports that at least one layer was enveloped (and
	// decrypted).
	Encrypted bool
	// DecryptedWith is the certificate (Cert or one of Previous) whose key
	// decrypted the outermost enveloped layer; nil when none was.
	DecryptedWith *x509.Certificate
	// MIC is the AS2 message integrity check when DecodeOptions.MICHash
	// was set.
	MIC []byte
}

// maxNesting bounds the number of S/MIME layers, so a hostile message
// cannot make Decode recurse without end.
const maxNesting = 8

// Decode reads an S/MIME message: any nesting of multipart/signed,
// application/pkcs7-mime signed-data, enveloped-data and authEnveloped-data
// (also with the legacy application/x-pkcs7-* types written by
// "openssl smime"), around a plain MIME entity. Line breaks may be CRLF or
// bare LF.
//
// Every signature is verified: the message digest (sha256, sha384, sha512
// or sha1) and signature (RSA PKCS #1 v1.5 or RSASSA-PSS, ECDSA), the
// signer's certificate chain to opts.Roots at opts.Now, a key usage that allows signing (digitalSignature or
// nonRepudiation when the extension is present) and an extended key usage
// that allows email protection (when present). Any failure is an error; Decode never returns content whose
// signature did not verify. A clear-signed part is verified as received
// and, when that fails on the message digest, also with bare LFs restored
// to CRLF (and, for ambiguous line breaks, with the part's trailing CR
// kept), because the canonical form is what was signed; the content
// returned is the one that verified.
//
// Hostile input yields an error, never a panic.
//
// Decode is DecodeStream over the in-memory message (its temporary files
// go to opts.SpoolDir), so both accept and return the same.
func Decode(entity []byte, opts DecodeOptions) (*Decoded, error) {
	var body bytes.Buffer
	res, err := DecodeStream(context.Background(), bytes.NewReader(entity), &body, opts)
	if err != nil {
		return nil, err
	}
	return &Decoded{
		ContentType:   res.ContentType,
		Body:          body.Bytes(),
		Signed:        res.Signed,
		Signer:        res.Signer,
		Encrypted:     res.Encrypted,
		DecryptedWith: res.DecryptedWith,
		MIC:           res.MIC,
	}, nil
}

// decodeInMemory is the original in-memory implementation of Decode. The
// tests keep it as an independent reference: DecodeStream must accept and
// return what it does (decodeBoth, FuzzDecode).
func decodeInMemory(entity []byte, opts DecodeOptions) (*Decoded, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	d := &Decoded{}
	if err := decodeEntity(entity, &opts, d, 0); err != nil {
		return nil, err
	}
	return d, nil
}

func decodeEntity(raw []byte, opts *DecodeOptions, d *Decoded, depth int) error {
	if depth >= maxNesting {
		return fmt.Errorf("smime: more than %d nested S/MIME layers", maxNesting)
	}
	fields, body, err := parseEntity(raw)
	if err != nil {
		return fmt.Errorf("smime: %w", err)
	}
	ct, ok, err := headerValue(fields, "Content-Type")
	if err != nil {
		return fmt.Errorf("smime: %w", err)
	}
	if !ok {
		ct = "text/plain; charset=us-ascii" // RFC 2045 §5.2
	}
	cte, _, err := headerValue(fields, "Content-Transfer-Encoding")
	if err != nil {
		return fmt.Errorf("smime: %w", err)
	}
	cte = strings.ToLower(cte)
	mt, params, err := ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("smime: invalid Content-Type %q: %w", clip(ct), err)
	}

	switch mt {
	case "multipart/signed":
		content, err := verifyMultipartSigned(body, params, opts, d)
		if err != nil {
			return err
		}
		return decodeEntity(content, opts, d, depth+1)

	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		der, err := decodeTransfer(body, cte)
		if err != nil {
			return fmt.Errorf("smime: %s body: %w", mt, err)
		}
		// The CMS content type decides, not the smime-type parameter:
		// it is optional in old messages and not signed anyway.
		oid, err := contentInfoType(der)
		if err != nil {
			return fmt.Errorf("smime: %s body: %w", mt, err)
		}
		var content []byte
		switch {
		case oid.Equal(oidSignedData):
			content, err = verifySignedData(der, nil, opts, d)
		case oid.Equal(oidEnvelopedData), oid.Equal(oidAuthEnvelopedData):
			var with *x509.Certificate
			content, with, err = decrypt(der, opts)
			if d.DecryptedWith == nil {
				d.DecryptedWith = with
			}
			d.Encrypted = true
		default:
			err = fmt.Errorf("smime: unsupported CMS %s in %s", contentTypeName(oid), mt)
		}
		if err != nil {
			return err
		}
		return decodeEntity(content, opts, d, depth+1)

	case "application/pkcs7-signature", "application/x-pkcs7-signature":
		return errors.New("smime: a detached signature without its multipart/signed container")
	}

	d.ContentType = ct
	d.Body, err = decodeTransfer(body, cte)
	if err != nil {
		return fmt.Errorf("smime: %s body: %w", mt, err)
	}
	return nil
}

var (
	oidEnvelopedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidAuthEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23}
	oidContentTypeAttr   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
)

// cmsTypeNames name the CMS content types (RFC 5652, RFC 3274) the
// decoder does not read, for the reason a message is refused with: an AS2
// partner's compression (RFC 5402) is then named as such.
var cmsTypeNames = map[string]string{
	"1.2.840.113549.1.7.1":      "data",
	"1.2.840.113549.1.7.5":      "digested-data",
	"1.2.840.113549.1.7.6":      "encrypted-data",
	"1.2.840.113549.1.9.16.1.2": "authenticated-data",
	"1.2.840.113549.1.9.16.1.9": "compressed-data",
}

// contentTypeName names a CMS content type for an error: "compressed-data
// (1.2.840.113549.1.9.16.1.9)", or "content type 1.2.3.4" for one without
// a name here.
func contentTypeName(oid asn1.ObjectIdentifier) string {
	if name, ok := cmsTypeNames[oid.String()]; ok {
		return fmt.Sprintf("%s (%s)", name, oid)
	}
	return fmt.Sprintf("content type %s", oid)
}

// contentInfoType returns the contentType of a BER or DER ContentInfo
// without parsing the rest: SEQUENCE (definite or indefinite length)
// followed by an OBJECT IDENTIFIER.
func contentInfoType(der []byte) (asn1.ObjectIdentifier, error) {
	if len(der) < 2 || der[0] != 0x30 {
		return nil, errors.New("not a CMS ContentInfo")
	}
	p := 2
	switch l := der[1]; {
	case l == 0x80: // indefinite length (BER, "openssl cms -stream")
	case l > 0x80:
		p += int(l & 0x7f)
	}
	if p >= len(der) || der[p] != 0x06 {
		return nil, errors.New("not a CMS ContentInfo")
	}
	var oid asn1.ObjectIdentifier
	if p+1 >= len(der) || der[p+1] >= 0x80 || p+2+int(der[p+1]) > len(der) {
		return nil, errors.New("not a CMS ContentInfo")
	}
	if _, err := asn1.Unmarshal(der[p:p+2+int(der[p+1])], &oid); err != nil {
		return nil, fmt.Errorf("not a CMS ContentInfo: %w", err)
	}
	return oid, nil
}

func decrypt(der []byte, opts *DecodeOptions) ([]byte, *x509.Certificate, error) {
	recips, err := opts.recipients()
	if err != nil {
		return nil, nil, err
	}
	content, i, err := cms.DecryptAny(der, recips)
	if err != nil {
		return nil, nil, decryptError(recips, i, err)
	}
	return content, recips[i].Cert, nil
}

// recipients are the identities opts decrypts with, Cert first.
func (opts *DecodeOptions) recipients() ([]cms.Recipient, error) {
	if opts.Cert == nil || opts.Key == nil {
		return nil, errors.New("smime: message is encrypted but no decryption certificate and key were given")
	}
	return append([]cms.Recipient{{Cert: opts.Cert, Key: opts.Key}}, opts.Previous...), nil
}

// decryptError is the error of a decryption with recips that failed with
// err, after choosing recips[i] (i < 0: before choosing one). It names the
// certificates by subject and serial, as the message's recipient infos
// do, never by anything of the keys.
func decryptError(recips []cms.Recipient, i int, err error) error {
	if i >= 0 {
		c := recips[i].Cert
		return fmt.Errorf("smime: decrypting with certificate %q (serial %s): %w", c.Subject, c.SerialNumber.Text(16), err)
	}
	var nre *cms.NoRecipientError
	if len(recips) == 1 || !errors.As(err, &nre) {
		c := recips[0].Cert
		return fmt.Errorf("smime: decrypting with certificate %q (serial %s): %w", c.Subject, c.SerialNumber.Text(16), err)
	}
	names := make([]string, len(recips))
	for j, r := range recips {
		names[j] = fmt.Sprintf("%q (serial %s)", r.Cert.Subject, r.Cert.SerialNumber.Text(16))
	}
	return &noRecipientError{ours: strings.Join(names, ", "), err: nre}
}

// noRecipientError is the error of a message encrypted for none of
// several certificates: it says whom the message is for, then what would
// have decrypted it, so that an operator sees which certificate the
// partner used. It is a decryption failure like any other
// (cms.ErrNoRecipient).
type noRecipientError struct {
	ours string
	err  *cms.NoRecipientError
}

func (e *noRecipientError) Error() string {
	if len(e.err.Intended) == 0 {
		return "smime: the message has no key transport recipient, so none of the certificates decrypted with here can decrypt it: " + e.ours
	}
	return fmt.Sprintf("smime: the message is encrypted for %s, which is none of the certificates decrypted with here: %s",
		strings.Join(e.err.Intended, "; "), e.ours)
}

func (e *noRecipientError) Unwrap() error { return e.err }

// verifyMultipartSigned checks a multipart/signed body (RFC 8551 §3.5.3,
// RFC 1847) and returns the first part as it was signed.
func verifyMultipartSigned(body []byte, params map[string]string, opts *DecodeOptions, d *Decoded) ([]byte, error) {
	switch p := strings.ToLower(params["protocol"]); p {
	case "application/pkcs7-signature", "application/x-pkcs7-signature":
	default:
		return nil, fmt.Errorf("smime: multipart/signed with unsupported protocol %q", clip(params["protocol"]))
	}
	parts, err := splitMultipart(body, params["boundary"], maxSignedParts)
	if err != nil {
		return nil, fmt.Errorf("smime: multipart/signed: %w", err)
	}
	if len(parts) != 2 {
		return nil, fmt.Errorf("smime: multipart/signed has %d parts, want 2", len(parts))
	}
	der, err := signaturePart(parts[1].body)
	if err != nil {
		return nil, err
	}

	// Readings of the signed part, most likely first (see Decode).
	signed := parts[0]
	candidates := [][]byte{signed.body}
	if signed.lfBody != nil {
		candidates = append(candidates, signed.lfBody)
	}
	if c := lfToCRLF(signed.body); len(c) != len(signed.body) {
		candidates = append(candidates, c)
	}
	return verifySignedData(der, candidates, opts, d)
}

// verifySignedData verifies a SignedData. For a detached signature,
// candidates are the possible readings of the signed content; the first one
// that matches the message digest is returned. Otherwise the encapsulated
// content is returned.
func verifySignedData(der []byte, candidates [][]byte, opts *DecodeOptions, d *Decoded) ([]byte, error) {
	detached := candidates != nil
	p7, err := parseSignedData(der, opts, detached)
	if err != nil {
		return nil, err
	}
	if !detached {
		candidates = [][]byte{p7.Content}
	}

	var (
		content  []byte
		verified bool
		firstErr error
	)
	for _, c := range candidates {
		p7.Content = c
		// verifyPKCS7 checks only the digest and the signature; the
		// chain is verified below at opts.Now with our key usage rules
		// (pkcs7 would accept any extended key usage).
		err := verifyPKCS7(p7)
		if err == nil {
			content, verified = c, true
			break
		}
		if firstErr == nil {
			firstErr = err
		}
		var mismatch *pkcs7.MessageDigestMismatchError
		if !errors.As(err, &mismatch) {
			break // not a question of which octets were signed
		}
	}
	if !verified {
		return nil, fmt.Errorf("smime: signature verification failed: %w", firstErr)
	}

	first, err := checkSigners(p7, opts)
	if err != nil {
		return nil, err
	}
	d.Signed = true
	d.Signer = first
	return content, nil
}

// checkSigners checks, after the signatures verified, every signer's
// certificate chain, key usage and content-type attribute, and returns the
// certificate of the first signer whose certificate passed.
//
// A party that signs twice while it rolls its certificate over (RFC 4853:
// signed by a signer when any of its signatures is valid) is not refused
// for the certificate that does not pass, its old one expired or its new
// one not deployed here yet, when one of its listed certificates passes:
// the refusal would hit the very messages the second signature is there
// to carry through the rollover. Any other signer that does not pass (a
// stranger, another party) still refuses the message.
func checkSigners(p7 *pkcs7.PKCS7, opts *DecodeOptions) (*x509.Certificate, error) {
	intermediates := x509.NewCertPool()
	for _, c := range p7.Certificates {
		intermediates.AddCert(c)
	}
	var first *x509.Certificate
	certs := make([]*x509.Certificate, len(p7.Signers))
	errs := make([]error, len(p7.Signers))
	passed := map[string]bool{} // the parties of the signers that passed
	for i := range p7.Signers {
		si := &p7.Signers[i]
		cert := findCert(p7.Certificates, si.IssuerAndSerialNumber.IssuerName.FullBytes, si.IssuerAndSerialNumber.SerialNumber)
		if cert == nil { // verifyPKCS7 found it; be defensive anyway
			return nil, errors.New("smime: signer certificate not found")
		}
		certs[i], errs[i] = cert, checkSignerCert(cert, intermediates, opts)
		if errs[i] == nil {
			for _, party := range signerParties(cert, opts) {
				passed[party] = true
			}
			if first == nil {
				first = cert
			}
		}
	}
	for i := range p7.Signers {
		si := &p7.Signers[i]
		if errs[i] != nil && !slices.ContainsFunc(signerParties(certs[i], opts), func(p string) bool { return passed[p] }) {
			return nil, errs[i]
		}
		var types []asn1.ObjectIdentifier
		var values [][]byte
		for _, a := range si.AuthenticatedAttributes {
			types = append(types, a.Type)
			values = append(values, a.Value.Bytes)
		}
		if err := checkContentTypeAttr(types, values); err != nil {
			return nil, err
		}
	}
	return first, nil
}

// signerParties are the parties of opts.Parties (only opts.Party, when
// set) that list cert, a signer's certificate, whether the store holds it
// or not (opts.AbsentParties).
func signerParties(cert *x509.Certificate, opts *DecodeOptions) []string {
	var out []string
	add := func(party string) {
		if (opts.Party == "" || party == opts.Party) && !slices.Contains(out, party) {
			out = append(out, party)
		}
	}
	for _, pc := range opts.Parties {
		if bytes.Equal(pc.Cert.Raw, cert.Raw) {
			add(pc.Party)
		}
	}
	for _, a := range opts.AbsentParties {
		if a.Matches != nil && a.Matches(cert.Raw) {
			add(a.Party)
		}
	}
	return out
}

// checkContentTypeAttr checks the content-type signed attribute, which
// pkcs7 does not: it must be present when there are signed attributes
// (RFC 5652 §5.3) and name id-data, the only content we read. attrTypes and
// attrValues are the types and SET contents of the signed attributes.
func checkContentTypeAttr(attrTypes []asn1.ObjectIdentifier, attrValues [][]byte) error {
	if len(attrTypes) == 0 {
		return nil // no signed attributes: the signature covers the content itself
	}
	for i, t := range attrTypes {
		if !t.Equal(oidContentTypeAttr) {
			continue
		}
		var oid asn1.ObjectIdentifier
		if rest, err := asn1.Unmarshal(attrValues[i], &oid); err != nil || len(rest) > 0 {
			return errors.New("smime: malformed content-type signed attribute")
		}
		if !oid.Equal(oidData) {
			return fmt.Errorf("smime: signed content type is %v, want id-data", oid)
		}
		return nil
	}
	return errors.New("smime: signed attributes lack the content-type attribute")
}

func findCert(certs []*x509.Certificate, rawIssuer []byte, serial *big.Int) *x509.Certificate {
	for _, c := range certs {
		if bytes.Equal(c.RawIssuer, rawIssuer) && c.SerialNumber != nil && c.SerialNumber.Cmp(serial) == 0 {
			return c
		}
	}
	return nil
}

// checkSignerCert verifies the signer's chain to opts.Roots at opts.Now and
// its key usages. With opts.Parties, a signer that fails and is no party's
// certificate is refused as such (partySignerError).
func checkSignerCert(cert *x509.Certificate, intermediates *x509.CertPool, opts *DecodeOptions) error {
	err := verifySignerCert(cert, intermediates, opts)
	if err == nil {
		return nil
	}
	if opts.Parties != nil {
		if perr := partySignerError(cert, opts.Parties, opts.Party, opts.AbsentParties); perr != nil {
			return perr
		}
	}
	n := Shown(cert)
	return fmt.Errorf("smime: signer certificate %s (serial %s%s): %w", n.Subject, n.Serial, n.Thumbprint, err)
}

// partySignerError says why cert, a signer's certificate, is none of the
// parties' signing certificates: that it is no party's, or, when a
// party's certificate has its issuer and serial number (a look-alike, as a
// rogue CA of the same name issues), that it does not match that one; with
// party set, that it is another party's than party's. Nil when cert is
// party's (any party's when party is "").
func partySignerError(cert *x509.Certificate, parties []component.PartyCertificate, party string, absent []component.AbsentPartyCertificate) error {
	var same *component.PartyCertificate
	other := ""
	for i, pc := range parties {
		if bytes.Equal(pc.Cert.Raw, cert.Raw) {
			if party == "" || pc.Party == party {
				return nil
			}
			other = pc.Party
			continue
		}
		if same == nil && bytes.Equal(pc.Cert.RawIssuer, cert.RawIssuer) && cert.SerialNumber != nil &&
			pc.Cert.SerialNumber != nil && pc.Cert.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			same = &parties[i]
		}
	}
	n := Shown(cert)
	if other != "" {
		return fmt.Errorf("smime: the signer %s (issuer %s, serial %s%s) is party %q's signing certificate, not party %q's",
			n.Subject, n.Issuer, n.Serial, n.Thumbprint, other, party)
	}
	if same == nil {
		return notPartySignerError(cert, absent)
	}
	differs := "its thumbprint and public key differ"
	if pub, ok := same.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(cert.PublicKey) {
		differs = "its thumbprint differs, though its public key is the same"
	}
	return fmt.Errorf("smime: the signer certificate the message carries, %s (issuer %s, serial %s%s), does not match party %q's signing certificate with that issuer and serial number: %s",
		n.Subject, n.Issuer, n.Serial, n.Thumbprint, same.Party, differs)
}

// notPartySignerError is the refusal of a signer whose certificate is no
// party's signing certificate found in the store: one a party lists that
// the store lacks (absent) is named as such, the operator's fix being to
// deploy it. Serial numbers are written in hex here and
// in every error of this package, as bizpipe certs --format json, OpenSSL
// and Windows show them, so that the certificate can be looked up.
func notPartySignerError(cert *x509.Certificate, absent []component.AbsentPartyCertificate) error {
	n := Shown(cert)
	for _, a := range absent {
		if a.Matches != nil && a.Matches(cert.Raw) {
			return fmt.Errorf("smime: the signer %s (issuer %s, serial %s%s) is party %q's signing certificate %s, which other-people store %q does not hold: add it there",
				n.Subject, n.Issuer, n.Serial, n.Thumbprint, a.Party, a.Thumbprint, a.Store)
		}
	}
	return fmt.Errorf("smime: the signer %s (issuer %s, serial %s%s) is not a signing certificate of any party", n.Subject, n.Issuer, n.Serial, n.Thumbprint)
}

// CertNames are how an error names a certificate whoever made a message
// chose (its signer's): Subject and Issuer quoted (%q) and at most 200
// octets, Serial in hex and at most 64 digits, each cut with "..." as
// cms.DescribeIssuerSerial cuts an IssuerAndSerialNumber; Thumbprint is
// ", SHA-1 thumbprint HEX" when one was cut (which still names the
// certificate exactly, as bizpipe certs shows it), "" otherwise. A
// self-made certificate's subject may be megabytes: the reason kept and
// the log line that quote it must not be.
type CertNames struct {
	Subject, Issuer, Serial, Thumbprint string
}

// Shown is how errors name c: CertNames.
func Shown(c *x509.Certificate) CertNames {
	const maxName, maxSerial = 200, 64
	cut := false
	name := func(s string) string {
		if len(s) > maxName {
			s, cut = strings.ToValidUTF8(s[:maxName], "")+"...", true
		}
		return strconv.Quote(s)
	}
	n := CertNames{Subject: name(c.Subject.String()), Issuer: name(c.Issuer.String()), Serial: "none"}
	if c.SerialNumber != nil {
		n.Serial = c.SerialNumber.Text(16)
		if len(n.Serial) > maxSerial {
			n.Serial, cut = n.Serial[:maxSerial]+"...", true
		}
	}
	if cut {
		sum := sha1.Sum(c.Raw)
		n.Thumbprint = ", SHA-1 thumbprint " + strings.ToUpper(hex.EncodeToString(sum[:]))
	}
	return n
}

// verifySignerCert is checkSignerCert's test, its error without context.
func verifySignerCert(cert *x509.Certificate, intermediates *x509.CertPool, opts *DecodeOptions) error {
	// validate runs the same test on party certificates (BP7007).
	if err := certinfo.SignerError(cert); err != nil {
		return err
	}
	vo := x509.VerifyOptions{
		Roots:         opts.Roots,
		Intermediates: intermediates,
		CurrentTime:   opts.Now,
		// A certificate without extended key usage passes; one with it must
		// allow emailProtection (or any), as OpenSSL's smimesign purpose.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	_, err := cert.Verify(vo)
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage {
		// A signer trusted as itself (a party's listed certificate:
		// pinned, its own anchor) was chosen for this very use: AS2
		// partners often sign with a certificate whose extended key
		// usage names TLS only. A CA-issued signer still needs it.
		vo.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		if chains, aerr := cert.Verify(vo); aerr == nil && slices.ContainsFunc(chains, func(c []*x509.Certificate) bool { return len(c) == 1 }) {
			return nil
		}
	}
	return err
}

// parsePKCS7 and verifyPKCS7 call into pkcs7 with a recover: its BER
// converter and parser ignore some errors and were not written for hostile
// input, and a panic there must not take down a receive location. Our own
// parsing does not rely on this (FuzzDecode runs it).
func parsePKCS7(der []byte) (p7 *pkcs7.PKCS7, err error) {
	defer func() {
		if r := recover(); r != nil {
			p7, err = nil, fmt.Errorf("malformed SignedData (%v)", r)
		}
	}()
	return pkcs7.Parse(der)
}

func verifyPKCS7(p7 *pkcs7.PKCS7) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed SignedData (%v)", r)
		}
	}()
	for i := range p7.Signers {
		if p7.Signers[i].IssuerAndSerialNumber.SerialNumber == nil {
			return errors.New("malformed SignerInfo (no issuer and serial number)")
		}
		if oid := p7.Signers[i].DigestAlgorithm.Algorithm; !pkcs7Digest(oid) {
			return fmt.Errorf("the signature's digest algorithm %s is not accepted (want one of %s)", digestName(oid), strings.Join(digestNames(), ", "))
		}
		// pkcs7 would say "No certificate for signer", naming nothing:
		// the operator needs to know which certificate is missing.
		ias := p7.Signers[i].IssuerAndSerialNumber
		if findCert(p7.Certificates, ias.IssuerName.FullBytes, ias.SerialNumber) == nil {
			return fmt.Errorf("SignerInfo %d: no certificate has the signer's %s (none embedded in the signature, nor a party's)",
				i+1, cms.DescribeIssuerSerial(ias.IssuerName.FullBytes, ias.SerialNumber))
		}
	}
	// pkcs7 also refuses a signing-time attribute outside the signer's
	// validity: the signer's own clock, which proves nothing. The
	// certificate is judged at the time of receipt instead (language
	// §10; checkSigners, as openssl cms -verify judges it at its now), so
	// that a partner whose clock lags behind the notBefore of the
	// certificate it just switched to is not refused: pkcs7 sees the
	// certificates without their dates, and only checks signatures.
	certs := p7.Certificates
	p7.Certificates = undated(certs)
	defer func() { p7.Certificates = certs }()
	// pkcs7 verifies PKCS #1 v1.5 and ECDSA signatures, verifyPSS
	// RSASSA-PSS ones: each signer in turn, so that the first that fails
	// is the one named, whatever its padding.
	signers := p7.Signers
	defer func() { p7.Signers = signers }()
	for i := range signers {
		si := &signers[i]
		if !si.DigestEncryptionAlgorithm.Algorithm.Equal(oidRSASSAPSS) {
			p7.Signers = signers[i : i+1]
			if err := p7.VerifyWithChainAtTime(nil, time.Time{}); err != nil {
				return err
			}
			continue
		}
		attrs := make([]pssAttribute, len(si.AuthenticatedAttributes))
		for j, a := range si.AuthenticatedAttributes {
			attrs[j] = pssAttribute{Type: a.Type, Value: a.Value}
		}
		cert := findCert(certs, si.IssuerAndSerialNumber.IssuerName.FullBytes, si.IssuerAndSerialNumber.SerialNumber)
		if err := verifyPSS(p7, cert, si.DigestAlgorithm, si.DigestEncryptionAlgorithm, attrs, si.EncryptedDigest); err != nil {
			return err
		}
	}
	return nil
}

// undated is copies of certs valid at any time, for verifyPKCS7.
func undated(certs []*x509.Certificate) []*x509.Certificate {
	out := make([]*x509.Certificate, len(certs))
	for i, c := range certs {
		u := *c
		u.NotBefore, u.NotAfter = time.Time{}, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
		out[i] = &u
	}
	return out
}

// pkcs7Digest reports whether pkcs7 verifies a SignerInfo whose digest
// algorithm is oid: one of digests, or a signature algorithm that some old
// signers wrote in its place and that pkcs7 reads as one of them. pkcs7
// refuses any other, with a text about decryption
// (pkcs7.ErrUnsupportedAlgorithm); verifyPKCS7 names the algorithm
// instead, and so refuses no more than pkcs7 would.
func pkcs7Digest(oid asn1.ObjectIdentifier) bool {
	if _, ok := digestOf(oid); ok {
		return true
	}
	for _, o := range []asn1.ObjectIdentifier{
		pkcs7.OIDDigestAlgorithmECDSASHA1, pkcs7.OIDDigestAlgorithmECDSASHA256,
		pkcs7.OIDDigestAlgorithmECDSASHA384, pkcs7.OIDDigestAlgorithmECDSASHA512,
		pkcs7.OIDDigestAlgorithmDSA, pkcs7.OIDDigestAlgorithmDSASHA1,
		pkcs7.OIDEncryptionAlgorithmRSA, // read as SHA-1 (getHashForOID)
	} {
		if oid.Equal(o) {
			return true
		}
	}
	return false
}

// refusedDigests name the digest algorithms, by object identifier, that
// signers are known to use and verifyPKCS7 refuses.
var refusedDigests = map[string]string{
	"1.2.840.113549.2.2":      "md2",
	"1.2.840.113549.2.4":      "md4",
	"1.2.840.113549.2.5":      "md5",
	"1.3.36.3.2.1":            "ripemd160",
	"2.16.840.1.101.3.4.2.4":  "sha224",
	"2.16.840.1.101.3.4.2.5":  "sha512-224",
	"2.16.840.1.101.3.4.2.6":  "sha512-256",
	"2.16.840.1.101.3.4.2.7":  "sha3-224",
	"2.16.840.1.101.3.4.2.8":  "sha3-256",
	"2.16.840.1.101.3.4.2.9":  "sha3-384",
	"2.16.840.1.101.3.4.2.10": "sha3-512",
	"2.16.840.1.101.3.4.2.11": "shake128",
	"2.16.840.1.101.3.4.2.12": "shake256",
	"1.2.156.10197.1.401":     "sm3",
}

// digestName names a digest algorithm by its name and object identifier,
// or by the identifier alone when it has no name here.
func digestName(oid asn1.ObjectIdentifier) string {
	if name, ok := refusedDigests[oid.String()]; ok {
		return fmt.Sprintf("%s (%s)", name, oid)
	}
	return oid.String()
}

// signaturePart returns the detached SignedData of a multipart/signed
// message's second part (raw: its header and body), checking its type.
func signaturePart(raw []byte) ([]byte, error) {
	sigFields, sigBody, err := parseEntity(raw)
	if err != nil {
		return nil, fmt.Errorf("smime: signature part: %w", err)
	}
	sigType, _, err := headerValue(sigFields, "Content-Type")
	if err != nil {
		return nil, fmt.Errorf("smime: signature part: %w", err)
	}
	if smt, _, err := ParseMediaType(sigType); err != nil ||
		(smt != "application/pkcs7-signature" && smt != "application/x-pkcs7-signature") {
		return nil, fmt.Errorf("smime: signature part has Content-Type %q, want application/pkcs7-signature", clip(sigType))
	}
	sigCTE, _, err := headerValue(sigFields, "Content-Transfer-Encoding")
	if err != nil {
		return nil, fmt.Errorf("smime: signature part: %w", err)
	}
	der, err := decodeTransfer(sigBody, strings.ToLower(sigCTE))
	if err != nil {
		return nil, fmt.Errorf("smime: signature part: %w", err)
	}
	if oid, err := contentInfoType(der); err != nil || !oid.Equal(oidSignedData) {
		return nil, errors.New("smime: signature part is not a CMS SignedData")
	}
	return der, nil
}

// parseSignedData parses a SignedData to verify, refusing it when there is
// nothing to verify it against or nobody signed it, or when a detached
// signature also carries content. The caller's certificates join the
// embedded ones: pkcs7 looks the signer up there, and they serve as
// intermediates when the chain is checked.
func parseSignedData(der []byte, opts *DecodeOptions, detached bool) (*pkcs7.PKCS7, error) {
	if opts.Roots == nil {
		return nil, errSignedWithoutRoots
	}
	der, err := ber.ToDER(der)
	if err != nil {
		return nil, fmt.Errorf("smime: parsing SignedData: %w", err)
	}
	if set, err := signerInfosSet(der); err == nil {
		if infos, err := ber.Children(set); err == nil && len(infos) > maxSigners {
			return nil, fmt.Errorf("smime: SignedData has %d signer infos, more than the %d this decoder accepts", len(infos), maxSigners)
		}
	}
	p7, err := parsePKCS7(der)
	if err != nil {
		return nil, fmt.Errorf("smime: parsing SignedData: %w", err)
	}
	if detached && len(p7.Content) > 0 {
		return nil, errors.New("smime: multipart/signed carries a SignedData with encapsulated content, want a detached signature")
	}
	p7.Certificates = append(p7.Certificates[:len(p7.Certificates):len(p7.Certificates)], opts.Certs...)
	if len(p7.Signers) == 0 {
		if err := keyIDSigners(der, p7); err != nil {
			return nil, err
		}
	}
	if len(p7.Signers) == 0 {
		return nil, errors.New("smime: SignedData has no signers")
	}
	return p7, nil
}

// maxSigners bounds the SignerInfos of a SignedData, counted before any is
// parsed: a real message has one, two while its signer changes
// certificates, and each costs a signature verification, so thousands of
// copies of one valid SignerInfo within the 8 MiB a SignedData may hold
// would cost seconds of CPU per message.
const maxSigners = 16

// errSignedWithoutRoots: a signed message met a decoder given no trust
// anchors. A decoder stage that does not verify names its own reason.
var errSignedWithoutRoots = errors.New("smime: message is signed but no trust roots were given to verify it")
