package certstore

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// walkPKCS12 reads every bag of a PKCS#12 file: all its certificates and
// all its private keys, however many of each, nested SafeContents too.
// go-pkcs12 exposes only DecodeChain (exactly one key and at least one
// certificate) and DecodeTrustStore (certificates marked trusted by Java,
// nothing else), and opens a file without a MAC only with the empty
// password; its bag walk and its decryption are unexported. parsePKCS12
// therefore lets go-pkcs12 open the common file (one key, with a MAC) and
// comes here for the rest: a file whose MAC go-pkcs12 has verified but
// whose bags DecodeChain refuses (several keys, no key, no certificate),
// and a file without a MAC. No MAC is verified here: a file with one has
// been verified by go-pkcs12 first, and a file without one has nothing to
// verify. The decryption is pkcs12decrypt.go's, which the iteration checks
// already use.
//
// password is tried in each form decryptPBE takes (passwordForms). Every
// count is checked against maxPKCS12Iterations before it is derived with,
// and the counts of all derivations together against
// maxPKCS12IterationBudget, so that a file of many keys cannot stall its
// reader either. Errors never contain the password or key bytes: a part or
// key that does not decrypt is a *notDecryptedError naming only what it is.
func walkPKCS12(data []byte, password string, budget *int64) (*pkcs12Contents, error) {
	var pfx p12PFX
	rest, err := asn1.Unmarshal(data, &pfx)
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot parse PKCS#12: %w", err)
	case len(rest) != 0:
		return nil, errors.New("cannot parse PKCS#12: trailing data after the PFX structure")
	case !pfx.AuthSafe.ContentType.Equal(oidPKCS7Data):
		return nil, errors.New("PKCS#12 files in public-key integrity mode (signed, not password-protected) are not supported")
	}
	parts, ok := authSafeParts(pfx)
	switch {
	case !ok:
		return nil, errors.New("cannot parse PKCS#12: its authenticated safe is not a sequence of ContentInfo")
	case len(parts) > maxPKCS12Parts:
		return nil, fmt.Errorf("PKCS#12 file of %d parts, more than the %d OpenSSL, keytool and Windows write (one for the certificates, one for the keys); refused unopened", len(parts), maxPKCS12Parts)
	}
	w := &p12Walker{forms: passwordForms(password), budget: budget, out: &pkcs12Contents{password: password}}
	for i, ci := range parts {
		switch {
		case ci.ContentType.Equal(oidPKCS7Data):
			var safeContents []byte
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &safeContents); err != nil {
				return nil, fmt.Errorf("cannot parse PKCS#12 part %d: %w", i+1, err)
			}
			if err := w.bags(safeContents, 0, true); err != nil {
				return nil, err
			}
		case ci.ContentType.Equal(oidPKCS7EncryptedData):
			var ed p12EncryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				return nil, fmt.Errorf("cannot parse PKCS#12 encrypted part %d: %w", i+1, err)
			}
			eci := ed.EncryptedContentInfo
			plain, err := w.decrypt(eci.ContentEncryptionAlgorithm, eci.EncryptedContent,
				"encrypted content", fmt.Sprintf("encrypted part %d", i+1), isSafeContents)
			if err != nil {
				return nil, err
			}
			if err := w.bags(plain, 0, false); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("PKCS#12 part %d is of content type %s; only data and password-encrypted data are supported (not public-key encrypted)", i+1, ci.ContentType)
		}
	}
	return w.out, nil
}

// pkcs12Contents is what walkPKCS12 found.
type pkcs12Contents struct {
	certs []*x509.Certificate
	keys  []any
	// password is the one the file opened with.
	password string
	// clearKey reports a key bag in a part that is not encrypted: the
	// password does not protect it (see hasClearKeyBag).
	clearKey bool
	// ignored are the bags of kinds a store does not use, one line each.
	ignored []string
	// keyErrs are the private keys that do not parse (an algorithm
	// bizpipe does not support): each a problem of the file, while its
	// certificates still load.
	keyErrs []error
	// keyBags counts the key bags, parsed or not, to number them.
	keyBags int
}

// exposed reports whether the file holds a key that no password protects,
// for File.HasUnencryptedKey.
func (c *pkcs12Contents) exposed() bool {
	return (len(c.keys) > 0 || len(c.keyErrs) > 0) && (c.password == "" || c.clearKey)
}

var (
	oidCertBag            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidCRLBag             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 4}
	oidSecretBag          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 5}
	oidSafeContentsBag    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 6}
	oidX509CertificateBag = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
)

const (
	// maxPKCS12Keys is the most private keys a PKCS#12 file may hold: a
	// keystore of an organisation's few identities holds a handful, and
	// each key costs a derivation and, for RSA, a check of the key.
	maxPKCS12Keys = 32
	// maxPKCS12Nesting is how deep SafeContents bags may nest. No
	// exporter nests them; OpenSSL reads them at any depth.
	maxPKCS12Nesting = 4
	// maxPKCS12IterationBudget bounds the iteration counts of all the key
	// derivations walkPKCS12 does for one file (each form of each
	// password tried on each encrypted part and key): four at the
	// largest count a file may state, four hundred at keytool's 10,000.
	// It counts what the file states, not hash computations: a
	// derivation of a long key computes up to three chains of that
	// length (PKCS#12's for a 3DES key, PBKDF2's for AES-256), and the
	// iteration checks before the walk derive once more per part.
	maxPKCS12IterationBudget = 4 * maxPKCS12Iterations
)

// notDecryptedError is a part or key that does not decrypt with the
// password (a wrong password, or damage its padding shows).
type notDecryptedError struct{ what string }

func (e *notDecryptedError) Error() string { return e.what + " does not decrypt" }

// p12Password is a password in the forms the schemes take: bmp for the
// PKCS#12 schemes, text for PBES2.
type p12Password struct {
	bmp  []byte
	text string
}

// passwordForms are the forms of a password decryption tries, in order:
// the zero-terminated BMPString, and for the empty password also no bytes
// at all, which some exporters derive with (go-pkcs12 tries both too).
func passwordForms(password string) []p12Password {
	forms := []p12Password{{bmpZeroTerminated(password), password}}
	if password == "" {
		forms = append(forms, p12Password{nil, ""})
	}
	return forms
}

type p12Walker struct {
	forms  []p12Password
	budget *int64 // iterations left for this file
	out    *pkcs12Contents
}

// decrypt decrypts ciphertext with the first form of the password that
// gives a plaintext valid says is right. where names the encryption as
// checkPKCS12Iterations does; what names the part or key for errors.
func (w *p12Walker) decrypt(alg pkix.AlgorithmIdentifier, ciphertext []byte, where, what string, valid func([]byte) bool) ([]byte, error) {
	if err := checkPBE(alg, where); err != nil {
		return nil, err
	}
	count, err := pbeSupported(alg)
	if err != nil {
		return nil, fmt.Errorf("PKCS#12 %s: %w", what, err)
	}
	forms := w.forms
	if alg.Algorithm.Equal(oidPBES2) {
		forms = forms[:1] // PBES2 takes the text, the same in every form
	}
	for _, f := range forms {
		if *w.budget -= int64(count); *w.budget < 0 {
			return nil, fmt.Errorf("PKCS#12 file needs key derivations of more than %d iterations in all; refused (re-export it with fewer keys or the exporter's default iteration count)", maxPKCS12IterationBudget)
		}
		if plain, ok := decryptPBE(alg, ciphertext, f.bmp, f.text); ok && valid(plain) {
			return plain, nil
		}
	}
	return nil, &notDecryptedError{what: what}
}

// bags reads a SafeContents: clear is whether no encryption covers it.
func (w *p12Walker) bags(safeContents []byte, depth int, clear bool) error {
	var bags []p12SafeBag
	rest, err := asn1.Unmarshal(safeContents, &bags)
	switch {
	case err != nil:
		return fmt.Errorf("cannot parse PKCS#12 bags: %w", err)
	case len(rest) != 0:
		return errors.New("cannot parse PKCS#12 bags: trailing data after them")
	}
	for _, bag := range bags {
		switch {
		case bag.ID.Equal(oidCertBag):
			if err := w.certBag(bag.Value.Bytes); err != nil {
				return err
			}
		case bag.ID.Equal(oidKeyBag), bag.ID.Equal(oidShroudedKeyBag):
			if w.out.keyBags == maxPKCS12Keys {
				return fmt.Errorf("PKCS#12 file of more than %d private keys; refused (a store needs the keys of its own identities only)", maxPKCS12Keys)
			}
			w.out.keyBags++
			der := bag.Value.Bytes
			if bag.ID.Equal(oidShroudedKeyBag) {
				var err error
				if der, err = w.shroudedKey(der, clear); err != nil {
					return err
				}
			} else if clear {
				w.out.clearKey = true
			}
			k, err := parsePKCS8(der)
			if err != nil {
				// The key alone is unusable: the file's certificates
				// still load, as a PEM file's other blocks do.
				w.out.keyErrs = append(w.out.keyErrs, fmt.Errorf("PKCS#12 private key %d: %w", w.out.keyBags, err))
				continue
			}
			w.out.keys = append(w.out.keys, k)
		case bag.ID.Equal(oidSafeContentsBag):
			if depth == maxPKCS12Nesting {
				return fmt.Errorf("PKCS#12 bags nested more than %d deep; refused", maxPKCS12Nesting)
			}
			if err := w.bags(bag.Value.Bytes, depth+1, clear); err != nil {
				return err
			}
		case bag.ID.Equal(oidCRLBag):
			w.out.ignored = append(w.out.ignored, "a CRL bag")
		case bag.ID.Equal(oidSecretBag):
			w.out.ignored = append(w.out.ignored, "a secret bag (a symmetric key)")
		default:
			w.out.ignored = append(w.out.ignored, "a bag of type "+bag.ID.String())
		}
	}
	return nil
}

func (w *p12Walker) certBag(value []byte) error {
	var cb struct {
		ID   asn1.ObjectIdentifier
		Data []byte `asn1:"tag:0,explicit"`
	}
	if _, err := asn1.Unmarshal(value, &cb); err != nil {
		return fmt.Errorf("cannot parse PKCS#12 certificate bag: %w", err)
	}
	if !cb.ID.Equal(oidX509CertificateBag) {
		w.out.ignored = append(w.out.ignored, "a certificate bag of type "+cb.ID.String()+" (not X.509)")
		return nil
	}
	c, err := x509.ParseCertificate(cb.Data)
	if err != nil {
		return fmt.Errorf("PKCS#12 certificate %d: %w", len(w.out.certs)+1, err)
	}
	w.out.certs = append(w.out.certs, c)
	return nil
}

// shroudedKey decrypts a shrouded key bag into its PKCS#8 DER.
func (w *p12Walker) shroudedKey(value []byte, clear bool) ([]byte, error) {
	var epki p12EncryptedKey
	if _, err := asn1.Unmarshal(value, &epki); err != nil {
		return nil, fmt.Errorf("cannot parse PKCS#12 encrypted private key: %w", err)
	}
	if n := len(epki.EncryptedData); n > maxShroudedKeySize {
		return nil, fmt.Errorf("PKCS#12 encrypted private key of %d bytes, larger than an RSA key of %d bits can be; the file is refused unopened", n, maxRSAKeyBits)
	}
	where := "private key encryption"
	if !clear {
		where += " inside the encrypted content"
	}
	return w.decrypt(epki.Algorithm, epki.EncryptedData, where,
		fmt.Sprintf("private key %d", w.out.keyBags), isPKCS8)
}

func parsePKCS8(der []byte) (any, error) {
	if err := checkRSAKeySize(der); err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		if uerr := unsupportedKeyError(der); uerr != nil {
			return nil, uerr
		}
	}
	return k, err
}

// isSafeContents and isPKCS8 tell a right password's plaintext from a
// wrong one's that passed the padding check by chance.
func isSafeContents(plain []byte) bool {
	var bags []p12SafeBag
	rest, err := asn1.Unmarshal(plain, &bags)
	return err == nil && len(rest) == 0
}

func isPKCS8(plain []byte) bool {
	var info struct {
		Version    asn1.RawValue
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	rest, err := asn1.Unmarshal(plain, &info)
	return err == nil && len(rest) == 0
}

// pbeSupported returns the iteration count of an encryption decryptPBE
// can decrypt, or an error naming what it cannot: such a part or key is
// unsupported, not a sign of a wrong password.
func pbeSupported(alg pkix.AlgorithmIdentifier) (int, error) {
	switch {
	case alg.Algorithm.Equal(oidPBES2):
		var params p12PBES2Params
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil {
			return 0, fmt.Errorf("cannot parse its PBES2 parameters: %w", err)
		}
		if !params.Kdf.Algorithm.Equal(oidPBKDF2) {
			return 0, fmt.Errorf("PBES2 key derivation %s is not supported (only PBKDF2)", params.Kdf.Algorithm)
		}
		var kdf p12PBKDF2Params
		if _, err := asn1.Unmarshal(params.Kdf.Parameters.FullBytes, &kdf); err != nil {
			return 0, fmt.Errorf("cannot parse its PBKDF2 parameters: %w", err)
		}
		switch p := kdf.Prf.Algorithm; {
		case p == nil, p.Equal(oidHmacWithSHA1), p.Equal(oidHmacWithSHA256), p.Equal(oidHmacWithSHA512):
		default:
			return 0, fmt.Errorf("PBKDF2 function %s is not supported (only HMAC with SHA-1, SHA-256 or SHA-512)", p)
		}
		switch e := params.EncryptionScheme.Algorithm; {
		case e.Equal(oidAES128CBC), e.Equal(oidAES192CBC), e.Equal(oidAES256CBC):
		default:
			return 0, fmt.Errorf("PBES2 cipher %s is not supported (only AES-CBC)", e)
		}
		n, ok := usableCount(kdf.Iterations)
		if !ok {
			return 0, errors.New("its PBKDF2 iteration count is not a positive number")
		}
		return n, nil
	case alg.Algorithm.Equal(oidPBEWithSHAAnd3KeyTripleDESCBC), alg.Algorithm.Equal(oidPBEWithSHAAnd128BitRC2CBC), alg.Algorithm.Equal(oidPBEWithSHAAnd40BitRC2CBC):
		var params p12PBEParams
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil {
			return 0, fmt.Errorf("cannot parse its encryption parameters: %w", err)
		}
		n, ok := usableCount(params.Iterations)
		if !ok {
			return 0, errors.New("its iteration count is not a positive number")
		}
		// The key and the IV are derived each on their own.
		return 2 * n, nil
	}
	return 0, fmt.Errorf("encryption %s is not supported (PBES2 with AES, or PKCS#12 3DES or RC2)", alg.Algorithm)
}
