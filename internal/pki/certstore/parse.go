package certstore

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf16"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/bizpipe/bizpipe/internal/pki/certinfo"
)

// maxFileSize bounds what Load reads of one store file (8 MiB): certificate,
// key and PKCS#12 files are a few KiB (a PEM bundle of every public root CA
// is about 250 KiB), and a store directory may also hold unrelated large
// files. A larger file is not read whole but reported as too large (see
// readFile), so that memory stays bounded whatever the directory holds.
const maxFileSize = 8 << 20

// fileResult is what parsing one file produced, merged into the Store in
// directory order so that the result does not depend on parsing order.
type fileResult struct {
	file     File
	isFile   bool // a regular file, listed in Store.Files
	certs    []*x509.Certificate
	keys     []*PrivateKey
	problems []*Problem
	notes    []string
	unopened bool
	// ignoredPEM counts the PEM blocks of a type a store does not use;
	// the first maxPEMNotes are noted each, the others in one more note.
	ignoredPEM int
}

func (r *fileResult) problem(kind ProblemKind, err error) {
	r.problems = append(r.problems, &Problem{Kind: kind, File: r.file.Path, Err: err})
}

func (r *fileResult) note(format string, args ...any) {
	r.notes = append(r.notes, r.file.Path+": "+fmt.Sprintf(format, args...))
}

func (r *fileResult) addKey(s crypto.Signer) {
	r.keys = append(r.keys, &PrivateKey{signer: s, File: r.file.Path})
}

// extKinds are the kinds of file the extensions a store knows promise.
// .crt and .cer are either PEM or DER; content decides, this only says
// "expected".
var extKinds = map[string]FileKind{
	".pem": FilePEM, ".key": FilePEM,
	".crt": FileDER, ".cer": FileDER, ".der": FileDER,
	".p12": FilePKCS12, ".pfx": FilePKCS12,
}

// extKind is the kind of file an extension promises.
func extKind(name string) FileKind {
	if k, ok := extKinds[strings.ToLower(filepath.Ext(name))]; ok {
		return k
	}
	return FileIgnored
}

// Extensions are the file name extensions a store reads by name (".pem",
// ".p12", ...), sorted; a file with another is read when its content is
// one of the formats.
func Extensions() []string {
	return slices.Sorted(maps.Keys(extKinds))
}

var pemMarker = []byte("-----BEGIN")

// parseFile recognises data by content first and extension second, then
// parses it. It never returns key bytes or the password in an error.
func parseFile(r *fileResult, data []byte, pw Password) {
	ext := extKind(r.file.Path)
	data = windowsText(data)
	markers := pemMarkers(data)
	switch {
	case len(data) == 0 && ext == FileIgnored:
		r.note("ignored: empty file")
	case len(data) == 0:
		r.file.Kind = ext
		r.problem(ProblemParse, errors.New("file is empty"))
	case looksLikePFX(data):
		r.file.Kind = FilePKCS12
		parsePKCS12(r, data, pw)
	case len(markers) > 0:
		r.file.Kind = FilePEM
		parsePEM(r, data, markers)
	case ext == FilePKCS12:
		r.file.Kind = FilePKCS12
		r.problem(ProblemParse, errors.New("not a PKCS#12 file (no PFX structure found)"))
	default:
		if parseDER(r, data) {
			return
		}
		switch {
		case ext == FilePEM:
			r.file.Kind = FilePEM
			r.problem(ProblemParse, errors.New("no PEM block found (expected -----BEGIN CERTIFICATE----- or a private key)"))
		case ext == FileDER:
			r.file.Kind = FileDER
			_, err := x509.ParseCertificate(data)
			switch {
			case err == nil: // parseDER took it
			case data[0] == 0x30 && !certificateShaped(data):
				// DER, but not shaped as a certificate: a truncated or
				// damaged private key, which "malformed certificate"
				// would send the user looking for.
				r.problem(ProblemParse, errors.New("not PEM, and neither a certificate nor a private key in DER"))
			default:
				r.problem(ProblemParse, fmt.Errorf("not a PEM or DER certificate: %w", err))
			}
		default:
			r.file.Kind = FileIgnored
			r.note("ignored: not a certificate, private key or PKCS#12 file")
		}
	}
}

// windowsText undoes what Windows editors do to PEM text: Notepad may start
// the file with a UTF-8 byte order mark, and PowerShell 5 redirection writes
// UTF-16. Either hides the "-----BEGIN" line from encoding/pem. Binary data
// is returned unchanged.
func windowsText(data []byte) []byte {
	if rest, ok := bytes.CutPrefix(data, []byte("\xef\xbb\xbf")); ok {
		return rest
	}
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		order = binary.LittleEndian
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		order = binary.BigEndian
	default:
		return data
	}
	body := data[2:]
	units := make([]uint16, len(body)/2)
	for i := range units {
		units[i] = order.Uint16(body[2*i:])
	}
	text := []byte(string(utf16.Decode(units)))
	if len(pemMarkers(text)) == 0 {
		return data // not PEM after all: leave it to the binary formats
	}
	return text
}

// parseDER recognises a DER certificate or an unencrypted DER private key
// (PKCS#8, PKCS#1 or SEC 1) and reports whether it did.
func parseDER(r *fileResult, data []byte) bool {
	if len(data) == 0 || data[0] != 0x30 { // every candidate is a SEQUENCE
		return false
	}
	if c, err := x509.ParseCertificate(data); err == nil {
		r.file.Kind = FileDER
		r.certs = append(r.certs, c)
		return true
	}
	k, err := parseDERKey(data)
	var tooLarge *rsaKeyTooLargeError
	switch {
	case errors.As(err, &tooLarge):
		r.file.Kind = FileDER
		r.file.HasUnencryptedKey = true
		r.problem(ProblemParse, err)
		return true
	case err != nil:
		if uerr := unsupportedKeyError(data); uerr != nil {
			r.file.Kind = FileDER
			r.file.HasUnencryptedKey = true
			r.problem(ProblemParse, uerr)
			return true
		}
		return false
	}
	r.file.Kind = FileDER
	r.file.HasUnencryptedKey = true
	if s, ok := k.(crypto.Signer); ok {
		r.addKey(s)
	} else {
		r.unusableKey(k)
	}
	return true
}

// certificateShaped reports whether data opens as a DER certificate does:
// a SEQUENCE whose first element is a SEQUENCE (the TBSCertificate), where
// a DER private key's (PKCS#8, PKCS#1, SEC 1) is its version, an INTEGER.
// Lengths are not checked: the data may be truncated.
func certificateShaped(data []byte) bool {
	if len(data) < 2 || data[0] != 0x30 {
		return false
	}
	header := 2
	if data[1] > 0x80 { // long form: the length's octets follow
		header += int(data[1] & 0x7f)
	}
	return len(data) > header && data[header] == 0x30
}

// maxRSAKeyBits is the largest modulus of an RSA private key a store
// parses: 16384 bits, the most OpenSSL makes, far above what S/MIME uses.
// crypto/rsa checks a key at a cost that grows with the square of its
// size: a private key with a 512 Kibit modulus takes seconds, and one
// that fills a store file hours.
const maxRSAKeyBits = 16384

// rsaKeyTooLargeError is checkRSAKeySize's refusal.
type rsaKeyTooLargeError struct{ bits int }

func (e *rsaKeyTooLargeError) Error() string {
	return fmt.Sprintf("a %d-bit RSA key, larger than the %d bits any tool makes; refused unparsed", e.bits, maxRSAKeyBits)
}

var oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}

// checkRSAKeySize returns an *rsaKeyTooLargeError for an RSA private key,
// PKCS#1 or in PKCS#8, whose modulus is above maxRSAKeyBits, reading only
// its ASN.1 (linear in its size), before crypto/rsa checks it. It is nil
// for any other key and for what does not parse: the key parsers judge
// those.
func checkRSAKeySize(der []byte) error {
	var pkcs8 struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	if _, err := asn1.Unmarshal(der, &pkcs8); err == nil && pkcs8.Algo.Algorithm.Equal(oidRSAEncryption) {
		der = pkcs8.PrivateKey
	}
	// The first fields of a PKCS#1 RSAPrivateKey; encoding/asn1 ignores
	// the ones after them.
	var pkcs1 struct {
		Version int
		N       *big.Int
	}
	if _, err := asn1.Unmarshal(der, &pkcs1); err != nil || pkcs1.N == nil {
		return nil
	}
	if bits := pkcs1.N.BitLen(); bits > maxRSAKeyBits {
		return &rsaKeyTooLargeError{bits: bits}
	}
	return nil
}

func parseDERKey(der []byte) (any, error) {
	if err := checkRSAKeySize(der); err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(der)
}

// parsePEM parses every PEM block. encoding/pem silently skips a malformed
// block and returns the next good one, so each "-----BEGIN" marker is decoded
// on its own, up to the next marker: a block that does not end before it is
// reported, rather than a certificate silently going missing. Decoding only
// up to the next marker, and counting lines from the previous one, keeps the
// work linear in the file's size: decoding the rest of the file from each
// marker took hours for a file of a few MiB of "-----BEGIN" lines.
func parsePEM(r *fileResult, data []byte, markers []int) {
	var more, moreFrom int // problems past maxPEMProblems, and the first one's line
	report := func(line int, err error) {
		if len(r.problems) < maxPEMProblems {
			r.problem(ProblemParse, err)
			return
		}
		if more == 0 {
			moreFrom = line
		}
		more++
	}
	line, counted := 1, 0
	for i, start := range markers {
		next := len(data)
		if i+1 < len(markers) {
			next = markers[i+1]
		}
		line += bytes.Count(data[counted:start], []byte("\n"))
		counted = start
		block, _ := pem.Decode(data[start:next])
		if block == nil {
			report(line, fmt.Errorf("malformed PEM block at line %d", line))
			continue
		}
		if err := parsePEMBlock(r, block); err != nil {
			report(line, fmt.Errorf("PEM block %q at line %d: %w", block.Type, line, err))
		}
	}
	if more > 0 {
		r.problem(ProblemParse, fmt.Errorf("%d more PEM blocks, from line %d on, cannot be parsed either", more, moreFrom))
	}
	if n := r.ignoredPEM - maxPEMNotes; n > 0 {
		r.note("%d more PEM blocks ignored", n)
	}
}

// maxPEMProblems is the most blocks of one PEM file reported each as a
// problem; the others are counted in one more. A hostile file of a hundred
// thousand broken blocks would otherwise be as many diagnostics.
const maxPEMProblems = 10

// maxPEMNotes is, likewise, the most ignored blocks of one PEM file noted
// each (see fileResult.ignoredPEM).
const maxPEMNotes = 10

// pemMarkers returns the offsets of "-----BEGIN" at the start of a line,
// where encoding/pem looks for blocks.
func pemMarkers(data []byte) []int {
	var offs []int
	for off := 0; ; {
		i := bytes.Index(data[off:], pemMarker)
		if i < 0 {
			return offs
		}
		at := off + i
		if at == 0 || data[at-1] == '\n' {
			offs = append(offs, at)
		}
		off = at + len(pemMarker)
	}
}

func parsePEMBlock(r *fileResult, b *pem.Block) error {
	encrypted := strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") || b.Headers["DEK-Info"] != ""
	isKey := strings.HasSuffix(b.Type, "PRIVATE KEY")
	if isKey && !encrypted && b.Type != "ENCRYPTED PRIVATE KEY" {
		// Set before parsing: a key that fails to parse is still key
		// material on disk for the live permission checks.
		r.file.HasUnencryptedKey = true
	}
	switch {
	case b.Type == "CERTIFICATE" || b.Type == "X509 CERTIFICATE" || b.Type == "TRUSTED CERTIFICATE":
		der := b.Bytes
		if b.Type == "TRUSTED CERTIFICATE" {
			// OpenSSL appends trust settings after the certificate.
			var raw asn1.RawValue
			if _, err := asn1.Unmarshal(der, &raw); err != nil {
				return fmt.Errorf("cannot parse certificate: %w", err)
			}
			der = raw.FullBytes
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("cannot parse certificate: %w", err)
		}
		r.certs = append(r.certs, c)
	case b.Type == "ENCRYPTED PRIVATE KEY" || (isKey && encrypted):
		return errors.New("encrypted PEM private keys are not supported; " +
			"put the key and its certificate in a PKCS#12 file protected by the store's password, " +
			"or store the key unencrypted with restrictive file permissions")
	case b.Type == "PRIVATE KEY" || b.Type == "RSA PRIVATE KEY" || b.Type == "EC PRIVATE KEY":
		if err := checkRSAKeySize(b.Bytes); err != nil {
			return err
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			k, err = x509.ParseECPrivateKey(b.Bytes)
		}
		if err != nil {
			if b.Type == "PRIVATE KEY" {
				if uerr := unsupportedKeyError(b.Bytes); uerr != nil {
					return uerr
				}
			}
			return fmt.Errorf("cannot parse private key: %w", err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			r.unusableKey(k)
			return nil
		}
		r.addKey(s)
	case isKey:
		return errors.New("unsupported private key format (use PKCS#8 \"PRIVATE KEY\", PKCS#1 \"RSA PRIVATE KEY\" or SEC 1 \"EC PRIVATE KEY\")")
	case b.Type == "EC PARAMETERS":
		// Written by `openssl ecparam -genkey` before the key; carries nothing
		// the key does not.
	default:
		if r.ignoredPEM++; r.ignoredPEM <= maxPEMNotes {
			r.note("ignored PEM block %q", b.Type)
		}
	}
	return nil
}

// looksLikePFX recognises the start of a PKCS#12 PFX: SEQUENCE { INTEGER 3,
// SEQUENCE { OID pkcs7-... } }. Only the headers are checked, so truncated and
// BER-encoded files are still recognised and reported rather than ignored.
func looksLikePFX(data []byte) bool {
	rest, ok := skipSequenceHeader(data)
	if !ok || !bytes.HasPrefix(rest, []byte{0x02, 0x01, 0x03}) {
		return false
	}
	rest, ok = skipSequenceHeader(rest[3:])
	// OID 1.2.840.113549.1.7 (PKCS#7 content types), without the last arc.
	return ok && bytes.HasPrefix(rest, []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07})
}

// skipSequenceHeader skips a SEQUENCE tag and length (definite or BER
// indefinite) without checking that the content is all there.
func skipSequenceHeader(b []byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != 0x30 {
		return nil, false
	}
	switch l := b[1]; {
	case l <= 0x80: // short form, or 0x80 = indefinite
		return b[2:], true
	case l <= 0x84:
		n := int(l & 0x7f)
		if len(b) < 2+n {
			return nil, false
		}
		return b[2+n:], true
	}
	return nil, false
}

// parsePKCS12 decrypts a PKCS#12 file. All its certificates go into the
// store, and all its keys, each matched to a certificate like any other key
// (spec §5: whichever file the certificate came from).
func parsePKCS12(r *fileResult, data []byte, pw Password) {
	password, known := pw.Value()
	if !known {
		r.unopened = true
		return
	}
	for _, c := range password {
		if c > 0xFFFF {
			// go-pkcs12 would fail the same way, but with a message that
			// does not say it is the password.
			r.problem(ProblemPassword, errors.New("cannot decrypt PKCS#12: the store's password contains characters outside the Unicode Basic Multilingual Plane, which PKCS#12 passwords cannot hold"))
			return
		}
	}
	if err := checkPKCS12Iterations(data, password); err != nil {
		// Before any decoding: go-pkcs12 would derive keys with the file's
		// counts, however large (see maxPKCS12Iterations), and parse its
		// key, however large (see maxRSAKeyBits).
		r.problem(ProblemParse, err)
		return
	}
	if !hasMAC(data) {
		parsePKCS12WithoutMAC(r, data, password, pw.IsSet())
		return
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	switch {
	case err == nil:
		r.certs = append(r.certs, leaf)
		r.certs = append(r.certs, cas...)
		r.addPKCS12Key(key)
		// The empty password protects nothing, and a key bag outside the
		// encrypted parts is not encrypted at all: for the live permission
		// checks the key is then as exposed as an unencrypted PEM key.
		r.file.HasUnencryptedKey = password == "" || hasClearKeyBag(data)
	case macVerified(err):
		// The password is right; DecodeChain refuses only how many keys or
		// certificates the file holds.
		budget := int64(maxPKCS12IterationBudget)
		c, err := walkPKCS12(data, password, &budget)
		var nd *notDecryptedError
		switch {
		case errors.As(err, &nd):
			r.problem(ProblemParse, fmt.Errorf("cannot decrypt PKCS#12: its integrity check (MAC) accepts the store's password, but %v with it: "+
				"the file is damaged, or encrypted with a second password (as openssl pkcs12 -twopass can make), which a store cannot give", nd))
		case err != nil:
			r.problem(ProblemParse, walkError(err))
		default:
			r.addPKCS12(c)
		}
	default:
		r.problem(classifyPKCS12Error(err, pw.IsSet()))
	}
}

// parsePKCS12WithoutMAC opens a PKCS#12 file that has no integrity check
// (openssl pkcs12 -nomac, or a password-less file): with the store's
// password first, then with the empty one, which opens a file encrypted
// with it or not encrypted at all whatever the store's password. Only
// decryption tells a wrong password from the right one.
func parsePKCS12WithoutMAC(r *fileResult, data []byte, password string, passwordSet bool) {
	budget := int64(maxPKCS12IterationBudget)
	tries := []string{password}
	if password != "" {
		tries = append(tries, "")
	}
	var c *pkcs12Contents
	var err error
	var nd *notDecryptedError
	for i, p := range tries {
		c, err = walkPKCS12(data, p, &budget)
		if errors.As(err, &nd) {
			continue
		}
		if err != nil && i > 0 {
			// The store's password did not decrypt it, and trying the
			// empty one ran out of the file's budget (or failed
			// otherwise): the first answer stands, a wrong password.
			err = nd
		}
		break
	}
	switch {
	case errors.As(err, &nd) && !passwordSet:
		r.problem(ProblemPassword, errors.New("cannot decrypt PKCS#12: the file is password-protected and the store has no password configured"))
	case errors.As(err, &nd):
		r.problem(ProblemPassword, fmt.Errorf("cannot decrypt PKCS#12 with the store's password: %v with it (nor with the empty password), so the password is incorrect "+
			"(or the file is damaged: it has no integrity check (MAC) to tell which)", nd))
	case err != nil:
		r.problem(ProblemParse, walkError(err))
	default:
		r.addPKCS12(c)
	}
}

// addPKCS12 adds what walkPKCS12 found.
func (r *fileResult) addPKCS12(c *pkcs12Contents) {
	r.certs = append(r.certs, c.certs...)
	for _, k := range c.keys {
		r.addPKCS12Key(k)
	}
	for _, err := range c.keyErrs {
		r.problem(ProblemParse, err)
	}
	for i, what := range c.ignored {
		if i == maxPKCS12Notes {
			r.note("%d more PKCS#12 bags ignored", len(c.ignored)-i)
			break
		}
		r.note("ignored: PKCS#12 %s", what)
	}
	if len(c.certs) == 0 && len(c.keys) == 0 && len(c.keyErrs) == 0 {
		r.note("PKCS#12 file holds no certificate and no private key")
	}
	r.file.HasUnencryptedKey = c.exposed()
}

// maxPKCS12Notes is the most ignored bags of one PKCS#12 file noted each.
const maxPKCS12Notes = 10

func (r *fileResult) addPKCS12Key(key any) {
	s, ok := key.(crypto.Signer)
	if !ok {
		r.unusableKey(key)
		return
	}
	r.addKey(s)
}

// unusableKey notes a private key that is no crypto.Signer (an X25519
// key), by its algorithm rather than its Go type.
func (r *fileResult) unusableKey(k any) {
	r.note("ignored: private key (%s) cannot sign or decrypt", keyTypeName(k))
}

// hasMAC reports whether a PKCS#12 file has an integrity check (MAC); a
// file that does not parse is left to go-pkcs12 to report.
func hasMAC(data []byte) bool {
	var pfx p12PFX
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return true
	}
	return len(pfx.MacData.Mac.Algorithm.Algorithm) > 0
}

// macVerified reports a DecodeChain error that only a file whose MAC the
// password verified can give: go-pkcs12 reads the bags, and counts the
// keys and certificates in them, only after the MAC check. go-pkcs12
// exports no sentinels for these; TestPKCS12Forms fails if they change.
func macVerified(err error) bool {
	switch err.Error() {
	case "pkcs12: expected exactly one key bag", "pkcs12: certificate missing", "pkcs12: private key missing":
		return true
	}
	// A key of an algorithm crypto/x509 does not parse: walkPKCS12 names
	// it in words (unsupportedKeyError), where x509 gives an object
	// identifier. TestUnsupportedKeyAlgorithm fails if the message changes.
	return strings.Contains(err.Error(), "PKCS#8 wrapping contained private key with unknown algorithm")
}

// parsedKeyAlgorithms are the PKCS#8 private key algorithms crypto/x509
// parses: rsaEncryption, id-ecPublicKey, Ed25519 and X25519.
var parsedKeyAlgorithms = []asn1.ObjectIdentifier{
	oidRSAEncryption,
	{1, 2, 840, 10045, 2, 1},
	{1, 3, 101, 112},
	{1, 3, 101, 110},
}

// unsupportedKeyError is the problem of a PKCS#8 private key of an
// algorithm crypto/x509 does not parse (DSA, RSASSA-PSS, Ed448, X448),
// named in words, with the keys bizpipe does use, where x509 says only
// "unknown algorithm" and an object identifier. It is nil for anything
// else, which the key parsers judge. RSA keys sign and decrypt, ECDSA keys
// (the curves crypto/x509 parses) sign: certinfo.SigningKeyError, and the
// RSA-only key transport of package cms.
func unsupportedKeyError(der []byte) error {
	var pkcs8 struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	if rest, err := asn1.Unmarshal(der, &pkcs8); err != nil || len(rest) > 0 {
		return nil
	}
	oid := pkcs8.Algo.Algorithm
	for _, parsed := range parsedKeyAlgorithms {
		if oid.Equal(parsed) {
			return nil
		}
	}
	what := "a private key of algorithm " + oid.String()
	if name, ok := certinfo.KeyAlgorithmName(oid); ok {
		what = certinfo.WithArticle(name) + " private key"
	}
	return fmt.Errorf("%s, which bizpipe does not support: it uses RSA keys, and ECDSA keys (P-224, P-256, P-384 or P-521) to sign", what)
}

// asn1Indefinite is the encoding/asn1 message for BER's indefinite
// length, worth a precise diagnostic.
const asn1Indefinite = "indefinite length found"

// classifyPKCS12Error separates a wrong password (BP2003) from a file that is
// corrupt or unsupported (BP2002).
func classifyPKCS12Error(err error, passwordSet bool) (ProblemKind, error) {
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		if !passwordSet {
			return ProblemPassword, errors.New("cannot decrypt PKCS#12: the file is password-protected and the store has no password configured")
		}
		return ProblemPassword, errors.New("cannot decrypt PKCS#12 with the store's password: the password is incorrect " +
			"(or the file is damaged: its integrity check fails either way)")
	case strings.Contains(err.Error(), asn1Indefinite):
		return ProblemParse, berError(err)
	}
	return ProblemParse, fmt.Errorf("cannot parse PKCS#12: %w", err)
}

// walkError is the BP2002 message for an error of walkPKCS12, which says
// what and where already.
func walkError(err error) error {
	if strings.Contains(err.Error(), asn1Indefinite) {
		return berError(err)
	}
	return err
}

func berError(err error) error {
	return fmt.Errorf("BER-encoded PKCS#12 files (as some Java tools write) are not supported; re-export it with openssl pkcs12: %w", err)
}
