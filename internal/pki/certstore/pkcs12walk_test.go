package certstore

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

// formsPassword is the store password of TestPKCS12Forms: no problem or
// note may quote it.
const formsPassword = "Forms-pw-91c4"

// TestPKCS12Forms: the PKCS#12 files OpenSSL and keytool write that
// go-pkcs12's DecodeChain refuses (several keys, no key, no certificate, no
// MAC) are read whole, their keys matched to certificates from any file of
// the store, and a wrong password is BP2003 with or without a MAC.
func TestPKCS12Forms(t *testing.T) {
	fx := newFixtures(t)
	W := testpki.WriteFile
	pw := KnownPassword(formsPassword)
	// keytool starts a JVM each time: its files are made once.
	made := t.TempDir()
	multi, trust := filepath.Join(made, "multi.p12"), filepath.Join(made, "truststore.p12")
	keystore(t, multi, formsPassword, fx.rsaLeaf, fx.ecLeaf)
	for _, c := range []*testpki.Cert{fx.ca, fx.edLeaf} {
		runKeytool(t, "-importcert", "-noprompt", "-alias", c.Cert.Subject.CommonName, "-file", certPath(t, c),
			"-keystore", trust, "-storetype", "PKCS12", "-storepass", formsPassword)
	}
	cp := func(t *testing.T, from, dir string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		W(t, dir, filepath.Base(from), data)
	}
	tests := []struct {
		name  string
		pw    Password
		setup func(t *testing.T, dir string)
		want  want
	}{
		{
			name:  "keytool keystore of two PrivateKeyEntry",
			pw:    pw,
			setup: func(t *testing.T, dir string) { cp(t, multi, dir) },
			want: want{
				certs: []wantCert{{"rsa leaf", "multi.p12", "multi.p12"}, {"ec leaf", "multi.p12", "multi.p12"}},
				files: map[string]FileKind{"multi.p12": FilePKCS12},
			},
		},
		{
			name:  "keytool keystore of two PrivateKeyEntry, wrong password",
			pw:    KnownPassword("not " + formsPassword),
			setup: func(t *testing.T, dir string) { cp(t, multi, dir) },
			want: want{
				files:    map[string]FileKind{"multi.p12": FilePKCS12},
				problems: []wantProblem{{"multi.p12", ProblemPassword, "the password is incorrect"}},
			},
		},
		{
			name:  "keytool truststore (certificates only, marked trusted)",
			pw:    pw,
			setup: func(t *testing.T, dir string) { cp(t, trust, dir) },
			want: want{
				// keytool keeps its entries in the order they were added.
				certs: []wantCert{{"Test CA", "truststore.p12", ""}, {"ed leaf", "truststore.p12", ""}},
				files: map[string]FileKind{"truststore.p12": FilePKCS12},
			},
		},
		{
			name: "openssl -nomac with the store's password (PBES2/AES)",
			pw:   pw,
			setup: func(t *testing.T, dir string) {
				opensslP12(t, fx.rsaLeaf, filepath.Join(dir, "nomac.p12"), "-nomac", "-certfile", certPath(t, fx.ca), "-passout", "pass:"+formsPassword)
			},
			want: want{
				certs: []wantCert{{"rsa leaf", "nomac.p12", "nomac.p12"}, {"Test CA", "nomac.p12", ""}},
				files: map[string]FileKind{"nomac.p12": FilePKCS12},
			},
		},
		{
			name: "openssl -nomac -legacy with the store's password (RC2-40, 3DES)",
			pw:   pw,
			setup: func(t *testing.T, dir string) {
				opensslP12(t, fx.ecLeaf, filepath.Join(dir, "nomac.pfx"), "-nomac", "-legacy", "-passout", "pass:"+formsPassword)
			},
			want: want{
				certs: []wantCert{{"ec leaf", "nomac.pfx", "nomac.pfx"}},
				files: map[string]FileKind{"nomac.pfx": FilePKCS12},
			},
		},
		{
			name: "openssl -nomac, wrong password",
			pw:   KnownPassword("not " + formsPassword),
			setup: func(t *testing.T, dir string) {
				opensslP12(t, fx.ecLeaf, filepath.Join(dir, "nomac.p12"), "-nomac", "-passout", "pass:"+formsPassword)
				opensslP12(t, fx.ecLeaf, filepath.Join(dir, "nomac-legacy.p12"), "-nomac", "-legacy", "-passout", "pass:"+formsPassword)
			},
			want: want{
				files: map[string]FileKind{"nomac.p12": FilePKCS12, "nomac-legacy.p12": FilePKCS12},
				problems: []wantProblem{
					{"nomac-legacy.p12", ProblemPassword, "so the password is incorrect"},
					{"nomac.p12", ProblemPassword, "so the password is incorrect"},
				},
			},
		},
		{
			name: "openssl -nomac, no password configured",
			pw:   NoPassword(),
			setup: func(t *testing.T, dir string) {
				opensslP12(t, fx.ecLeaf, filepath.Join(dir, "nomac.p12"), "-nomac", "-passout", "pass:"+formsPassword)
			},
			want: want{
				files:    map[string]FileKind{"nomac.p12": FilePKCS12},
				problems: []wantProblem{{"nomac.p12", ProblemPassword, "the store has no password configured"}},
			},
		},
		{
			name: "openssl -nomac with the empty password opens whatever the store's password",
			pw:   pw,
			setup: func(t *testing.T, dir string) {
				opensslP12(t, fx.ecLeaf, filepath.Join(dir, "empty.p12"), "-nomac", "-passout", "pass:")
				opensslP12(t, fx.rsaLeaf, filepath.Join(dir, "empty-legacy.p12"), "-nomac", "-legacy", "-passout", "pass:")
			},
			want: want{
				certs:       []wantCert{{"rsa leaf", "empty-legacy.p12", "empty-legacy.p12"}, {"ec leaf", "empty.p12", "empty.p12"}},
				files:       map[string]FileKind{"empty-legacy.p12": FilePKCS12, "empty.p12": FilePKCS12},
				unencrypted: []string{"empty-legacy.p12", "empty.p12"},
			},
		},
		{
			name: "key-only PKCS#12 beside its certificate in PEM and DER",
			pw:   pw,
			setup: func(t *testing.T, dir string) {
				opensslP12(t, fx.ecLeaf, filepath.Join(dir, "ec-key.p12"), "-nocerts", "-passout", "pass:"+formsPassword)
				opensslP12(t, fx.rsaLeaf, filepath.Join(dir, "rsa-key.p12"), "-nocerts", "-nomac", "-passout", "pass:"+formsPassword)
				W(t, dir, "ec.pem", fx.ecLeaf.CertPEM())
				W(t, dir, "rsa.der", fx.rsaLeaf.DER)
			},
			want: want{
				certs: []wantCert{{"ec leaf", "ec.pem", "ec-key.p12"}, {"rsa leaf", "rsa.der", "rsa-key.p12"}},
				files: map[string]FileKind{"ec-key.p12": FilePKCS12, "ec.pem": FilePEM, "rsa-key.p12": FilePKCS12, "rsa.der": FileDER},
			},
		},
		{
			name: "key-only PKCS#12 with no certificate anywhere",
			pw:   pw,
			setup: func(t *testing.T, dir string) {
				opensslP12(t, fx.ecLeaf, filepath.Join(dir, "key.p12"), "-nocerts", "-passout", "pass:"+formsPassword)
			},
			want: want{
				files: map[string]FileKind{"key.p12": FilePKCS12},
				notes: []string{"key.p12: private key (ECDSA P-256) matches no certificate in the store"},
			},
		},
	}
	// Each kind of file is one go-pkcs12 alone refuses, or the cases
	// would prove nothing of walkPKCS12; and DecodeChain's refusals after
	// its MAC check are still the messages macVerified knows.
	t.Run("go-pkcs12 alone refuses each", func(t *testing.T) {
		keyOnly, certOnly, noMAC := filepath.Join(made, "key.p12"), filepath.Join(made, "cert.p12"), filepath.Join(made, "nomac.p12")
		opensslP12(t, fx.ecLeaf, keyOnly, "-nocerts", "-passout", "pass:"+formsPassword)
		opensslP12(t, fx.ecLeaf, certOnly, "-nokeys", "-passout", "pass:"+formsPassword)
		opensslP12(t, fx.ecLeaf, noMAC, "-nomac", "-passout", "pass:"+formsPassword)
		for path, want := range map[string]string{
			multi:    "pkcs12: expected exactly one key bag",
			trust:    "pkcs12: private key missing",
			keyOnly:  "pkcs12: certificate missing",
			certOnly: "pkcs12: private key missing",
			noMAC:    "pkcs12: no MAC in data",
		} {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, _, _, err = pkcs12.DecodeChain(data, formsPassword)
			if err == nil || err.Error() != want {
				t.Errorf("%s: DecodeChain = %v, want %q", filepath.Base(path), err, want)
			}
			if path != noMAC && (err == nil || !macVerified(err)) {
				t.Errorf("%s: macVerified(%v) = false", filepath.Base(path), err)
			}
			if hasMAC(data) != (path != noMAC) {
				t.Errorf("%s: hasMAC = %v", filepath.Base(path), hasMAC(data))
			}
		}
	})
	secrets := append(secretsOf(t, fx.rsaLeaf), secretsOf(t, fx.ecLeaf)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			s := mustLoad(t, dir, tt.pw)
			checkStore(t, dir, s, tt.want)
			said := strings.Join(s.Notes, "\n")
			for _, p := range s.Problems {
				said += "\n" + p.Error()
			}
			if strings.Contains(said, formsPassword) {
				t.Errorf("the password is quoted: %s", said)
			}
			assertNoSecrets(t, "problems and notes", said, secrets)
		})
	}
}

// TestPKCS12WalkHostile: files no exporter writes but anyone can drop into
// a store: nested, with many keys, with bags of other kinds, with too many
// parts, truncated, or costing more derivations than the budget. Each is
// refused or read with a note, never a panic.
func TestPKCS12WalkHostile(t *testing.T) {
	fx := newFixtures(t)
	keyDER, err := x509.MarshalPKCS8PrivateKey(fx.ecLeaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	certBag := p12Bag(t, oidCertBag, mustMarshal(t, struct {
		ID   asn1.ObjectIdentifier
		Data []byte `asn1:"tag:0,explicit"`
	}{oidX509CertificateBag, fx.ecLeaf.DER}))
	keyBag := p12Bag(t, oidKeyBag, keyDER)
	nested := func(depth int) []byte {
		sc := safeContents(t, certBag, keyBag)
		for range depth {
			sc = safeContents(t, p12Bag(t, oidSafeContentsBag, sc))
		}
		return sc
	}
	manyKeys := [][]byte{certBag}
	for range maxPKCS12Keys + 1 {
		manyKeys = append(manyKeys, keyBag)
	}
	openssl := filepath.Join(t.TempDir(), "nomac.p12")
	opensslP12(t, fx.ecLeaf, openssl, "-nomac", "-passout", "pass:"+formsPassword)
	nomac, err := os.ReadFile(openssl)
	if err != nil {
		t.Fatal(err)
	}
	loaded := []wantCert{{"ec leaf", "x.p12", "x.p12"}}
	tests := []struct {
		name string
		data []byte
		want want
	}{
		{"bags in the clear", noMACPFX(t, nested(0)), want{certs: loaded, unencrypted: []string{"x.p12"}}},
		{"nested 4 deep", noMACPFX(t, nested(maxPKCS12Nesting)), want{certs: loaded, unencrypted: []string{"x.p12"}}},
		{"nested 5 deep", noMACPFX(t, nested(maxPKCS12Nesting+1)), want{
			problems: []wantProblem{{"x.p12", ProblemParse, "PKCS#12 bags nested more than 4 deep; refused"}},
		}},
		{"33 keys", noMACPFX(t, safeContents(t, manyKeys...)), want{
			problems: []wantProblem{{"x.p12", ProblemParse, "PKCS#12 file of more than 32 private keys; refused"}},
		}},
		{"CRL, secret and unknown bags", noMACPFX(t, safeContents(t, certBag, keyBag,
			p12Bag(t, oidCRLBag, mustMarshal(t, 1)), p12Bag(t, oidSecretBag, mustMarshal(t, 2)), p12Bag(t, asn1.ObjectIdentifier{1, 2, 3}, mustMarshal(t, 3)))),
			want{certs: loaded, unencrypted: []string{"x.p12"}, notes: []string{
				"x.p12: ignored: PKCS#12 a CRL bag", "x.p12: ignored: PKCS#12 a secret bag", "x.p12: ignored: PKCS#12 a bag of type 1.2.3",
			}}},
		{"no bags", noMACPFX(t, safeContents(t)), want{notes: []string{"x.p12: PKCS#12 file holds no certificate and no private key"}}},
		{"three parts", noMACPFX(t, nested(0), nested(0), nested(0)), want{
			problems: []wantProblem{{"x.p12", ProblemParse, "PKCS#12 file of 3 parts, more than the 2"}},
		}},
		{"bags that do not parse", noMACPFX(t, []byte{0x30, 0x03, 0x02, 0x01}), want{
			problems: []wantProblem{{"x.p12", ProblemParse, "cannot parse PKCS#12 bags"}},
		}},
		// Cut short, the file no longer parses to tell that it has no
		// MAC (hasMAC): go-pkcs12 reads it, and says what is wrong;
		// walkPKCS12's own refusal is TestPKCS12WalkRefusesUnparsed's.
		{"truncated file without a MAC, refused by go-pkcs12", nomac[:len(nomac)*2/3], want{
			problems: []wantProblem{{"x.p12", ProblemParse, "cannot parse PKCS#12: pkcs12: error reading P12 data"}},
		}},
		// Whole, with bytes after it, it parses (encoding/asn1 leaves
		// the rest): walkPKCS12 reads it, and refuses the rest.
		{"trailing data after a file without a MAC", append(slices.Clip(nomac), 0x05, 0x00), want{
			problems: []wantProblem{{"x.p12", ProblemParse, "cannot parse PKCS#12: trailing data after the PFX structure"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			testpki.WriteFile(t, dir, "x.p12", tt.data)
			tt.want.files = map[string]FileKind{"x.p12": FilePKCS12}
			checkStore(t, dir, mustLoad(t, dir, KnownPassword(formsPassword)), tt.want)
		})
	}

	// The budget: openssl -nomac leaves the certificates in the clear,
	// so the file costs one derivation, for its key, of 2048 iterations.
	for budget, ok := range map[int64]bool{2048: true, 2047: false} {
		left := budget
		_, err := walkPKCS12(nomac, formsPassword, &left)
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "iterations in all; refused")) {
			t.Errorf("walkPKCS12 with a budget of %d iterations: %v", budget, err)
		}
	}
}

// keystore makes path a keytool PKCS#12 keystore of one PrivateKeyEntry
// per certificate, as keytool -importkeystore writes it from openssl's
// exports.
func keystore(t *testing.T, path, password string, certs ...*testpki.Cert) {
	t.Helper()
	for i, c := range certs {
		src := filepath.Join(t.TempDir(), "src.p12")
		opensslP12(t, c, src, "-name", fmt.Sprintf("entry%d", i), "-passout", "pass:"+password)
		runKeytool(t, "-importkeystore", "-noprompt", "-srckeystore", src, "-srcstoretype", "PKCS12", "-srcstorepass", password,
			"-destkeystore", path, "-deststoretype", "PKCS12", "-deststorepass", password)
	}
}

// opensslP12 runs openssl pkcs12 -export on c's certificate and key.
func opensslP12(t *testing.T, c *testpki.Cert, out string, args ...string) {
	t.Helper()
	cert, key := scratch(t, c)
	runOpenSSL(t, append([]string{"pkcs12", "-export", "-in", cert, "-inkey", key, "-out", out}, args...)...)
}

func certPath(t *testing.T, c *testpki.Cert) string {
	cert, _ := scratch(t, c)
	return cert
}

// runKeytool runs the JDK's keytool, failing the test when it is missing
// or fails. The JVM options make it start in a third of the time.
func runKeytool(t *testing.T, args ...string) {
	t.Helper()
	args = append([]string{"-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"}, args...)
	out, err := exec.Command(testpki.Keytool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("keytool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// p12Bag is a SafeBag of the given type and value.
func p12Bag(t testing.TB, id asn1.ObjectIdentifier, value []byte) []byte {
	return mustMarshal(t, struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue
	}{id, explicit0(value)})
}

func safeContents(t testing.TB, bags ...[]byte) []byte {
	raw := make([]asn1.RawValue, len(bags))
	for i, b := range bags {
		raw[i] = asn1.RawValue{FullBytes: b}
	}
	return mustMarshal(t, raw)
}

// noMACPFX is a PFX without a MAC whose parts are the given SafeContents,
// each in the clear.
func noMACPFX(t testing.TB, parts ...[]byte) []byte {
	type ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}
	cis := make([]ci, len(parts))
	for i, p := range parts {
		cis[i] = ci{oidPKCS7Data, explicit0(mustMarshal(t, p))}
	}
	return mustMarshal(t, struct {
		Version  int
		AuthSafe ci
	}{3, ci{oidPKCS7Data, explicit0(mustMarshal(t, mustMarshal(t, cis)))}})
}

// explicit0 is inner under an explicit [0] tag, which encoding/asn1 does
// not write for a RawValue of FullBytes.
func explicit0(inner []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
}

// TestPKCS12WalkRefusesUnparsed: walkPKCS12's own refusals of a file that
// does not parse as a PFX, which Load never shows (such a file goes to
// go-pkcs12, see hasMAC) but a caller of walkPKCS12 meets first: a file
// cut short, one with bytes after it, and one whose authenticated safe
// is not a sequence of parts.
func TestPKCS12WalkRefusesUnparsed(t *testing.T) {
	fx := newFixtures(t)
	openssl := filepath.Join(t.TempDir(), "nomac.p12")
	opensslP12(t, fx.ecLeaf, openssl, "-nomac", "-passout", "pass:"+formsPassword)
	nomac, err := os.ReadFile(openssl)
	if err != nil {
		t.Fatal(err)
	}
	whole := int64(maxPKCS12IterationBudget)
	if _, err := walkPKCS12(nomac, formsPassword, &whole); err != nil {
		t.Fatalf("the whole file: %v", err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", nomac[:len(nomac)*2/3], "cannot parse PKCS#12: asn1: "},
		{"trailing data", append(slices.Clip(nomac), 0x05, 0x00), "cannot parse PKCS#12: trailing data after the PFX structure"},
		{"authenticated safe not a sequence", func() []byte {
			type ci struct {
				ContentType asn1.ObjectIdentifier
				Content     asn1.RawValue
			}
			return mustMarshal(t, struct {
				Version  int
				AuthSafe ci
			}{3, ci{oidPKCS7Data, explicit0(mustMarshal(t, mustMarshal(t, 7)))}})
		}(), "cannot parse PKCS#12: its authenticated safe is not a sequence of ContentInfo"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			left := int64(maxPKCS12IterationBudget)
			c, err := walkPKCS12(tt.data, formsPassword, &left)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("walkPKCS12 = %v, %v; want an error starting %q", c, err, tt.want)
			}
			if left != maxPKCS12IterationBudget {
				t.Errorf("%d iterations spent on a file refused unparsed, want none", maxPKCS12IterationBudget-left)
			}
		})
	}
}

// TestPKCS12NoMACBudgetSpentOnSecondPassword: a file without a MAC that
// the store's password does not decrypt is a wrong password (BP2003) even
// when trying the empty password after it runs out of the file's budget of
// iterations: the budget is the empty password's trouble, not the file's.
// Made by openssl at the largest count a file may state, with the legacy
// PKCS#12 schemes (each derivation twice, for the key and the IV): the
// store's password costs one derivation of the encrypted part, and the
// empty password, tried in both its forms, two more, past the budget.
func TestPKCS12NoMACBudgetSpentOnSecondPassword(t *testing.T) {
	fx := newFixtures(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "costly.p12")
	// -iter before -nomac: openssl takes -iter for the MAC's count too.
	opensslP12(t, fx.ecLeaf, path, "-iter", fmt.Sprint(maxPKCS12Iterations), "-nomac", "-legacy", "-passout", "pass:"+formsPassword)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if hasMAC(data) {
		t.Fatal("openssl wrote a MAC")
	}
	// The premise: the empty password alone runs out of the budget that
	// the store's wrong one left.
	left := int64(maxPKCS12IterationBudget)
	if _, err := walkPKCS12(data, "not "+formsPassword, &left); err == nil || !strings.Contains(err.Error(), "does not decrypt") {
		t.Fatalf("walkPKCS12 with the wrong password: %v, want not decrypted", err)
	}
	if _, err := walkPKCS12(data, "", &left); err == nil || !strings.Contains(err.Error(), "iterations in all; refused") {
		t.Fatalf("walkPKCS12 with the empty password after it: %v, want the budget spent", err)
	}
	checkStore(t, dir, mustLoad(t, dir, KnownPassword("not "+formsPassword)), want{
		files:    map[string]FileKind{"costly.p12": FilePKCS12},
		problems: []wantProblem{{"costly.p12", ProblemPassword, "so the password is incorrect"}},
	})
	// With the right password it opens.
	checkStore(t, dir, mustLoad(t, dir, KnownPassword(formsPassword)), want{
		certs: []wantCert{{"ec leaf", "costly.p12", "costly.p12"}},
		files: map[string]FileKind{"costly.p12": FilePKCS12},
	})
}

// withSHA1MAC returns the PKCS#12 file data with a MAC (HMAC-SHA1, 2048
// iterations) made with password in place of the one it has, if any, as
// openssl pkcs12 -twopass makes it: the MAC's password then need not be
// the one the file's parts and keys are encrypted with.
func withSHA1MAC(t *testing.T, data []byte, password string) []byte {
	t.Helper()
	var pfx p12PFX
	if rest, err := asn1.Unmarshal(data, &pfx); err != nil || len(rest) != 0 {
		t.Fatalf("parsing the PFX: %v", err)
	}
	var authSafe []byte
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		t.Fatal(err)
	}
	salt := []byte("bizpipe-mac-salt")
	const iterations = 2048
	key := pkcs12KDF(salt, bmpZeroTerminated(password), iterations, 3, sha1.Size)
	mac := hmac.New(sha1.New, key)
	mac.Write(authSafe)
	type digestInfo struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	type macData struct {
		Mac        digestInfo
		MacSalt    []byte
		Iterations int
	}
	oidSHA1 := asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	return mustMarshal(t, struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  macData
	}{3, asn1.RawValue{FullBytes: mustMarshal(t, pfx.AuthSafe)}, macData{
		digestInfo{pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.NullRawValue}, mac.Sum(nil)}, salt, iterations,
	}})
}

// bagsOf returns the SafeBags of the parts in the clear of the PKCS#12
// file data, each whole.
func bagsOf(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var pfx p12PFX
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		t.Fatal(err)
	}
	parts, ok := authSafeParts(pfx)
	if !ok {
		t.Fatal("no parts")
	}
	var out [][]byte
	for _, ci := range parts {
		if !ci.ContentType.Equal(oidPKCS7Data) {
			continue
		}
		var sc []byte
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &sc); err != nil {
			t.Fatal(err)
		}
		var bags []asn1.RawValue
		if _, err := asn1.Unmarshal(sc, &bags); err != nil {
			t.Fatal(err)
		}
		for _, b := range bags {
			out = append(out, b.FullBytes)
		}
	}
	return out
}

// TestPKCS12SecondPassword: a file whose MAC the store's password verifies
// but a key of which that password does not decrypt (a key encrypted with
// a second password) is not a wrong password: BP2002 saying that the file
// is damaged or has a second password, which a store cannot give. The
// file holds two keys, the first encrypted with the store's password, so
// that go-pkcs12 verifies the MAC (this test's own making of it is
// checked so), decrypts the first key, and refuses the file for its
// second key bag before decrypting it, which sends it to walkPKCS12.
func TestPKCS12SecondPassword(t *testing.T) {
	fx := newFixtures(t)
	dir := t.TempDir()
	var keyBags [][]byte
	for _, k := range []struct {
		c  *testpki.Cert
		pw string
	}{{fx.ecLeaf, formsPassword}, {fx.rsaLeaf, "second-" + formsPassword}} {
		made := filepath.Join(t.TempDir(), "key.p12")
		opensslP12(t, k.c, made, "-nocerts", "-nomac", "-passout", "pass:"+k.pw)
		data, err := os.ReadFile(made)
		if err != nil {
			t.Fatal(err)
		}
		bags := bagsOf(t, data)
		if len(bags) != 1 {
			t.Fatalf("openssl -nocerts wrote %d bags in the clear, want the key's", len(bags))
		}
		keyBags = append(keyBags, bags[0])
	}
	twopass := withSHA1MAC(t, noMACPFX(t, safeContents(t, keyBags...)), formsPassword)
	if _, _, _, err := pkcs12.DecodeChain(twopass, formsPassword); err == nil || err.Error() != "pkcs12: expected exactly one key bag" {
		t.Fatalf("DecodeChain = %v; want the MAC verified, and the file refused for its second key", err)
	}
	if _, _, _, err := pkcs12.DecodeChain(twopass, "second-"+formsPassword); !errors.Is(err, pkcs12.ErrIncorrectPassword) {
		t.Fatalf("DecodeChain with the second password = %v; want the MAC to refuse it", err)
	}
	testpki.WriteFile(t, dir, "twopass.p12", twopass)
	checkStore(t, dir, mustLoad(t, dir, KnownPassword(formsPassword)), want{
		files: map[string]FileKind{"twopass.p12": FilePKCS12},
		problems: []wantProblem{{"twopass.p12", ProblemParse,
			"its integrity check (MAC) accepts the store's password, but private key 2 does not decrypt with it: the file is damaged, or encrypted with a second password"}},
	})
}

// TestPKCS12PasswordOutsideBMP: a store password with a character outside
// Unicode's Basic Multilingual Plane, which a PKCS#12 password (a
// BMPString) cannot hold, is BP2003 saying so, for a file with a MAC and
// one without; go-pkcs12 would say only that it cannot encode it.
func TestPKCS12PasswordOutsideBMP(t *testing.T) {
	fx := newFixtures(t)
	dir := t.TempDir()
	opensslP12(t, fx.ecLeaf, filepath.Join(dir, "mac.p12"), "-passout", "pass:"+formsPassword)
	opensslP12(t, fx.ecLeaf, filepath.Join(dir, "nomac.p12"), "-nomac", "-passout", "pass:"+formsPassword)
	const outside = "outside the Unicode Basic Multilingual Plane"
	checkStore(t, dir, mustLoad(t, dir, KnownPassword(formsPassword+"\U0001F511")), want{
		files: map[string]FileKind{"mac.p12": FilePKCS12, "nomac.p12": FilePKCS12},
		problems: []wantProblem{
			{"mac.p12", ProblemPassword, outside},
			{"nomac.p12", ProblemPassword, outside},
		},
	})
}
