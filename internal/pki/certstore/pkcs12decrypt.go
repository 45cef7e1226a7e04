package certstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"hash"
	"math/big"
	"unicode/utf16"

	"github.com/bizpipe/bizpipe/internal/pki/rc2"
)

// Decrypting a PKCS#12 file's encrypted parts, only to read the iteration
// counts inside them (see checkEncryptedBags): the schemes go-pkcs12
// decrypts, derived as it derives them. Nothing decrypted here leaves this
// file but the shrouded keys' algorithm parameters.

var (
	oidPBEWithSHAAnd3KeyTripleDESCBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidPBEWithSHAAnd128BitRC2CBC     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidPBEWithSHAAnd40BitRC2CBC      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
	oidHmacWithSHA1                  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHmacWithSHA256                = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHmacWithSHA512                = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC                     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC                     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC                     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// decryptPBE decrypts ciphertext with a password-based scheme: bmpPassword
// for the PKCS#12 schemes (a zero-terminated BMPString, or nil), password
// for PBES2. ok is false for a scheme go-pkcs12 does not decrypt either, a
// count that is not a positive int (checkCount has bounded it above), and
// a result whose padding is wrong (the wrong password).
func decryptPBE(alg pkix.AlgorithmIdentifier, ciphertext, bmpPassword []byte, password string) (plain []byte, ok bool) {
	var block cipher.Block
	var iv []byte
	switch {
	case alg.Algorithm.Equal(oidPBES2):
		var params p12PBES2Params
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil || !params.Kdf.Algorithm.Equal(oidPBKDF2) {
			return nil, false
		}
		var kdf p12PBKDF2Params
		if _, err := asn1.Unmarshal(params.Kdf.Parameters.FullBytes, &kdf); err != nil || kdf.Salt.Tag != asn1.TagOctetString {
			return nil, false
		}
		iter, ok := smallCount(kdf)
		if !ok {
			return nil, false
		}
		var prf func() hash.Hash
		switch p := kdf.Prf.Algorithm; {
		case p == nil, p.Equal(oidHmacWithSHA1):
			prf = sha1.New
		case p.Equal(oidHmacWithSHA256):
			prf = sha256.New
		case p.Equal(oidHmacWithSHA512):
			prf = sha512.New
		default:
			return nil, false
		}
		keyLen := map[string]int{oidAES128CBC.String(): 16, oidAES192CBC.String(): 24, oidAES256CBC.String(): 32}[params.EncryptionScheme.Algorithm.String()]
		if keyLen == 0 {
			return nil, false
		}
		key, err := pbkdf2.Key(prf, password, kdf.Salt.Bytes, iter, keyLen)
		if err != nil {
			return nil, false
		}
		if block, err = aes.NewCipher(key); err != nil {
			return nil, false
		}
		iv = params.EncryptionScheme.Parameters.Bytes
	default:
		var keyLen int
		var create func(key []byte) (cipher.Block, error)
		switch {
		case alg.Algorithm.Equal(oidPBEWithSHAAnd3KeyTripleDESCBC):
			keyLen, create = 24, des.NewTripleDESCipher
		case alg.Algorithm.Equal(oidPBEWithSHAAnd128BitRC2CBC):
			keyLen, create = 16, func(k []byte) (cipher.Block, error) { return rc2.New(k, 128) }
		case alg.Algorithm.Equal(oidPBEWithSHAAnd40BitRC2CBC):
			keyLen, create = 5, func(k []byte) (cipher.Block, error) { return rc2.New(k, 40) }
		default:
			return nil, false
		}
		var params p12PBEParams
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil {
			return nil, false
		}
		iter, ok := usableCount(params.Iterations)
		if !ok {
			return nil, false
		}
		var err error
		if block, err = create(pkcs12KDF(params.Salt.Bytes, bmpPassword, iter, 1, keyLen)); err != nil {
			return nil, false
		}
		iv = pkcs12KDF(params.Salt.Bytes, bmpPassword, iter, 2, 8)
	}
	bs := block.BlockSize()
	if len(iv) != bs || len(ciphertext) == 0 || len(ciphertext)%bs != 0 {
		return nil, false
	}
	plain = make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ciphertext)
	// PKCS#7 padding: 1 to bs bytes, each the padding's length.
	n := int(plain[len(plain)-1])
	if n == 0 || n > bs {
		return nil, false
	}
	for _, b := range plain[len(plain)-n:] {
		if int(b) != n {
			return nil, false
		}
	}
	return plain[:len(plain)-n], true
}

// smallCount is PBKDF2's count as an int (usableCount).
func smallCount(kdf p12PBKDF2Params) (int, bool) { return usableCount(kdf.Iterations) }

// usableCount is an iteration count as an int: positive and at most
// maxPKCS12Iterations, else false.
func usableCount(n *big.Int) (int, bool) {
	if n == nil || n.Sign() <= 0 || !n.IsInt64() || n.Int64() > maxPKCS12Iterations {
		return 0, false
	}
	return int(n.Int64()), true
}

// pkcs12KDF is the key derivation of RFC 7292, appendix B.2, with SHA-1
// (the hash of every PKCS#12 PBE scheme): size bytes of key material (id 1)
// or IV (id 2) from salt and the BMPString password.
func pkcs12KDF(salt, password []byte, iterations, id, size int) []byte {
	const u, v = sha1.Size, 64 // hash output and block lengths
	fill := func(x []byte) []byte {
		if len(x) == 0 {
			return nil
		}
		out := make([]byte, v*((len(x)+v-1)/v))
		for i := range out {
			out[i] = x[i%len(x)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = byte(id)
	}
	in := append(fill(salt), fill(password)...)
	var out []byte
	for len(out) < size {
		h := sha1.New()
		h.Write(d)
		h.Write(in)
		a := h.Sum(nil)
		for j := 1; j < iterations; j++ {
			s := sha1.Sum(a)
			a = s[:]
		}
		out = append(out, a...)
		if len(out) >= size {
			break
		}
		// I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I,
		// where B is A repeated to v bytes.
		b := fill(a)
		for j := 0; j < len(in); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				sum := int(in[j+k]) + int(b[k]) + carry
				in[j+k] = byte(sum)
				carry = sum >> 8
			}
		}
	}
	return out[:size]
}

// bmpZeroTerminated encodes a password as PKCS#12 does: UTF-16 big-endian
// (the BMP only: parsePKCS12 refuses other characters first) and two zero
// bytes.
func bmpZeroTerminated(s string) []byte {
	units := utf16.Encode([]rune(s))
	out := make([]byte, 0, 2*len(units)+2)
	for _, u := range units {
		out = append(out, byte(u>>8), byte(u))
	}
	return append(out, 0, 0)
}
