package certstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
	"github.com/bizpipe/bizpipe/internal/testpki"

	"software.sslmate.com/src/go-pkcs12"
)

// markIterations is the count the test files are made with: its DER
// encoding (02 03 00 d4 31) is distinctive, and replacing it with 02 03 7f
// ff ff (8388607, above the cap) keeps every length in the file unchanged.
const markIterations = 54321

var (
	markDER = []byte{0x02, 0x03, 0x00, 0xd4, 0x31}
	bigDER  = []byte{0x02, 0x03, 0x7f, 0xff, 0xff}
)

// raiseNth replaces the n-th (0-based) occurrence of markDER.
func raiseNth(t *testing.T, p12 []byte, n int) []byte {
	t.Helper()
	if c := bytes.Count(p12, markDER); c != 3 {
		t.Fatalf("test file holds %d counts of %d, want 3 (certificates, key, MAC)", c, markIterations)
	}
	out := bytes.Clone(p12)
	at := 0
	for range n + 1 {
		i := bytes.Index(out[at:], markDER)
		at += i + len(markDER)
	}
	copy(out[at-len(markDER):], bigDER)
	return out
}

// withMACIterations re-encodes a PFX with the MAC's iteration count set to
// n, as /tmp/hostile/mkiter.py does.
func withMACIterations(t testing.TB, p12 []byte, n *big.Int) []byte {
	t.Helper()
	var pfx struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  struct {
			Mac        asn1.RawValue
			MacSalt    []byte
			Iterations *big.Int
		}
	}
	if _, err := asn1.Unmarshal(p12, &pfx); err != nil {
		t.Fatal(err)
	}
	pfx.MacData.Iterations = n
	out, err := asn1.Marshal(pfx)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func iterationProblem(t *testing.T, s *Store, file, where, count string) {
	t.Helper()
	if len(s.Problems) != 1 {
		t.Fatalf("problems = %v, want one for %s", s.Problems, file)
	}
	p := s.Problems[0]
	msg := p.Error()
	if p.Kind != ProblemParse || filepath.Base(p.File) != file ||
		!strings.Contains(msg, "PKCS#12 "+where+" iteration count "+count+" exceeds the limit of 1000000") {
		t.Fatalf("problem = %v (%v), want BP2002 for %s naming the %s count %s", msg, p.Kind, file, where, count)
	}
	if len(s.Certificates) != 0 {
		t.Fatalf("certificates loaded from a refused file: %d", len(s.Certificates))
	}
}

// TestPKCS12IterationCap: a file stating a count above the cap anywhere it
// is visible is refused, named, with the count, before go-pkcs12 derives a
// key with it. Each case would take seconds to minutes if it were opened.
func TestPKCS12IterationCap(t *testing.T) {
	fx := newFixtures(t)
	modern := fx.ecLeaf.PKCS12With(t, pkcs12.Modern2023.WithIterations(markIterations), "pw", fx.ca)
	legacy := fx.ecLeaf.PKCS12With(t, pkcs12.LegacyRC2.WithIterations(markIterations), "pw")
	// go-pkcs12 writes the encrypted certificates first, then the key, then
	// the MAC.
	cases := []struct {
		name, where string
		data        []byte
		pw          Password
	}{
		{"pbes2-certs.p12", "encrypted content (PBES2)", raiseNth(t, modern, 0), KnownPassword("pw")},
		{"pbes2-key.p12", "private key encryption (PBES2)", raiseNth(t, modern, 1), KnownPassword("pw")},
		{"sha256-mac.p12", "MAC", raiseNth(t, modern, 2), KnownPassword("pw")},
		{"rc2-certs.p12", "encrypted content", raiseNth(t, legacy, 0), KnownPassword("pw")},
		{"3des-key.p12", "private key encryption", raiseNth(t, legacy, 1), KnownPassword("pw")},
		{"sha1-mac.p12", "MAC", raiseNth(t, legacy, 2), KnownPassword("pw")},
		// No password configured: the empty password would be tried.
		{"nopassword.pfx", "MAC", raiseNth(t, legacy, 2), NoPassword()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			testpki.WriteFile(t, dir, c.name, c.data)
			iterationProblem(t, testfs.Within(t, "Load", func() *Store { return mustLoad(t, dir, c.pw) }), c.name, c.where, "8388607")
		})
	}
	t.Run("mkiter", func(t *testing.T) {
		dir := t.TempDir()
		testpki.WriteFile(t, dir, "mkiter.p12", withMACIterations(t, modern, big.NewInt(2147483647)))
		iterationProblem(t, testfs.Within(t, "Load", func() *Store { return mustLoad(t, dir, NoPassword()) }), "mkiter.p12", "MAC", "2147483647")
	})
	t.Run("count of any length is not printed", func(t *testing.T) {
		dir := t.TempDir()
		huge := new(big.Int).Lsh(big.NewInt(1), 4000)
		testpki.WriteFile(t, dir, "huge.p12", withMACIterations(t, modern, huge))
		iterationProblem(t, mustLoad(t, dir, KnownPassword("pw")), "huge.p12", "MAC", "of 4001 bits")
	})
	t.Run("at the cap and one above", func(t *testing.T) {
		dir := t.TempDir()
		testpki.WriteFile(t, dir, "at.p12", withMACIterations(t, modern, big.NewInt(maxPKCS12Iterations)))
		// The count is past the cap's check, so go-pkcs12 derives the
		// MAC key with it; the MAC, made with another count, then fails.
		if s := mustLoad(t, dir, KnownPassword("pw")); len(s.Problems) != 1 || strings.Contains(s.Problems[0].Error(), "exceeds the limit") ||
			!strings.Contains(s.Problems[0].Error(), "integrity check fails") {
			t.Fatalf("a MAC count at the cap: problems %v; want only the MAC's failure, not the cap", s.Problems)
		}
		above := t.TempDir()
		testpki.WriteFile(t, above, "above.p12", withMACIterations(t, modern, big.NewInt(maxPKCS12Iterations+1)))
		iterationProblem(t, mustLoad(t, above, KnownPassword("pw")), "above.p12", "MAC", "1000001")
	})
	t.Run("re-encoded below the cap", func(t *testing.T) {
		// withMACIterations itself keeps a file valid, so the mkiter
		// case above is refused for its count, not for its encoding.
		dir := t.TempDir()
		testpki.WriteFile(t, dir, "ok.p12", withMACIterations(t, modern, big.NewInt(markIterations)))
		s := mustLoad(t, dir, KnownPassword("pw"))
		if len(s.Problems) != 0 || len(s.Certificates) != 2 {
			t.Fatalf("problems %v, %d certificates; want none and 2", s.Problems, len(s.Certificates))
		}
	})
}

// TestPKCS12IterationsOpenSSL: files OpenSSL makes, with its default counts
// and with -iter 600000 (for the encryption and the MAC: what PBKDF2
// advice asks of newer tools), load.
func TestPKCS12IterationsOpenSSL(t *testing.T) {
	fx := newFixtures(t)
	cert, key := scratch(t, fx.rsaLeaf)
	for _, iter := range []int{0, 600000} {
		t.Run("iter="+strconv.Itoa(iter), func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"pkcs12", "-export", "-in", cert, "-inkey", key, "-passout", "pass:s3cret", "-out", filepath.Join(dir, "o.p12")}
			if iter > 0 {
				args = append(args, "-iter", strconv.Itoa(iter))
			}
			runOpenSSL(t, args...)
			s := mustLoad(t, dir, KnownPassword("s3cret"))
			if len(s.Problems) != 0 || len(s.Certificates) != 1 || s.Certificates[0].Key == nil {
				t.Fatalf("problems %v, %d certificates; want the certificate with its key", s.Problems, len(s.Certificates))
			}
		})
	}
}

// encryptedParts returns the encrypted parts of a PFX.
func encryptedParts(t *testing.T, p12 []byte) []p12EncryptedData {
	t.Helper()
	var pfx p12PFX
	var authSafe asn1.RawValue
	var parts []p12ContentInfo
	if _, err := asn1.Unmarshal(p12, &pfx); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(authSafe.Bytes, &parts); err != nil {
		t.Fatal(err)
	}
	var out []p12EncryptedData
	for _, ci := range parts {
		if ci.ContentType.Equal(oidPKCS7EncryptedData) {
			var ed p12EncryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				t.Fatal(err)
			}
			out = append(out, ed)
		}
	}
	return out
}

// TestDecryptPBE: the check decrypts the encrypted parts of the files that
// exporters make (else it could not see a count hidden inside one): PBES2
// with AES, 3DES, RC2-40 and RC2-128, empty passwords too.
func TestDecryptPBE(t *testing.T) {
	fx := newFixtures(t)
	files := map[string][]byte{
		"Modern2023":  fx.ecLeaf.PKCS12With(t, pkcs12.Modern2023, "pw", fx.ca),
		"Modern2026":  fx.ecLeaf.PKCS12With(t, pkcs12.Modern2026, "pw"),
		"LegacyRC2":   fx.ecLeaf.PKCS12With(t, pkcs12.LegacyRC2, "pw", fx.ca),
		"LegacyDES":   fx.ecLeaf.PKCS12With(t, pkcs12.LegacyDES, "pw", fx.ca),
		"Modern2023 ": fx.ecLeaf.PKCS12With(t, pkcs12.Modern2023, ""),
	}
	cert, key := scratch(t, fx.rsaLeaf)
	for name, args := range map[string][]string{
		"openssl":            {"-passout", "pass:pw"},
		"openssl -legacy":    {"-legacy", "-passout", "pass:pw"},
		"openssl RC2-128":    {"-legacy", "-certpbe", "PBE-SHA1-RC2-128", "-passout", "pass:pw"},
		"openssl empty":      {"-passout", "pass:"},
		"openssl -legacy ''": {"-legacy", "-passout", "pass:"},
	} {
		out := filepath.Join(t.TempDir(), "o.p12")
		runOpenSSL(t, append([]string{"pkcs12", "-export", "-in", cert, "-inkey", key, "-out", out}, args...)...)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	for name, p12 := range files {
		pw := "pw"
		if strings.HasSuffix(name, " ") || strings.Contains(name, "empty") || strings.HasSuffix(name, "''") {
			pw = ""
		}
		parts := encryptedParts(t, p12)
		if len(parts) == 0 {
			t.Errorf("%s: no encrypted part to test", name)
		}
		for _, ed := range parts {
			eci := ed.EncryptedContentInfo
			var plain []byte
			ok := false
			for _, bmp := range [][]byte{bmpZeroTerminated(pw), nil} {
				if plain, ok = decryptPBE(eci.ContentEncryptionAlgorithm, eci.EncryptedContent, bmp, pw); ok {
					break
				}
			}
			var bags []p12SafeBag
			if !ok {
				t.Errorf("%s: %v part not decrypted", name, eci.ContentEncryptionAlgorithm.Algorithm)
			} else if _, err := asn1.Unmarshal(plain, &bags); err != nil || len(bags) == 0 {
				t.Errorf("%s: decrypted part is not SafeContents: %v", name, err)
			}
		}
	}
}

// TestPKCS12IterationCapInsideEncryptedPart: a shrouded key whose count is
// hidden in an encrypted part (readable by whoever knows the password; the
// empty one, tried on a store without a password, is everyone's) is refused
// too: the same file with a small count decodes with go-pkcs12, so the
// count would be used.
func TestPKCS12IterationCapInsideEncryptedPart(t *testing.T) {
	fx := newFixtures(t)
	orig := fx.ecLeaf.PKCS12With(t, pkcs12.Modern2023.WithIterations(markIterations), "")
	build := func(keyCount []byte) []byte {
		// The original's parts: the encrypted certificates, then the key's
		// SafeContents in the clear, which is encrypted here (PBES2,
		// AES-256, PBKDF2 with 1 iteration, the empty password).
		parts, keyBags := twoParts(t, orig)
		keyBags = bytes.Replace(keyBags, markDER, keyCount, 1)
		salt, iv := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 16)
		key, err := pbkdf2.Key(sha256.New, "", salt, 1, 32)
		if err != nil {
			t.Fatal(err)
		}
		pad := 16 - len(keyBags)%16
		plain := append(bytes.Clone(keyBags), bytes.Repeat([]byte{byte(pad)}, pad)...)
		block, _ := aes.NewCipher(key)
		ct := make([]byte, len(plain))
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
		kdfParams := mustMarshal(t, struct {
			Salt       []byte
			Iterations int
			Prf        pkix.AlgorithmIdentifier
		}{salt, 1, pkix.AlgorithmIdentifier{Algorithm: oidHmacWithSHA256, Parameters: asn1.NullRawValue}})
		pbes2 := mustMarshal(t, struct{ Kdf, Enc pkix.AlgorithmIdentifier }{
			pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
			pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, iv)}},
		})
		ed := mustMarshal(t, struct {
			Version int
			ECI     struct {
				ContentType asn1.ObjectIdentifier
				Alg         pkix.AlgorithmIdentifier
				Content     []byte `asn1:"tag:0"`
			}
		}{ECI: struct {
			ContentType asn1.ObjectIdentifier
			Alg         pkix.AlgorithmIdentifier
			Content     []byte `asn1:"tag:0"`
		}{oidPKCS7Data, pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: pbes2}}, ct}})
		// encoding/asn1 writes a RawValue with FullBytes verbatim, without
		// an explicit tag: [0] is written by hand.
		type ci struct {
			ContentType asn1.ObjectIdentifier
			Content     asn1.RawValue
		}
		explicit0 := func(inner []byte) asn1.RawValue {
			return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
		}
		newParts := mustMarshal(t, []ci{
			{oidPKCS7EncryptedData, explicit0(parts[0].Content.Bytes)},
			{oidPKCS7EncryptedData, explicit0(ed)},
		})
		return mustMarshal(t, struct {
			Version  int
			AuthSafe ci
		}{3, ci{oidPKCS7Data, explicit0(mustMarshal(t, newParts))}})
	}
	if _, _, _, err := pkcs12.DecodeChain(build(markDER), ""); err != nil {
		t.Fatalf("the test's file does not decode: %v", err)
	}
	dir := t.TempDir()
	testpki.WriteFile(t, dir, "hidden.p12", build(bigDER))
	for _, pw := range []Password{NoPassword(), KnownPassword("the store's, not the file's")} {
		iterationProblem(t, testfs.Within(t, "Load", func() *Store { return mustLoad(t, dir, pw) }),
			"hidden.p12", "private key encryption inside the encrypted content (PBES2)", "8388607")
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPKCS12EveryDecryptionChecked: when a part decrypts with more than
// one form of the empty password (one of them only into garbage that
// passes the padding check: a salt an attacker tried until it did), the
// bags of each decryption are checked, so the hidden count of the form
// go-pkcs12 uses is not missed behind the garbage of the other.
func TestPKCS12EveryDecryptionChecked(t *testing.T) {
	fx := newFixtures(t)
	orig := fx.ecLeaf.PKCS12With(t, pkcs12.Modern2023.WithIterations(markIterations), "")
	_, keyBags := twoParts(t, orig)
	hidden := bytes.Replace(keyBags, markDER, bigDER, 1)
	forms := [][]byte{{0, 0}, nil}
	decrypt := func(pw []byte) ([]byte, bool) {
		if pw == nil {
			return hidden, true
		}
		return []byte("garbage that passed the padding check"), true
	}
	err := checkEachDecryption(forms, decrypt)
	if err == nil || !strings.Contains(err.Error(), "8388607") {
		t.Errorf("checkEachDecryption = %v, want the hidden count 8388607 refused", err)
	}
	if err := checkEachDecryption(forms, func(pw []byte) ([]byte, bool) { return keyBags, true }); err != nil {
		t.Errorf("a small count refused: %v", err)
	}
}

// twoParts are the two parts of a PKCS#12 file made with
// pkcs12.Modern2023 (the encrypted certificates, then the key's
// SafeContents in the clear), and that SafeContents.
func twoParts(t *testing.T, p12 []byte) (parts []p12ContentInfo, keyBags []byte) {
	t.Helper()
	var pfx p12PFX
	var authSafe asn1.RawValue
	if _, err := asn1.Unmarshal(p12, &pfx); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(authSafe.Bytes, &parts); err != nil || len(parts) != 2 {
		t.Fatalf("parts: %d, %v", len(parts), err)
	}
	if _, err := asn1.Unmarshal(parts[1].Content.Bytes, &keyBags); err != nil {
		t.Fatal(err)
	}
	return parts, keyBags
}
