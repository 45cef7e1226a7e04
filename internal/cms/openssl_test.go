package cms

// Interoperability with the openssl command-line tool. These tests fail (not
// skip) when openssl is missing: interop is the point of the package.

import (
	"bytes"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// opensslCipherFlag maps each algorithm to the openssl cms cipher option
// (all accepted by OpenSSL 3.0; "-aes128"/"-aes256"/"-des3" are aliases of
// -aes-128-cbc/-aes-256-cbc/-des-ede3-cbc).
var opensslCipherFlag = map[Algorithm]string{
	AES128CBC: "-aes128",
	AES256CBC: "-aes256",
	AES128GCM: "-aes-128-gcm",
	AES256GCM: "-aes-256-gcm",
	DES3CBC:   "-des3",
}

func TestOpenSSLVersion(t *testing.T) {
	t.Logf("%s", bytes.TrimSpace(runOpenSSL(t, "version")))
}

// TestOpenSSLDecryptsOurs: our Encrypt → openssl cms -decrypt recovers the
// exact bytes, for every algorithm and body; -cmsout -print shows the right
// structure; and openssl's DER re-encoding of our output is byte-identical
// (so our output is canonical DER, including SET OF order).
func TestOpenSSLDecryptsOurs(t *testing.T) {
	openssl(t)
	alice := testRecipient(t, "alice")
	dir := t.TempDir()
	certPath, keyPath := alice.writePEMs(t, dir)
	for _, alg := range allAlgorithms {
		for _, body := range testBodies(true) {
			t.Run(alg.String()+"/"+body.name, func(t *testing.T) {
				t.Parallel()
				der, err := Encrypt(rand.Reader, body.data, alg, alice.cert)
				if err != nil {
					t.Fatal(err)
				}
				in := filepath.Join(t.TempDir(), "msg.p7m")
				if err := os.WriteFile(in, der, 0o600); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(t.TempDir(), "out.bin")
				runOpenSSL(t, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", in,
					"-recip", certPath, "-inkey", keyPath, "-out", out)
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, body.data) {
					t.Fatalf("openssl recovered %d bytes, want %d (content differs)", len(got), len(body.data))
				}

				// Canonical DER: openssl parses and re-encodes to the same bytes.
				re := runOpenSSL(t, "cms", "-cmsout", "-inform", "DER", "-outform", "DER", "-in", in)
				if !bytes.Equal(re, der) {
					t.Errorf("openssl DER re-encoding differs from our output (%d vs %d bytes)", len(re), len(der))
				}

				if body.name != "allbytes" {
					return
				}
				printed := string(runOpenSSL(t, "cms", "-cmsout", "-print", "-inform", "DER", "-in", in))
				checkPrinted(t, alg, printed)
			})
		}
	}
}

func checkPrinted(t *testing.T, alg Algorithm, printed string) {
	t.Helper()
	want := []string{"version: 0", "d.issuerAndSerialNumber:", "algorithm: rsaEncryption", "contentType: pkcs7-data"}
	if alg.Authenticated() {
		want = append(want,
			"contentType: id-smime-ct-authEnvelopedData (1.2.840.113549.1.9.16.1.23)",
			"d.authEnvelopedData:",
		)
		if !regexp.MustCompile(`authAttrs:\s*<ABSENT>`).MatchString(printed) {
			t.Errorf("%v: authAttrs present:\n%s", alg, printed)
		}
	} else {
		want = append(want, "contentType: pkcs7-envelopedData (1.2.840.113549.1.7.3)", "d.envelopedData:")
		if strings.Contains(printed, "authEnvelopedData") {
			t.Errorf("%v printed as authEnvelopedData", alg)
		}
	}
	want = append(want, map[Algorithm]string{
		AES128CBC: "algorithm: aes-128-cbc", AES256CBC: "algorithm: aes-256-cbc",
		AES128GCM: "algorithm: aes-128-gcm", AES256GCM: "algorithm: aes-256-gcm",
		DES3CBC: "algorithm: des-ede3-cbc",
	}[alg])
	for _, w := range want {
		if !strings.Contains(printed, w) {
			t.Errorf("%v: openssl -print output lacks %q:\n%s", alg, w, printed)
		}
	}
	if alg.Authenticated() {
		// The mac field holds the 16-byte tag.
		if !regexp.MustCompile(`(?s)mac:\s*\n\s*0000 - (?:[0-9a-f]{2}[ -]){16}`).MatchString(printed) {
			t.Errorf("%v: no 16-byte mac in -print output:\n%s", alg, printed)
		}
	}
}

// TestWeDecryptOpenSSL: openssl cms -encrypt in its various output forms →
// our Decrypt recovers the exact bytes.
func TestWeDecryptOpenSSL(t *testing.T) {
	openssl(t)
	alice := testRecipient(t, "alice")
	dir := t.TempDir()
	certPath, _ := alice.writePEMs(t, dir)

	type variant struct {
		name string
		args []string // extra openssl args; recipient given with -recip
		pem  bool     // output is PEM: decode in Go
		conv bool     // convert with openssl cms -cmsout -outform DER
		ber  bool     // expect indefinite-length top level
	}
	variants := []variant{
		{name: "der", args: []string{"-outform", "DER"}},
		{name: "stream-der", args: []string{"-stream", "-outform", "DER"}, ber: true},
		{name: "stream-pem", args: []string{"-stream", "-outform", "PEM"}, pem: true, ber: true},
		{name: "pem-to-der", args: []string{"-stream", "-outform", "PEM"}, pem: true, conv: true},
		{name: "keyid", args: []string{"-keyid", "-outform", "DER"}},
		{name: "keyid-stream", args: []string{"-keyid", "-stream", "-outform", "DER"}, ber: true},
		{name: "oaep", args: []string{"-outform", "DER", "-keyopt", "rsa_padding_mode:oaep"}},
		{name: "oaep-sha256", args: []string{"-outform", "DER", "-keyopt", "rsa_padding_mode:oaep",
			"-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha256"}},
		{name: "oaep-sha512-label", args: []string{"-outform", "DER", "-keyopt", "rsa_padding_mode:oaep",
			"-keyopt", "rsa_oaep_md:sha512", "-keyopt", "rsa_mgf1_md:sha1", "-keyopt", "rsa_oaep_label:626970"}},
	}
	ciphers := map[string]string{} // name → flag
	for alg, flag := range opensslCipherFlag {
		ciphers[alg.String()] = flag
	}
	// Also the spelled-out names and the decrypt-only AES-192 variants.
	ciphers["aes-128-cbc"] = "-aes-128-cbc"
	ciphers["des-ede3-cbc"] = "-des-ede3-cbc"
	ciphers["aes192-cbc"] = "-aes192"
	ciphers["aes192-gcm"] = "-aes-192-gcm"

	bodies := testBodies(true)
	for cname, flag := range ciphers {
		for _, v := range variants {
			for _, body := range bodies {
				if body.name == "1MiB+3" && !strings.HasPrefix(v.name, "stream") && v.name != "der" {
					continue // the large body matters for chunking; keep the run short
				}
				if body.name == "empty" && strings.Contains(flag, "gcm") && slices.Contains(v.args, "-stream") {
					// OpenSSL 3.0 quirk: "cms -encrypt -stream" with an
					// AES-GCM cipher and empty input fails with "Error
					// writing CMS output" (exit 6). Non-streamed works and
					// is covered by the "der" variants.
					continue
				}
				t.Run(cname+"/"+v.name+"/"+body.name, func(t *testing.T) {
					t.Parallel()
					tmp := t.TempDir()
					in := filepath.Join(tmp, "body.bin")
					if err := os.WriteFile(in, body.data, 0o600); err != nil {
						t.Fatal(err)
					}
					out := filepath.Join(tmp, "msg")
					args := []string{"cms", "-encrypt", "-binary", "-in", in, "-out", out, flag}
					args = append(args, v.args...)
					args = append(args, "-recip", certPath)
					// -keyopt must follow the -recip it applies to.
					args = moveKeyopts(args)
					runOpenSSL(t, args...)
					if v.conv {
						runOpenSSL(t, "cms", "-cmsout", "-inform", "PEM", "-outform", "DER", "-in", out, "-out", out+".der")
						out += ".der"
					}
					msg, err := os.ReadFile(out)
					if err != nil {
						t.Fatal(err)
					}
					if v.pem && !v.conv {
						blk, _ := pem.Decode(msg)
						if blk == nil || blk.Type != "CMS" {
							t.Fatalf("no CMS PEM block in openssl output")
						}
						msg = blk.Bytes
					}
					if v.ber != (len(msg) > 1 && msg[1] == 0x80) {
						t.Fatalf("indefinite-length top level = %v, want %v", msg[1] == 0x80, v.ber)
					}
					got, err := Decrypt(msg, alice.cert, alice.key)
					if err != nil {
						t.Fatalf("Decrypt: %v", err)
					}
					if !bytes.Equal(got, body.data) {
						t.Fatalf("Decrypt returned %d bytes, want %d (content differs)", len(got), len(body.data))
					}
				})
			}
		}
	}
}

// moveKeyopts moves "-keyopt X" pairs after the last "-recip FILE".
func moveKeyopts(args []string) []string {
	var rest, keyopts []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-keyopt" && i+1 < len(args) {
			keyopts = append(keyopts, args[i], args[i+1])
			i++
			continue
		}
		rest = append(rest, args[i])
	}
	return append(rest, keyopts...)
}

// TestOpenSSLTwoRecipients: both directions with two recipients.
func TestOpenSSLTwoRecipients(t *testing.T) {
	openssl(t)
	alice, bob := testRecipient(t, "alice"), testRecipient(t, "bob")
	dir := t.TempDir()
	aCert, aKey := alice.writePEMs(t, dir)
	bCert, bKey := bob.writePEMs(t, dir)
	body := testBodies(false)[0].data
	bodyPath := filepath.Join(dir, "body.bin")
	if err := os.WriteFile(bodyPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, alg := range allAlgorithms {
		// Ours → openssl, each recipient.
		der, err := Encrypt(rand.Reader, body, alg, alice.cert, bob.cert)
		if err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(dir, alg.String()+".ours.p7m")
		if err := os.WriteFile(in, der, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, r := range [][2]string{{aCert, aKey}, {bCert, bKey}} {
			got := runOpenSSL(t, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", in, "-recip", r[0], "-inkey", r[1])
			if !bytes.Equal(got, body) {
				t.Fatalf("%v: openssl with %s: content differs", alg, r[0])
			}
		}
		re := runOpenSSL(t, "cms", "-cmsout", "-inform", "DER", "-outform", "DER", "-in", in)
		if !bytes.Equal(re, der) {
			t.Errorf("%v: two-recipient output is not canonical DER (SET OF order?)", alg)
		}
		// openssl → ours, each recipient.
		out := filepath.Join(dir, alg.String()+".theirs.p7m")
		runOpenSSL(t, "cms", "-encrypt", "-binary", "-stream", "-outform", "DER", opensslCipherFlag[alg],
			"-in", bodyPath, "-out", out, aCert, bCert)
		msg, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*recipient{alice, bob} {
			got, err := Decrypt(msg, r.cert, r.key)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("%v: Decrypt for %s: %v", alg, r.name, err)
			}
		}
	}
}

// TestOpenSSLRejectsTampered: openssl agrees that a tampered GCM message is
// invalid (a sanity check of the mac placement from the other side).
func TestOpenSSLRejectsTamperedGCM(t *testing.T) {
	openssl(t)
	alice := testRecipient(t, "alice")
	dir := t.TempDir()
	certPath, keyPath := alice.writePEMs(t, dir)
	der, err := Encrypt(rand.Reader, []byte("tamper-evident"), AES256GCM, alice.cert)
	if err != nil {
		t.Fatal(err)
	}
	for name, pos := range map[string]int{"ciphertext": len(der) - 20, "tag": len(der) - 1} {
		mod := bytes.Clone(der)
		mod[pos] ^= 0x01
		in := filepath.Join(dir, name+".p7m")
		if err := os.WriteFile(in, mod, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := tryOpenSSL(t, "cms", "-decrypt", "-inform", "DER", "-in", in, "-recip", certPath, "-inkey", keyPath); err == nil {
			t.Errorf("openssl accepted tampered %s: %q", name, out)
		}
		if _, err := Decrypt(mod, alice.cert, alice.key); err == nil {
			t.Errorf("Decrypt accepted tampered %s", name)
		}
	}
}

// TestOpenSSLWrongKey: openssl's view of a mismatched key, for comparison.
func TestDecryptOpenSSLWrongKey(t *testing.T) {
	openssl(t)
	alice, bob := testRecipient(t, "alice"), testRecipient(t, "bob")
	dir := t.TempDir()
	aCert, _ := alice.writePEMs(t, dir)
	body := filepath.Join(dir, "b")
	if err := os.WriteFile(body, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for alg, flag := range opensslCipherFlag {
		out := filepath.Join(dir, alg.String())
		runOpenSSL(t, "cms", "-encrypt", "-binary", "-outform", "DER", flag, "-in", body, "-out", out, aCert)
		msg, _ := os.ReadFile(out)
		if _, err := Decrypt(msg, bob.cert, bob.key); err == nil {
			t.Errorf("%v: decrypted with the wrong recipient", alg)
		}
		if _, err := Decrypt(msg, alice.cert, bob.key); err == nil {
			t.Errorf("%v: decrypted with the wrong key", alg)
		}
	}
}

// TestWeDecryptMixedRecipientTypes: messages that also carry
// KeyAgreeRecipientInfo (EC recipient) and PasswordRecipientInfo entries
// (EnvelopedData version 3) decrypt for the RSA recipient; the others are
// skipped.
func TestWeDecryptMixedRecipientTypes(t *testing.T) {
	openssl(t)
	alice := testRecipient(t, "alice")
	dir := t.TempDir()
	aCert, _ := alice.writePEMs(t, dir)
	ecCert, ecKey := filepath.Join(dir, "ec.crt.pem"), filepath.Join(dir, "ec.key.pem")
	runOpenSSL(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", ecKey, "-out", ecCert, "-subj", "/CN=ec partner", "-days", "2")
	body := testBodies(false)[0].data
	bodyPath := filepath.Join(dir, "body.bin")
	if err := os.WriteFile(bodyPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, alg := range allAlgorithms {
		out := filepath.Join(dir, alg.String()+".p7m")
		args := []string{"cms", "-encrypt", "-binary", "-outform", "DER", opensslCipherFlag[alg], "-in", bodyPath, "-out", out}
		if !alg.Authenticated() {
			// OpenSSL 3.0.19 cannot add a pwri with a GCM content cipher
			// ("CMS_add0_recipient_password: cipher parameter
			// initialisation error"), so only the CBC messages get one.
			args = append(args, "-pwri_password", "secret")
		}
		args = append(args, "-recip", ecCert, "-recip", aCert)
		runOpenSSL(t, args...)
		msg, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		printed := string(runOpenSSL(t, "cms", "-cmsout", "-print", "-inform", "DER", "-in", out))
		if !strings.Contains(printed, "d.kari:") || !alg.Authenticated() && !strings.Contains(printed, "d.pwri:") {
			t.Fatalf("%v: expected recipient types missing from openssl output:\n%s", alg, printed)
		}
		got, err := Decrypt(msg, alice.cert, alice.key)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%v: %v", alg, err)
		}
	}
}

// TestDecryptAnyOpenSSL: a message openssl cms -encrypt made for one of
// several identities (a host's current and previous decryption
// certificates), addressed by issuer and serial or, with -keyid, by
// subject key identifier, decrypts with the one it is for, which
// DecryptAny and DecryptStreamAny name by its index; addressed to two of
// them, the first listed wins; addressed to none, the error says whom it
// is for, and is ErrNoRecipient.
func TestDecryptAnyOpenSSL(t *testing.T) {
	openssl(t)
	current, previous, stranger := testRecipient(t, "alice"), testRecipient(t, "bob"), testRecipient(t, "carol")
	dir := t.TempDir()
	curCert, _ := current.writePEMs(t, dir)
	prevCert, _ := previous.writePEMs(t, dir)
	strCert, _ := stranger.writePEMs(t, dir)
	body := testBodies(false)[0].data
	bodyPath := filepath.Join(dir, "body.bin")
	if err := os.WriteFile(bodyPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	recips := []Recipient{{Cert: current.cert, Key: current.key}, {Cert: previous.cert, Key: previous.key}}
	encrypt := func(name string, alg Algorithm, keyid bool, certs ...string) []byte {
		out := filepath.Join(dir, name)
		args := []string{"cms", "-encrypt", "-binary", "-outform", "DER", opensslCipherFlag[alg], "-in", bodyPath, "-out", out}
		if keyid {
			args = append(args, "-keyid")
		}
		runOpenSSL(t, append(args, certs...)...)
		msg, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	decryptBoth := func(msg []byte) ([]byte, int, error, []byte, int, error) {
		got, i, err := DecryptAny(msg, recips)
		var out bytes.Buffer
		j, serr := DecryptStreamAny(t.Context(), bytes.NewReader(msg), int64(len(msg)), recips, &out)
		return got, i, err, out.Bytes(), j, serr
	}
	for _, alg := range []Algorithm{AES256CBC, AES128GCM} {
		for _, keyid := range []bool{false, true} {
			name := fmt.Sprintf("%v keyid=%t", alg, keyid)
			for _, tc := range []struct {
				what  string
				certs []string
				want  int
			}{
				{"for the previous", []string{prevCert}, 1},
				{"for the current", []string{curCert}, 0},
				{"for both, previous first", []string{prevCert, curCert}, 0},
				{"for the stranger and the previous", []string{strCert, prevCert}, 1},
			} {
				msg := encrypt("m.p7m", alg, keyid, tc.certs...)
				got, i, err, sgot, j, serr := decryptBoth(msg)
				if err != nil || i != tc.want || !bytes.Equal(got, body) {
					t.Errorf("%s %s: DecryptAny chose %d (%v), want %d and the body", name, tc.what, i, err, tc.want)
				}
				if serr != nil || j != tc.want || !bytes.Equal(sgot, body) {
					t.Errorf("%s %s: DecryptStreamAny chose %d (%v), want %d and the body", name, tc.what, j, serr, tc.want)
				}
			}
			msg := encrypt("stranger.p7m", alg, keyid, strCert)
			_, i, err, _, j, serr := decryptBoth(msg)
			for _, e := range []error{err, serr} {
				var nre *NoRecipientError
				if !errors.Is(e, ErrNoRecipient) || !errors.As(e, &nre) || len(nre.Intended) != 1 {
					t.Fatalf("%s for a stranger: %v; want a NoRecipientError naming one recipient", name, e)
				}
				want := fmt.Sprintf(`issuer "%s", serial %s`, stranger.cert.Issuer, stranger.cert.SerialNumber.Text(16))
				if keyid {
					want = fmt.Sprintf("subject key identifier %X", stranger.cert.SubjectKeyId)
				}
				if nre.Intended[0] != want || !strings.Contains(e.Error(), want) {
					t.Errorf("%s for a stranger: %q; want it to name %s", name, e, want)
				}
			}
			if i != -1 || j != -1 {
				t.Errorf("%s for a stranger: chose %d and %d, want -1", name, i, j)
			}
		}
	}
}
