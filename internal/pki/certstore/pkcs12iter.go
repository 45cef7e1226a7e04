package certstore

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// maxPKCS12Iterations caps every key-derivation iteration count of a PKCS#12
// file: its MAC and each password-based encryption. go-pkcs12 derives with
// whatever count the file states, and a count is only an INTEGER in the
// file: 2147483647 keeps validate, the engine and the language server
// busy for minutes, and the empty password is tried even on a store without
// one, so anyone who can drop a file into an other-people store could stall
// them (SECURITY.md: those files are untrusted data).
//
// Real exporters stay far below: OpenSSL writes 2048, Windows 2000, and the
// tools that follow current PBKDF2 advice (OWASP, NIST SP 800-132's "as
// large as feasible") about 600,000. One million leaves room above that and
// still bounds one derivation to a fraction of a second. A file opened costs
// a handful of them (the MAC, tried twice for an empty password; two
// encrypted parts, each decrypted once here to see inside and once by
// go-pkcs12; one key; and what walkPKCS12, which opens the files DecodeChain
// refuses, derives within maxPKCS12IterationBudget), so a hostile file costs
// seconds, not minutes.
const maxPKCS12Iterations = 1_000_000

// errPKCS12Iterations reports a count above maxPKCS12Iterations. It names
// where the count is and its value, never the password.
type errPKCS12Iterations struct {
	where string
	count *big.Int
}

func (e *errPKCS12Iterations) Error() string {
	count := e.count.String()
	if !e.count.IsInt64() {
		// A hostile file may state a count of any length: do not print it.
		count = fmt.Sprintf("of %d bits", e.count.BitLen())
	}
	return fmt.Sprintf("PKCS#12 %s iteration count %s exceeds the limit of %d; the file is refused unopened "+
		"(a count this large stalls whoever opens it; re-export it with the exporter's default)",
		e.where, count, maxPKCS12Iterations)
}

var (
	oidPKCS7Data          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidPKCS7EncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBES2              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBMAC1             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	// oidPKCS12PBE is the arc of the PKCS#12 password-based encryption
	// schemes (pbeWithSHAAnd3-KeyTripleDES-CBC, ...-RC2-CBC, ...).
	oidPKCS12PBE = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}
)

// The shapes below mirror go-pkcs12's, each as loose as or looser than its
// counterpart (no trailing-data check, integers of any size, attributes not
// decoded). That makes skipping what does not parse safe: a part this walk
// cannot decode, go-pkcs12 cannot decode either, so it never derives a key
// with a count inside it.
type p12PFX struct {
	Version  asn1.RawValue
	AuthSafe p12ContentInfo
	MacData  p12MacData `asn1:"optional"`
}

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type p12MacData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    asn1.RawValue
	}
	MacSalt    asn1.RawValue
	Iterations *big.Int `asn1:"optional"`
}

type p12EncryptedData struct {
	Version              asn1.RawValue
	EncryptedContentInfo struct {
		ContentType                asn1.ObjectIdentifier
		ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
		EncryptedContent           []byte `asn1:"tag:0,optional"`
	}
}

type p12SafeBag struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"tag:0,explicit"`
}

// p12EncryptedKey is an EncryptedPrivateKeyInfo, a shrouded key bag's value.
type p12EncryptedKey struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte `asn1:"optional"`
}

type p12PBES2Params struct {
	Kdf              pkix.AlgorithmIdentifier
	EncryptionScheme pkix.AlgorithmIdentifier `asn1:"optional"`
}

type p12PBKDF2Params struct {
	Salt       asn1.RawValue
	Iterations *big.Int
	KeyLength  int                      `asn1:"optional"`
	Prf        pkix.AlgorithmIdentifier `asn1:"optional"`
}

type p12PBEParams struct {
	Salt       asn1.RawValue
	Iterations *big.Int
}

// checkPKCS12Iterations reads the iteration counts a PKCS#12 file states
// and returns an *errPKCS12Iterations for the first above
// maxPKCS12Iterations. It reads them where go-pkcs12 derives keys with
// them, in its order: the MAC, the encryption of each encrypted part, each
// shrouded key outside one, and then each shrouded key inside an encrypted
// part, whose count only decryption shows (see checkEncryptedBags); the
// size of each key on the way too (see checkBags). password
// is the store's password, as parsePKCS12 passes it to go-pkcs12. It uses
// encoding/asn1, which returns errors and never panics on malformed input.
func checkPKCS12Iterations(data []byte, password string) error {
	var pfx p12PFX
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return nil // go-pkcs12 fails to parse it too, before deriving anything
	}
	mac := pfx.MacData.Mac.Algorithm
	switch {
	case mac.Algorithm.Equal(oidPBMAC1):
		var params struct{ Kdf pkix.AlgorithmIdentifier }
		if _, err := asn1.Unmarshal(mac.Parameters.FullBytes, &params); err == nil {
			if err := checkPBKDF2(params.Kdf, "MAC (PBMAC1)"); err != nil {
				return err
			}
		}
	case len(mac.Algorithm) > 0:
		if err := checkCount(pfx.MacData.Iterations, "MAC"); err != nil {
			return err
		}
	}
	parts, ok := authSafeParts(pfx)
	if !ok {
		return nil
	}
	var encrypted []p12EncryptedData
	for _, ci := range parts {
		switch {
		case ci.ContentType.Equal(oidPKCS7EncryptedData):
			var ed p12EncryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				continue
			}
			if err := checkPBE(ed.EncryptedContentInfo.ContentEncryptionAlgorithm, "encrypted content"); err != nil {
				return err
			}
			encrypted = append(encrypted, ed)
		case ci.ContentType.Equal(oidPKCS7Data):
			var safeContents []byte
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &safeContents); err != nil {
				continue
			}
			if err := checkBags(safeContents, "private key encryption"); err != nil {
				return err
			}
		}
	}
	if len(parts) > maxPKCS12Parts {
		// go-pkcs12 refuses the file before decrypting any part; so does
		// this check, which would otherwise derive a key per part.
		return nil
	}
	return checkEncryptedBags(encrypted, password, len(mac.Algorithm) > 0)
}

// authSafeParts returns the parts (ContentInfos) of a PFX's
// AuthenticatedSafe, ok false when they do not parse.
func authSafeParts(pfx p12PFX) (parts []p12ContentInfo, ok bool) {
	var authSafe asn1.RawValue // OCTET STRING holding the AuthenticatedSafe
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil, false
	}
	if _, err := asn1.Unmarshal(authSafe.Bytes, &parts); err != nil {
		return nil, false
	}
	return parts, true
}

// hasClearKeyBag reports whether a PKCS#12 file holds a private key that
// its password does not encrypt: a keyBag (plain PKCS#8, as openssl
// pkcs12 -export -keypbe NONE writes) in a part that is not encrypted
// either. The password then guards only the MAC, and whoever can read
// the file can read the key.
func hasClearKeyBag(data []byte) bool {
	var pfx p12PFX
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return false
	}
	parts, _ := authSafeParts(pfx)
	for _, ci := range parts {
		if !ci.ContentType.Equal(oidPKCS7Data) {
			continue
		}
		var safeContents []byte
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &safeContents); err != nil {
			continue
		}
		var bags []p12SafeBag
		if _, err := asn1.Unmarshal(safeContents, &bags); err != nil {
			continue
		}
		for _, bag := range bags {
			if bag.ID.Equal(oidKeyBag) {
				return true
			}
		}
	}
	return false
}

// maxPKCS12Parts is the most parts (ContentInfos of the AuthenticatedSafe)
// go-pkcs12's DecodeChain accepts, and walkPKCS12 too: certificates and
// keys, as OpenSSL, keytool and Windows write them.
const maxPKCS12Parts = 2

// checkEncryptedBags decrypts each encrypted part with the passwords the
// file will be opened with and checks the shrouded keys inside. Someone who
// knows such a password (an empty one, tried on a store without a
// password and on every file without a MAC, is everyone's) can hide a key
// with a count of billions there, which go-pkcs12 or walkPKCS12 would
// derive with after decrypting the part (walkPKCS12 checks each count
// itself too; go-pkcs12 does not). Each decryption costs one key
// derivation, with a count checked already; a part that does not decrypt
// (a wrong password: go-pkcs12's MAC check then fails first) is skipped.
func checkEncryptedBags(encrypted []p12EncryptedData, password string, hasMAC bool) error {
	if len(encrypted) == 0 {
		return nil
	}
	passwords := []string{password}
	if !hasMAC && password != "" {
		// parsePKCS12WithoutMAC tries the empty password after the
		// store's.
		passwords = append(passwords, "")
	}
	for _, password := range passwords {
		// The legacy PBE takes the password as a zero-terminated
		// BMPString, and an empty one also as no bytes at all (some
		// exporters do that); PBES2 takes its text (UTF-8).
		var bmp [][]byte
		for _, f := range passwordForms(password) {
			bmp = append(bmp, f.bmp)
		}
		for _, ed := range encrypted {
			eci := ed.EncryptedContentInfo
			forms := bmp
			if eci.ContentEncryptionAlgorithm.Algorithm.Equal(oidPBES2) {
				forms = bmp[:1] // one password text to try
			}
			err := checkEachDecryption(forms, func(pw []byte) ([]byte, bool) {
				return decryptPBE(eci.ContentEncryptionAlgorithm, eci.EncryptedContent, pw, password)
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// checkEachDecryption checks the bags of every decryption of a part that
// succeeds, one per password form: not only the first, as a part built
// for one form can be made (by trying salts) to decrypt with another into
// garbage that passes the padding check, which would hide the bags
// go-pkcs12 reads with the form its MAC check chose.
func checkEachDecryption(forms [][]byte, decrypt func(pw []byte) ([]byte, bool)) error {
	for _, pw := range forms {
		plain, ok := decrypt(pw)
		if !ok {
			continue
		}
		if err := checkBags(plain, "private key encryption inside the encrypted content"); err != nil {
			return err
		}
	}
	return nil
}

// checkBags checks the key bags of a SafeContents: the encryption of
// every shrouded key bag, and the size of every key, which go-pkcs12
// parses as x509 does, at a cost that grows with the square of an RSA
// key's size (see maxRSAKeyBits). A plain key bag's modulus is read; an
// encrypted key is bounded by its size alone, as only decryption shows
// more.
func checkBags(safeContents []byte, where string) error {
	var bags []p12SafeBag
	if _, err := asn1.Unmarshal(safeContents, &bags); err != nil {
		return nil
	}
	for _, bag := range bags {
		switch {
		case bag.ID.Equal(oidKeyBag):
			if err := checkRSAKeySize(bag.Value.Bytes); err != nil {
				return err
			}
		case bag.ID.Equal(oidShroudedKeyBag):
			var epki p12EncryptedKey
			if _, err := asn1.Unmarshal(bag.Value.Bytes, &epki); err != nil {
				continue
			}
			if n := len(epki.EncryptedData); n > maxShroudedKeySize {
				return fmt.Errorf("PKCS#12 encrypted private key of %d bytes, larger than an RSA key of %d bits can be; the file is refused unopened", n, maxRSAKeyBits)
			}
			if err := checkPBE(epki.Algorithm, where); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxShroudedKeySize bounds an encrypted key: a PKCS#8 RSA key of
// maxRSAKeyBits is about 9.3 KiB, and encryption adds a block of padding.
const maxShroudedKeySize = 16 << 10

// checkPBE checks a password-based encryption algorithm: PBES2 (its PBKDF2
// count) or a PKCS#12 PBE scheme (its own count). Other algorithms are ones
// go-pkcs12 refuses before deriving anything.
func checkPBE(alg pkix.AlgorithmIdentifier, where string) error {
	switch {
	case alg.Algorithm.Equal(oidPBES2):
		var params p12PBES2Params
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil {
			return nil
		}
		return checkPBKDF2(params.Kdf, where+" (PBES2)")
	case len(alg.Algorithm) == len(oidPKCS12PBE)+1 && alg.Algorithm[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE):
		var params p12PBEParams
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil {
			return nil
		}
		return checkCount(params.Iterations, where)
	}
	return nil
}

func checkPBKDF2(kdf pkix.AlgorithmIdentifier, where string) error {
	if !kdf.Algorithm.Equal(oidPBKDF2) {
		return nil
	}
	var params p12PBKDF2Params
	if _, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &params); err != nil {
		return nil
	}
	return checkCount(params.Iterations, where)
}

// checkCount refuses a count above the cap. An absent count (nil) is the
// MAC's default of 1.
func checkCount(n *big.Int, where string) error {
	if n != nil && n.Cmp(big.NewInt(maxPKCS12Iterations)) > 0 {
		return &errPKCS12Iterations{where: where, count: n}
	}
	return nil
}
