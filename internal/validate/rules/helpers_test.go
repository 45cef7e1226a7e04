package rules_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// pki creates the test certificates on first use, so that each test function
// generates only the (slow) RSA keys it needs. Certificates that may end up
// in one store together have keys of their own: a private key belongs to
// every certificate whose public key it matches.
type pki struct {
	t     *testing.T
	now   time.Time
	keys  *testpki.Keys
	certs map[string]*testpki.Cert
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	return &pki{t: t, now: time.Now(), keys: testpki.NewKeys(), certs: map[string]*testpki.Cert{}}
}

// RSA-2048 key indices in the pool. The variants of the signing and partner
// certificates share the decoy's key: no test puts two of them, or one of
// them and the decoy, into one store.
const (
	keySign    = iota // the group signing certificate
	keyPartner        // the partner (encryption) certificate
	keyDecoy          // an unrelated certificate with key

	keyDec    // the host decryption certificate (§10)
	keyParty  // a party's signing certificate
	keyParty2 // the same party's next signing certificate
	keyNext   // the group's signing_rollover certificate (language §12)
	keyPrev   // a host's previous decryption certificate (its variants too)
	keyPrev2  // a host's second previous decryption certificate

	keySignAlt = keyDecoy // variants of the signing certificate
	keyPartAlt = keyDecoy // variants of the partner certificate
	keyDecAlt  = keyDecoy // variants of the decryption certificate
)

// with returns p for subtest t: the same certificates and keys, reported
// against t.
func (p *pki) with(t *testing.T) *pki {
	q := *p
	q.t = t
	return &q
}

// cert returns the named certificate, creating it on first use.
func (p *pki) cert(name string) *testpki.Cert {
	p.t.Helper()
	if c, ok := p.certs[name]; ok {
		return c
	}
	day := 24 * time.Hour
	rsa := func(i int) crypto.Signer { return p.keys.Key(p.t, testpki.RSA2048, i) }
	var o testpki.Options
	switch name {
	case "sign":
		o = testpki.Options{Key: rsa(keySign)}
	case "decoy":
		o = testpki.Options{Key: rsa(keyDecoy)}
	case "sign-expired":
		o = testpki.Options{Key: rsa(keySignAlt), NotAfter: p.now.Add(-2 * day)}
	case "sign-notyet":
		o = testpki.Options{Key: rsa(keySignAlt), NotBefore: p.now.Add(2 * day)}
	case "sign-expiring":
		o = testpki.Options{Key: rsa(keySignAlt), NotAfter: p.now.Add(10 * day)}
	case "sign-no-ds":
		o = testpki.Options{Key: rsa(keySignAlt), KeyUsage: x509.KeyUsageKeyEncipherment}
	case "sign-nr-only":
		// nonRepudiation (contentCommitment) alone: RFC 8550 4.4.2 and
		// OpenSSL's smimesign purpose accept it for S/MIME signatures.
		o = testpki.Options{Key: rsa(keySignAlt), KeyUsage: x509.KeyUsageContentCommitment}
	case "sign-eku-server":
		o = testpki.Options{Key: rsa(keySignAlt), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	case "sign-eku-any":
		o = testpki.Options{Key: rsa(keySignAlt), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	case "sign-no-ku":
		o = testpki.Options{Key: rsa(keySignAlt), OmitKeyUsage: true, OmitExtKeyUsage: true}
	case "sign-eku-unknown":
		// testpki has no option for an EKU OID Go does not know.
		c := unknownEKUCert(p.t, rsa(keySignAlt), name)
		p.certs[name] = c
		return c
	case "sign-1024":
		o = testpki.Options{Key: p.keys.Key(p.t, testpki.RSA1024, 0)}
	case "sign-512":
		o = testpki.Options{Key: p.keys.Key(p.t, testpki.RSA512, 0)}
	case "sign-critical":
		// Recipients (OpenSSL, crypto/x509) refuse a signature made with it.
		o = testpki.Options{Key: rsa(keySignAlt), ExtraExtensions: []pkix.Extension{criticalExtension}}
	case "sign-e65536":
		c := oddRSACert(p, name, keySignAlt, 65536, false)
		p.certs[name] = c
		return c
	case "sign-ed25519":
		o = testpki.Options{KeyType: testpki.Ed25519, KeyUsage: x509.KeyUsageDigitalSignature}
	case "partner":
		o = testpki.Options{Key: rsa(keyPartner)}
	case "partner-expired":
		o = testpki.Options{Key: rsa(keyPartAlt), NotAfter: p.now.Add(-2 * day)}
	case "partner-notyet":
		o = testpki.Options{Key: rsa(keyPartAlt), NotBefore: p.now.Add(2 * day)}
	case "partner-expiring":
		o = testpki.Options{Key: rsa(keyPartAlt), NotAfter: p.now.Add(10 * day)}
	case "partner-no-ke":
		o = testpki.Options{Key: rsa(keyPartAlt), KeyUsage: x509.KeyUsageDigitalSignature}
	case "partner-no-ku":
		o = testpki.Options{Key: rsa(keyPartAlt), OmitKeyUsage: true}
	case "partner-ecdsa":
		o = testpki.Options{Key: p.keys.Key(p.t, testpki.ECDSAP256, 0)}
	case "partner-pss":
		c := pssCert(p, name)
		p.certs[name] = c
		return c
	case "partner-critical":
		o = testpki.Options{Key: rsa(keyPartAlt), ExtraExtensions: []pkix.Extension{criticalExtension}}
	case "partner-e65536", "partner-e1", "partner-e3", "partner-even-n":
		e := map[string]int{"partner-e65536": 65536, "partner-e1": 1, "partner-e3": 3, "partner-even-n": 65537}[name]
		c := oddRSACert(p, name, keyPartAlt, e, name == "partner-even-n")
		p.certs[name] = c
		return c
	case "partner-1024":
		o = testpki.Options{Key: p.keys.Key(p.t, testpki.RSA1024, 1)}
	case "partner-512":
		o = testpki.Options{Key: p.keys.Key(p.t, testpki.RSA512, 1)}
	case "dec":
		o = testpki.Options{Key: rsa(keyDec)}
	case "dec-expired":
		o = testpki.Options{Key: rsa(keyDecAlt), NotAfter: p.now.Add(-2 * day)}
	case "dec-notyet":
		o = testpki.Options{Key: rsa(keyDecAlt), NotBefore: p.now.Add(2 * day)}
	case "dec-expiring":
		o = testpki.Options{Key: rsa(keyDecAlt), NotAfter: p.now.Add(10 * day)}
	case "dec-no-ke":
		o = testpki.Options{Key: rsa(keyDecAlt), KeyUsage: x509.KeyUsageDigitalSignature}
	case "dec-ecdsa":
		o = testpki.Options{Key: p.keys.Key(p.t, testpki.ECDSAP256, 1)}
	case "dec-e65536":
		c := oddRSACert(p, name, keyDecAlt, 65536, false)
		p.certs[name] = c
		return c
	case "dec-512":
		o = testpki.Options{Key: p.keys.Key(p.t, testpki.RSA512, 2)}
	case "prev":
		o = testpki.Options{Key: rsa(keyPrev)}
	case "prev2":
		o = testpki.Options{Key: rsa(keyPrev2)}
	case "prev-expired":
		o = testpki.Options{Key: rsa(keyPrev), NotAfter: p.now.Add(-2 * day)}
	case "prev-notyet":
		o = testpki.Options{Key: rsa(keyPrev), NotBefore: p.now.Add(2 * day)}
	case "prev-expiring":
		o = testpki.Options{Key: rsa(keyPrev), NotAfter: p.now.Add(10 * day)}
	case "prev-ecdsa":
		o = testpki.Options{Key: p.keys.Key(p.t, testpki.ECDSAP256, 2)}
	case "prev-1024":
		o = testpki.Options{Key: p.keys.Key(p.t, testpki.RSA1024, 2)}
	case "next":
		o = testpki.Options{Key: rsa(keyNext)}
	case "next-notyet":
		o = testpki.Options{Key: rsa(keyNext), NotBefore: p.now.Add(40 * day)}
	case "next-short":
		o = testpki.Options{Key: rsa(keyNext), NotAfter: p.now.Add(20 * day)}
	case "party":
		o = testpki.Options{Key: rsa(keyParty)}
	case "party-next":
		o = testpki.Options{Key: rsa(keyParty2), NotAfter: p.now.Add(400 * day)}
	case "party-expired":
		o = testpki.Options{Key: rsa(keyParty2), NotAfter: p.now.Add(-2 * day)}
	case "party-notyet":
		o = testpki.Options{Key: rsa(keyParty2), NotBefore: p.now.Add(2 * day)}
	case "party-expiring":
		o = testpki.Options{Key: rsa(keyParty), NotAfter: p.now.Add(10 * day)}
	case "party-no-ds":
		o = testpki.Options{Key: rsa(keyParty2), KeyUsage: x509.KeyUsageKeyEncipherment}
	case "party-critical":
		// An extension the decoder's crypto/x509 does not handle, marked critical.
		o = testpki.Options{Key: rsa(keyParty2), ExtraExtensions: []pkix.Extension{criticalExtension}}
	case "party-e65536", "party-even-n":
		e := map[string]int{"party-e65536": 65536, "party-even-n": 65537}[name]
		c := oddRSACert(p, name, keyParty2, e, name == "party-even-n")
		p.certs[name] = c
		return c
	case "party-512":
		o = testpki.Options{Key: p.keys.Key(p.t, testpki.RSA512, 3)}
	case "party-ed25519":
		o = testpki.Options{KeyType: testpki.Ed25519, KeyUsage: x509.KeyUsageDigitalSignature}
	default:
		p.t.Fatalf("unknown test certificate %q", name)
	}
	o.CommonName = "test " + name
	c := testpki.SelfSigned(p.t, o)
	p.certs[name] = c
	return c
}

// criticalExtension is an extension crypto/x509 does not handle, nor
// OpenSSL, marked critical.
var criticalExtension = pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}, Critical: true, Value: []byte{5, 0}}

// oddRSACert is a certificate, issued by a test CA, for an RSA public key
// that crypto/x509 marshals and parses but crypto/rsa may refuse: the
// modulus of pool key i, with its lowest bit cleared when evenN, and
// public exponent e. No private key belongs to it (none can, for a key
// crypto/rsa refuses).
func oddRSACert(p *pki, name string, i, e int, evenN bool) *testpki.Cert {
	p.t.Helper()
	ca, ok := p.certs["ca"]
	if !ok {
		ca = testpki.NewCA(p.t, "test CA")
		p.certs["ca"] = ca
	}
	pub := &rsa.PublicKey{N: new(big.Int).Set(p.keys.Key(p.t, testpki.RSA2048, i).Public().(*rsa.PublicKey).N), E: e}
	if evenN {
		pub.N.SetBit(pub.N, 0, 0)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		p.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "test " + name},
		NotBefore:             p.now.Add(-time.Hour),
		NotAfter:              p.now.Add(testpki.LeafValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		p.t.Fatal(err)
	}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	if got, ok := x.PublicKey.(*rsa.PublicKey); !ok || !got.Equal(pub) {
		p.t.Fatalf("fixture: the certificate's key is %v, want %v", x.PublicKey, pub)
	}
	return &testpki.Cert{Cert: x, DER: der, Issuer: ca}
}

// pssCert is a certificate whose public key is an RSASSA-PSS key
// (id-RSASSA-PSS, RFC 4055), which crypto/x509 neither makes nor parses:
// an RSA certificate with the object identifier of its key changed, and so
// with a signature that no longer verifies, which no rule checks.
func pssCert(p *pki, name string) *testpki.Cert {
	p.t.Helper()
	c := testpki.SelfSigned(p.t, testpki.Options{CommonName: "test " + name, Key: p.keys.Key(p.t, testpki.RSA2048, 1)})
	rsaEncryption := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01}
	if bytes.Count(c.DER, rsaEncryption) != 1 {
		p.t.Fatalf("want one rsaEncryption identifier in the certificate, its key's")
	}
	pss := bytes.Clone(rsaEncryption)
	pss[len(pss)-1] = 0x0a // 1.2.840.113549.1.1.10
	der := bytes.Replace(c.DER, rsaEncryption, pss, 1)
	x, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	return &testpki.Cert{Cert: x, DER: der}
}

// unknownEKUCert is a signing certificate whose only extended key usage is
// Microsoft's document signing OID, which crypto/x509 lists in
// UnknownExtKeyUsage rather than ExtKeyUsage.
func unknownEKUCert(t *testing.T, key crypto.Signer, name string) *testpki.Cert {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(4242),
		Subject:               pkix.Name{CommonName: "test " + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(testpki.LeafValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage:    []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 311, 10, 3, 12}},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ExtKeyUsage) != 0 || len(c.UnknownExtKeyUsage) != 1 {
		t.Fatalf("fixture: want only an unknown EKU, got %v / %v", c.ExtKeyUsage, c.UnknownExtKeyUsage)
	}
	return &testpki.Cert{Cert: c, Key: key, DER: der}
}

// funcs are the template functions of configurations and expected details.
//
//	tp NAME      SHA-1 thumbprint the way Windows shows it: "9F 1C 3A ..."
//	tp256 NAME   SHA-256 thumbprint, lowercase, colon-separated (openssl style)
//	TP NAME      SHA-1 in uppercase without separators, as diagnostics show it
//	TP256 NAME   SHA-256 in uppercase without separators
//	lrm S        S with a U+200E LEFT-TO-RIGHT MARK in front, as Windows copies it
func (p *pki) funcs() template.FuncMap {
	return template.FuncMap{
		"tp": func(n string) string {
			h := strings.ToUpper(p.cert(n).SHA1())
			var parts []string
			for i := 0; i < len(h); i += 2 {
				parts = append(parts, h[i:i+2])
			}
			return strings.Join(parts, " ")
		},
		"tp256": func(n string) string {
			h := p.cert(n).SHA256()
			var parts []string
			for i := 0; i < len(h); i += 2 {
				parts = append(parts, h[i:i+2])
			}
			return strings.Join(parts, ":")
		},
		"TP":    func(n string) string { return strings.ToUpper(p.cert(n).SHA1()) },
		"TP256": func(n string) string { return strings.ToUpper(p.cert(n).SHA256()) },
		"lrm":   func(s string) string { return "\u200e" + s },
		// typo is n's SHA-1 thumbprint with one digit changed.
		"typo": func(n string) string {
			h := []byte(strings.ToUpper(p.cert(n).SHA1()))
			h[7] = "01"[map[bool]int{true: 1}[h[7] == '0']]
			return string(h)
		},
	}
}

func (p *pki) render(text string) string {
	p.t.Helper()
	tmpl, err := template.New("").Funcs(p.funcs()).Parse(text)
	if err != nil {
		p.t.Fatalf("template: %v", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, nil); err != nil {
		p.t.Fatalf("template: %v", err)
	}
	return b.String()
}

// scene is one test's directory: the configuration file and its stores.
type scene struct {
	t   *testing.T
	pki *pki
	dir string
	// file is the configuration file, src its rendered text and lines the
	// line of each "# @marker".
	file  string
	src   []byte
	lines map[string]int
}

func newScene(t *testing.T, p *pki) *scene {
	t.Helper()
	return &scene{t: t, pki: p, dir: t.TempDir()}
}

// storeDir is the directory of store name, as the configurations declare it.
func (s *scene) storeDir(name string) string { return filepath.Join(s.dir, "stores", name) }

// put writes the concatenation of data to stores/STORE/FILE, mode 0600.
func (s *scene) put(store, file string, data ...[]byte) string {
	s.t.Helper()
	return testpki.WriteFile(s.t, s.storeDir(store), file, bytes.Join(data, nil))
}

// mkdir creates an empty store.
func (s *scene) mkdir(store string) {
	s.t.Helper()
	if err := os.MkdirAll(s.storeDir(store), 0o700); err != nil {
		s.t.Fatal(err)
	}
}

// certKey puts certificate NAME and its PKCS#8 key into one PEM file.
func (s *scene) certKey(store, file, name string) {
	s.t.Helper()
	c := s.pki.cert(name)
	s.put(store, file, c.CertPEM(), c.KeyPEM())
}

// certOnly puts certificate NAME, without key, into a PEM file.
func (s *scene) certOnly(store, file, name string) {
	s.t.Helper()
	s.put(store, file, s.pki.cert(name).CertPEM())
}

// der puts certificate NAME into a DER file.
func (s *scene) der(store, file, name string) {
	s.t.Helper()
	s.put(store, file, s.pki.cert(name).DER)
}

// pkcs12 returns certificate NAME and its key as a PKCS#12 file, legacy
// (RC2/3DES) or modern (PBES2/AES).
func (s *scene) pkcs12(name, password string, legacy bool) []byte {
	s.t.Helper()
	return s.pki.cert(name).PKCS12(s.t, password, legacy)
}

var markerRe = regexp.MustCompile(`#\s*@([A-Za-z0-9_.-]+)`)

// write renders the configuration, writes it as main.hcl and records the
// line of every "# @marker" comment.
func (s *scene) write(text string) {
	s.t.Helper()
	src := s.pki.render(text)
	s.file = filepath.Join(s.dir, "main.hcl")
	if err := os.WriteFile(s.file, []byte(src), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.src = []byte(src)
	s.lines = map[string]int{}
	for i, line := range strings.Split(src, "\n") {
		for _, m := range markerRe.FindAllStringSubmatch(line, -1) {
			if _, dup := s.lines[m[1]]; dup {
				s.t.Fatalf("marker @%s appears twice", m[1])
			}
			s.lines[m[1]] = i + 1
		}
	}
}

// load decodes the configuration in validate mode; the fixtures are valid
// HCL, so any decoder diagnostic fails the test.
func (s *scene) load(vars ...string) *model.Config {
	s.t.Helper()
	cfg, diags := s.loadRaw(vars...)
	if len(diags) > 0 {
		s.t.Fatalf("lang.Load: unexpected diagnostics:\n%s", dump(diags))
	}
	return cfg
}

// loadChecked decodes the configuration, fails the test on a decoding
// error, and returns the decoder's warnings: the component specs report some
// of the validation findings (BP5001 for a weak algorithm an encoder block
// chooses) where they decode the block.
func (s *scene) loadChecked(vars ...string) (*model.Config, hcl.Diagnostics) {
	s.t.Helper()
	cfg, diags := s.loadRaw(vars...)
	if diags.HasErrors() {
		s.t.Fatalf("lang.Load: unexpected errors:\n%s", dump(diags))
	}
	return cfg, diags
}

// loadRaw decodes the configuration in validate mode and returns the
// decoder's diagnostics too.
func (s *scene) loadRaw(vars ...string) (*model.Config, hcl.Diagnostics) {
	s.t.Helper()
	cfg, diags := lang.Load([]string{s.file}, lang.Options{
		Mode: lang.ModeValidate, Vars: vars,
		LookupEnv: func(string) (string, bool) { return "", false },
	})
	if cfg == nil {
		s.t.Fatalf("lang.Load returned no configuration:\n%s", dump(diags))
	}
	return cfg, diags
}

// finding is an expected diagnostic.
type finding struct {
	code diag.Code
	sev  hcl.DiagnosticSeverity
	// at is the marker of the line the range starts on.
	at string
	// text is what the source text of the range must start with: it pins
	// the construct the range points at (the instance block, the attribute
	// expression, the block header).
	text string
	// end, when set, is what the range's text must end with ("}" for a
	// whole block).
	end string
	// detail lists substrings of the detail (templates, like the
	// configuration): the objects the finding must name.
	detail []string
}

const (
	errorSev   = hcl.DiagError
	warningSev = hcl.DiagWarning
)

func sevName(s hcl.DiagnosticSeverity) string {
	switch s {
	case hcl.DiagError:
		return "error"
	case hcl.DiagWarning:
		return "warning"
	}
	return fmt.Sprintf("severity(%d)", s)
}

func dump(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		where := "(no range)"
		if d.Subject != nil {
			where = fmt.Sprintf("%s:%d", filepath.Base(d.Subject.Filename), d.Subject.Start.Line)
		}
		fmt.Fprintf(&b, "  %s %s %s: %s\n      %s\n", diag.CodeOf(d), sevName(d.Severity), where, d.Summary, d.Detail)
	}
	return b.String()
}

// expect checks that diags are exactly want: the same multiset of (code,
// severity, line), every range in the configuration file and on the expected
// construct, and every detail naming the expected objects.
func (s *scene) expect(diags hcl.Diagnostics, want []finding) {
	s.t.Helper()
	key := func(code diag.Code, sev hcl.DiagnosticSeverity, line int) string {
		return fmt.Sprintf("%s %s line %d", code, sevName(sev), line)
	}
	var got, exp []string
	for _, d := range diags {
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		got = append(got, key(diag.CodeOf(d), d.Severity, line))
	}
	for _, w := range want {
		line, ok := s.lines[w.at]
		if !ok {
			s.t.Fatalf("expectation %s refers to marker @%s, which the configuration lacks", w.code, w.at)
		}
		exp = append(exp, key(w.code, w.sev, line))
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		s.t.Fatalf("diagnostics:\n  got  %q\n  want %q\nall diagnostics:\n%s", got, exp, dump(diags))
	}

	used := make([]bool, len(diags))
	for _, w := range want {
		line := s.lines[w.at]
		details := make([]string, len(w.detail))
		for i, d := range w.detail {
			details[i] = s.pki.render(d)
		}
		var candidates []*hcl.Diagnostic
		matched := false
		for i, d := range diags {
			if used[i] || diag.CodeOf(d) != w.code || d.Severity != w.sev || d.Subject.Start.Line != line {
				continue
			}
			candidates = append(candidates, d)
			if !containsAll(d.Detail, details) {
				continue
			}
			used[i] = true
			matched = true
			s.checkRange(w, d)
			break
		}
		if !matched {
			s.t.Errorf("%s at @%s: no diagnostic whose detail contains all of %q; candidates:\n%s",
				w.code, w.at, details, dump(candidates))
		}
	}
}

func (s *scene) checkRange(w finding, d *hcl.Diagnostic) {
	s.t.Helper()
	r := d.Subject
	if r.Filename != s.file {
		s.t.Errorf("%s: range in %s, want %s", w.code, r.Filename, s.file)
		return
	}
	if r.Start.Byte < 0 || r.End.Byte > len(s.src) || r.Start.Byte > r.End.Byte {
		s.t.Errorf("%s: range %v outside the file", w.code, r)
		return
	}
	text := string(s.src[r.Start.Byte:r.End.Byte])
	if w.text == "" {
		s.t.Errorf("%s at @%s: expectation has no range text (range is %q)", w.code, w.at, text)
	}
	if !strings.HasPrefix(text, s.pki.render(w.text)) {
		s.t.Errorf("%s at @%s: range text %q, want it to start with %q", w.code, w.at, text, s.pki.render(w.text))
	}
	if w.end != "" && !strings.HasSuffix(text, w.end) {
		s.t.Errorf("%s at @%s: range text %q, want it to end with %q", w.code, w.at, text, w.end)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// topo describes the standard test topology: group "contoso"; stores
// "personal" (the personal store of service account "svc_send") and "other"
// (the other-people store of server "srv1"); host "send_host" with one
// instance on srv1 as svc_send; pipeline "pl"; send port "fabrikam" on
// send_host. The zero value signs (clear) with {{tp "sign"}} and encrypts
// for {{tp "partner"}}, and is valid with the default stores.
type topo struct {
	Sign      string // signing_certificate expression; "-" omits it
	Window    string // certificate_expiry_warning
	Signature string // default "clear"
	NoEncrypt bool   // encrypt = false
	Digest    string // digest attribute, when set
	Algorithm string // encryption_algorithm attribute, when set
	Enc       string // encryption_certificate expression; "-" omits it
	// PersonalPassword and OtherPassword are the stores' password
	// expressions, when set.
	PersonalPassword, OtherPassword string
	Filter                          string // the port's filter expression, when set
	Extra                           string // appended verbatim
	// Rollover is the group's signing_rollover block body, when set
	// (markers: @rollover on its header).
	Rollover string
}

// variables are declared by every topology; declaring a variable that no
// attribute uses is not a finding.
const variables = `
variable "p12_password" {
  type      = string
  sensitive = true
}

variable "thumbprint" {
  type = string
}

variable "secret_sign" {
  type      = string
  sensitive = true
}

variable "secret_enc" {
  type      = string
  sensitive = true
}
`

func (o topo) hcl() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	b.WriteString(variables)
	line(`group "contoso" { # @group`)
	switch o.Sign {
	case "-":
	case "":
		line(`  signing_certificate = "{{tp "sign"}}" # @sign`)
	default:
		line(`  signing_certificate = %s # @sign`, o.Sign)
	}
	if o.Window != "" {
		line(`  certificate_expiry_warning = %q`, o.Window)
	}
	if o.Rollover != "" {
		line(`  signing_rollover { # @rollover`)
		line(`%s`, o.Rollover)
		line(`  }`)
	}
	line(`}`)
	line(`certificate_store "personal" {`)
	line(`  path = "stores/personal" # @personal`)
	if o.PersonalPassword != "" {
		line(`  password = %s # @personal_password`, o.PersonalPassword)
	}
	line(`}`)
	line(`certificate_store "other" {`)
	line(`  path = "stores/other" # @other`)
	if o.OtherPassword != "" {
		line(`  password = %s # @other_password`, o.OtherPassword)
	}
	line(`}`)
	line(`service_account "svc_send" {`)
	line(`  personal_store = certificate_store.personal`)
	line(`}`)
	line(`server "srv1" {`)
	line(`  other_people_store = certificate_store.other`)
	line(`}`)
	line(`host "send_host" {`)
	line(`  instance { # @inst`)
	line(`    server          = server.srv1`)
	line(`    service_account = service_account.svc_send`)
	line(`  }`)
	line(`}`)
	line(`pipeline "pl" {`)
	line(`  encoder "smime" {`)
	sig := o.Signature
	if sig == "" {
		sig = "clear"
	}
	line(`    signature = %q # @signature`, sig)
	if o.Digest != "" {
		line(`    digest = %q # @digest`, o.Digest)
	}
	line(`    encrypt = %t`, !o.NoEncrypt)
	if o.Algorithm != "" {
		line(`    encryption_algorithm = %q # @algorithm`, o.Algorithm)
	}
	line(`  }`)
	line(`}`)
	line(`send_port "fabrikam" { # @port`)
	line(`  host     = host.send_host`)
	line(`  pipeline = pipeline.pl`)
	switch o.Enc {
	case "-":
	case "":
		line(`  encryption_certificate = "{{tp "partner"}}" # @enc`)
	default:
		line(`  encryption_certificate = %s # @enc`, o.Enc)
	}
	if o.Filter != "" {
		line(`  filter = %s # @filter`, o.Filter)
	}
	line(`  transport "file" {`)
	line(`    path = "out"`)
	line(`  }`)
	line(`}`)
	b.WriteString(o.Extra)
	return b.String()
}

// defaultStores fills the standard topology's stores so that it is valid:
// the signing certificate with its key in the personal store, the partner
// certificate (DER) in the other-people store.
func defaultStores(s *scene) {
	s.certKey("personal", "sign.pem", "sign")
	s.put("other", "partner.cer", s.pki.cert("partner").DER)
}
