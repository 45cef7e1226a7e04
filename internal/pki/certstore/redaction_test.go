package certstore

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

var verbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"}

// secretsOf returns strings that would betray the key if they appeared in
// output: its private numbers in decimal and hex, and pieces of its PKCS#8
// DER in hex and base64.
func secretsOf(t *testing.T, c *testpki.Cert) []string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(der)
	h := hex.EncodeToString(der)
	// Chunks from the end of the encoding, where the private values are.
	s := []string{b64[len(b64)-24:], h[len(h)-24:], strings.ToUpper(h[len(h)-24:])}
	switch k := c.Key.(type) {
	case *rsa.PrivateKey:
		s = append(s, k.D.String(), k.D.Text(16), k.Primes[0].String(), k.Primes[1].Text(16))
	case *ecdsa.PrivateKey:
		d, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		s = append(s, hex.EncodeToString(d), new(big.Int).SetBytes(d).String())
	}
	return s
}

func assertNoSecrets(t *testing.T, what, out string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s leaks key material %.16q...: %.200q", what, s, out)
		}
	}
}

func TestPrivateKeyIsRedacted(t *testing.T) {
	fx := newFixtures(t)
	dir := t.TempDir()
	testpki.WriteFile(t, dir, "rsa.pem", join(fx.rsaLeaf.CertPEM(), fx.rsaLeaf.KeyPKCS1PEM(t)))
	testpki.WriteFile(t, dir, "ec.pem", join(fx.ecLeaf.CertPEM(), fx.ecLeaf.KeyPEM()))
	s := mustLoad(t, dir, NoPassword())

	for _, leaf := range []*testpki.Cert{fx.rsaLeaf, fx.ecLeaf} {
		secrets := secretsOf(t, leaf)
		var c *Certificate
		for _, sc := range s.Certificates {
			if sc.SHA1 == leaf.SHA1() {
				c = sc
			}
		}
		if c == nil || c.Key == nil {
			t.Fatalf("%s: certificate with key not loaded", leaf.Cert.Subject.CommonName)
		}
		// The secrets must be findable where they are expected, or the
		// assertions below prove nothing.
		assertFound(t, fmt.Sprintf("%+v", leaf.Key), secrets)

		for _, verb := range verbs {
			for name, v := range map[string]any{"*PrivateKey": c.Key, "PrivateKey": *c.Key} {
				out := fmt.Sprintf(verb, v)
				if out != "[private key redacted]" {
					t.Errorf("Sprintf(%s, %s) = %.100q, want [private key redacted]", verb, name, out)
				}
			}
			for name, v := range map[string]any{"*Certificate": c, "Certificate": *c, "*Store": s, "Store": *s, "[]*Certificate": s.Certificates} {
				assertNoSecrets(t, fmt.Sprintf("Sprintf(%s, %s)", verb, name), fmt.Sprintf(verb, v), secrets)
			}
		}
		if got := c.Key.String() + c.Key.GoString(); got != "[private key redacted][private key redacted]" {
			t.Errorf("String+GoString = %q", got)
		}
	}
}

// assertFound guards the redaction test against secrets that could never
// match: each must occur in the key's unredacted rendering or encoding.
func assertFound(t *testing.T, unredacted string, secrets []string) {
	t.Helper()
	found := 0
	for _, s := range secrets {
		if strings.Contains(unredacted, s) {
			found++
		}
	}
	if found == 0 {
		t.Fatal("none of the secrets appears in the unredacted key: test is broken")
	}
}

func TestPasswordIsRedacted(t *testing.T) {
	const secret = "hunter2-very-secret"
	tests := []struct {
		pw   Password
		want string
	}{
		{NoPassword(), "no password"},
		{KnownPassword(secret), "[password redacted]"},
		{UnknownPassword(), "unknown password"},
	}
	for _, tt := range tests {
		for _, verb := range verbs {
			if got := fmt.Sprintf(verb, tt.pw); got != tt.want {
				t.Errorf("Sprintf(%s, %s) = %q, want %q", verb, tt.want, got, tt.want)
			}
			wrapped := fmt.Sprintf(verb, struct{ P Password }{tt.pw})
			if strings.Contains(wrapped, "hunter2") {
				t.Errorf("Sprintf(%s) of a struct holding the password = %q", verb, wrapped)
			}
		}
	}
	pw := KnownPassword(secret)
	if v, ok := pw.Value(); !ok || v != secret || !pw.IsSet() || pw.IsUnknown() {
		t.Errorf("KnownPassword: Value = %q, %v; IsSet %v; IsUnknown %v", v, ok, pw.IsSet(), pw.IsUnknown())
	}
	if _, ok := UnknownPassword().Value(); ok || !UnknownPassword().IsUnknown() || !UnknownPassword().IsSet() {
		t.Error("UnknownPassword reports a value or is not unknown")
	}
	if v, ok := NoPassword().Value(); !ok || v != "" || NoPassword().IsSet() || (Password{}) != NoPassword() {
		t.Error("NoPassword is not the zero value with the empty password")
	}
}

// TestProblemsCarryNoSecrets checks the messages of files that fail to parse
// or decrypt for the password and for pieces of the key.
func TestProblemsCarryNoSecrets(t *testing.T) {
	fx := newFixtures(t)
	const password = "correct-horse-battery"
	keyDER, err := x509.MarshalPKCS8PrivateKey(fx.rsaLeaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	damaged := append([]byte(nil), keyDER[:len(keyDER)-40]...) // truncated inside the private values

	dir := t.TempDir()
	testpki.WriteFile(t, dir, "damaged.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: damaged}))
	testpki.WriteFile(t, dir, "pkcs1-as-pkcs8.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(fx.rsaLeaf.Key.(*rsa.PrivateKey))}))
	testpki.WriteFile(t, dir, "id.p12", fx.rsaLeaf.PKCS12(t, password, false))
	testpki.WriteFile(t, dir, "legacy.p12", fx.rsaLeaf.PKCS12(t, password, true))
	p12 := fx.rsaLeaf.PKCS12(t, password, false)
	testpki.WriteFile(t, dir, "cut.p12", p12[:len(p12)-100])

	for _, pw := range []Password{KnownPassword(password + "-wrong"), KnownPassword(password)} {
		s := mustLoad(t, dir, pw)
		if len(s.Problems) < 3 {
			t.Fatalf("got %d problems, want at least 3: %v", len(s.Problems), s.Problems)
		}
		secrets := append(secretsOf(t, fx.rsaLeaf), "correct-horse")
		for _, p := range s.Problems {
			for _, verb := range verbs {
				assertNoSecrets(t, "problem "+p.File, fmt.Sprintf(verb, p), secrets)
			}
			assertNoSecrets(t, "problem "+p.File, p.Error(), secrets)
		}
	}
}
