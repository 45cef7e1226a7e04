package smime

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// newDecoderStage builds the stage of a `decoder "smime"` block with
// decrypt and verify as given and require_encryption left out (so its
// default, decrypt's value), in env, whose SpoolDir, when "", is a new
// temporary directory. A diagnostic fails the test.
func newDecoderStage(t testing.TB, decrypt, verify bool, env component.DecoderEnv) component.DecodeStage {
	t.Helper()
	b := component.NewBody(`decoder "smime"`, hcl.Range{}, func(d *hcl.Diagnostic) { t.Errorf("diagnostic: %s", d.Error()) })
	b.Set("decrypt", value.Known(decrypt, hcl.Range{}))
	b.Set("verify", value.Known(verify, hcl.Range{}))
	b.Set("require_encryption", value.Value[bool]{})
	if env.SpoolDir == "" {
		env.SpoolDir = t.TempDir()
	}
	st, err := decodeDecoderConfig(b).(*DecoderConfig).NewDecoder(&env)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// keys is shared by all tests of the package: RSA key generation dominates
// test time otherwise. testpki.Keys is safe for concurrent use.
var keys = testpki.NewKeys()

// testPKI is a CA, the group signing certificate it issued and a partner
// (encryption) certificate, all RSA-2048, with PEM files for the tools.
type testPKI struct {
	ca, group, partner *testpki.Cert
	dir                string
	caPEM              string // CA certificate
	groupPEM           string // group signing certificate
	partnerPEM         string // partner certificate
	partnerKey         string // partner private key (PKCS #8)
	roots              *x509.CertPool
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	ca := testpki.SelfSigned(t, testpki.Options{
		CommonName: "bizpipe test CA",
		IsCA:       true,
		Key:        keys.Key(t, testpki.RSA2048, 0),
	})
	group := ca.Issue(t, testpki.Options{
		CommonName: "Contoso group signing",
		Email:      "edi@contoso.example",
		Key:        keys.Key(t, testpki.RSA2048, 1),
	})
	partner := ca.Issue(t, testpki.Options{
		CommonName: "Fabrikam EDI",
		Email:      "edi@fabrikam.example",
		Key:        keys.Key(t, testpki.RSA2048, 2),
	})
	dir := t.TempDir()
	p := &testPKI{
		ca: ca, group: group, partner: partner, dir: dir,
		caPEM:      testpki.WriteFile(t, dir, "ca.pem", ca.CertPEM()),
		groupPEM:   testpki.WriteFile(t, dir, "group.pem", group.CertPEM()),
		partnerPEM: testpki.WriteFile(t, dir, "partner.pem", partner.CertPEM()),
		partnerKey: testpki.WriteFile(t, dir, "partner.key", partner.KeyPEM()),
		roots:      x509.NewCertPool(),
	}
	p.roots.AddCert(ca.Cert)
	return p
}

func (p *testPKI) signer() *Signer { return &Signer{Cert: p.group.Cert, Key: p.group.Key} }

// decodeOpts returns options that decrypt as the partner and trust the CA.
func (p *testPKI) decodeOpts() DecodeOptions {
	return DecodeOptions{
		Cert:  p.partner.Cert,
		Key:   p.partner.Key.(*rsa.PrivateKey),
		Roots: p.roots,
	}
}

// openssl returns the openssl binary, failing (never skipping) when absent.
func openssl(t testing.TB) string {
	t.Helper()
	return testpki.OpenSSL(t)
}

const gpgsmPath = "/usr/bin/gpgsm"

// run runs a command and returns its stdout, failing the test with stderr
// on a non-zero exit.
func run(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, errOut, err := runErr(stdin, nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errOut)
	}
	return out
}

// runErr runs a command with extra environment variables and returns its
// stdout, stderr and exit error.
func runErr(stdin []byte, env []string, name string, args ...string) (stdout, stderr []byte, err error) {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	return testpki.WriteFile(t, t.TempDir(), name, data)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pemCertDER returns the DER of the single certificate in a PEM file.
func pemCertDER(t testing.TB, data []byte) []byte {
	t.Helper()
	blk, rest := pem.Decode(data)
	if blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("want exactly one PEM certificate, got:\n%s", data)
	}
	return blk.Bytes
}

// mustEncoder builds an encoder or fails the test.
func mustEncoder(t testing.TB, o Options) *Encoder {
	t.Helper()
	e, err := NewEncoder(o)
	if err != nil {
		t.Fatalf("NewEncoder(%+v): %v", o, err)
	}
	return e
}

func mustEncode(t testing.TB, e *Encoder, ct string, body []byte, s *Signer, recip *x509.Certificate) []byte {
	t.Helper()
	out, err := e.Encode(rand.Reader, ct, body, s, recip)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return out
}

// testBody is a message body with what interop must reproduce.
type testBody struct {
	name        string
	contentType string
	data        []byte
	// want is what a reader must recover: the data itself for binary
	// types, the CRLF-canonical form for text/* (computed here
	// independently of the code under test).
	want []byte
}

// textBody is UTF-8 text with Unix line breaks, trailing white space, and
// lines that mail software likes to alter.
func textBody() testBody {
	data := []byte("Grüße aus Köln — 東京 naïve café\n" +
		"trailing spaces   \n" +
		"trailing tab\t\n" +
		"From the partner: order 4711\n" +
		".\n" +
		"..dot-stuffed?\n" +
		"\n" +
		"last line without newline")
	return testBody{
		name:        "text",
		contentType: "text/plain; charset=utf-8",
		data:        data,
		want:        bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")),
	}
}

// binaryBody is EDI-like binary data: every octet value, lone CR, lone LF,
// CRLF, NUL, trailing white space before line breaks, "From " and "." at
// line starts, and a trailing CR (which a careless multipart reader would
// take for part of the delimiter).
func binaryBody() testBody {
	var b bytes.Buffer
	b.WriteString("ISA*00*          *00*          *ZZ*CONTOSO        *ZZ*FABRIKAM       ~\n")
	b.WriteString("From here\r\n.\n.\r\nlone CR\rlone LF\ntrailing  \r\nNUL\x00NUL\n")
	for i := range 256 {
		b.WriteByte(byte(i))
	}
	b.WriteString("\r\n\n\r\r\nIEA*1*000000001~ \r")
	return testBody{name: "binary", contentType: "application/edi-x12", data: b.Bytes(), want: b.Bytes()}
}

// stdEntity parses a MIME entity with the standard library only (an oracle
// independent of the package's own parser) and returns its Content-Type,
// Content-Transfer-Encoding and body with the transfer encoding undone.
func stdEntity(t testing.TB, raw []byte) (ct, cte string, body []byte) {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.NewReader(r).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("reading MIME header: %v\n%q", err, raw[:min(len(raw), 300)])
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	ct, cte = h.Get("Content-Type"), strings.ToLower(h.Get("Content-Transfer-Encoding"))
	switch cte {
	case "base64":
		body, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(rest)))
	case "quoted-printable":
		body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(rest)))
	case "", "7bit", "8bit", "binary":
		body = rest
	default:
		t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	}
	if err != nil {
		t.Fatalf("undoing %s: %v", cte, err)
	}
	return ct, cte, body
}

// stdSignedParts splits a clear-signed message without the package's
// multipart code: the exact octets of the first part (RFC 2046: the CRLF
// before a delimiter belongs to the delimiter) and the DER signature.
func stdSignedParts(t testing.TB, msg []byte) (content, sig []byte) {
	t.Helper()
	_, params, err := mime.ParseMediaType(headerOf(t, msg, "Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	b := params["boundary"]
	open := []byte("\r\n--" + b + "\r\n")
	i := bytes.Index(msg, open)
	if i < 0 {
		t.Fatalf("no opening delimiter for boundary %q", b)
	}
	i += len(open)
	j := bytes.Index(msg[i:], []byte("\r\n--"+b+"\r\n"))
	if j < 0 {
		t.Fatal("no second delimiter")
	}
	content = msg[i : i+j]
	second := msg[i+j+len(open):]
	k := bytes.Index(second, []byte("\r\n--"+b+"--"))
	if k < 0 {
		t.Fatal("no close delimiter")
	}
	_, cte, sig := stdEntity(t, second[:k])
	if cte != "base64" {
		t.Fatalf("signature part Content-Transfer-Encoding %q, want base64", cte)
	}
	return content, sig
}

// headerOf returns a top-level header field of msg, parsed with
// net/textproto.
func headerOf(t testing.TB, msg []byte, name string) string {
	t.Helper()
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("reading MIME header: %v", err)
	}
	return h.Get(name)
}
