package runner_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// pki is one test's certificates: a CA, the group signing certificate and a
// partner certificate, RSA as S/MIME key transport needs.
type pki struct {
	ca, signer, partner *testpki.Cert
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	keys := testpki.NewKeys()
	ca := testpki.SelfSigned(t, testpki.Options{CommonName: "Test CA", IsCA: true, Key: keys.Key(t, testpki.RSA2048, 0)})
	return &pki{
		ca:      ca,
		signer:  ca.Issue(t, testpki.Options{CommonName: "Contoso Signing", Key: keys.Key(t, testpki.RSA2048, 1)}),
		partner: ca.Issue(t, testpki.Options{CommonName: "Fabrikam", Key: keys.Key(t, testpki.RSA2048, 2)}),
	}
}

// setup writes a configuration from tmpl (with {{.Sign}}, {{.Partner}} and
// any extra fields) and the stores into a temp dir, and returns the dir.
func setup(t testing.TB, p *pki, tmpl string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "signing.p12", p.signer.PKCS12(t, "pw", false, p.ca))
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "partner.pem", p.partner.CertPEM())
	for _, d := range []string{"in", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := map[string]string{"Sign": p.signer.SHA1(), "Partner": p.partner.SHA1()}
	for k, v := range extra {
		data[k] = v
	}
	var b bytes.Buffer
	if err := template.Must(template.New("cfg").Parse(tmpl)).Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	testpki.WriteFile(t, dir, "bizpipe.hcl", b.Bytes())
	return dir
}

// serverAndHost declares the stores setup writes (the personal store,
// password "pw", and the other people's store), the service account and
// server that use them, and host "h" with one instance on that server. The
// host decrypts with {{.Decrypt}} when the template data has it, and
// declares no decryption certificate otherwise. Every test configuration
// follows its group block with it.
const serverAndHost = `
certificate_store "personal" {
  path     = "stores/personal"
  password = "pw"
}
certificate_store "others" { path = "stores/others" }
service_account "svc" { personal_store = certificate_store.personal }
server "srv1" { other_people_store = certificate_store.others }
host "h" {
{{- with .Decrypt}}
  decryption_certificate = "{{.}}"
{{- end}}
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
`

// as2Parties declares the group (AS2 id CONTOSO, signing with the pki's
// signer), serverAndHost and the party fabrikam (AS2 id FABRIKAM, signing
// with the pki's partner certificate, which it also decrypts with): the
// start of every AS2 test configuration, sending or receiving.
const as2Parties = `
group "g" {
  signing_certificate = "{{.Sign}}"
  as2_id              = "CONTOSO"
}
` + serverAndHost + `party "fabrikam" {
  as2_id               = "FABRIKAM"
  signing_certificates = ["{{.Partner}}"]
}
`

// decodePipeline decrypts and verifies S/MIME.
const decodePipeline = `pipeline "decode" {
  decoder "smime" {
    decrypt = true
    verify  = true
  }
}`

// common is the part of every test configuration that declares the PKI.
const common = `
group "g" {
  signing_certificate = "{{.Sign}}"
  max_message_size    = "{{if .Max}}{{.Max}}{{else}}1MiB{{end}}"
}
` + serverAndHost + `pipeline "sign_encrypt" {
  encoder "smime" {
    signature            = "clear"
    encrypt              = true
    encryption_algorithm = "aes256-gcm"
  }
}
receive_location "in" {
  host         = host.h
  content_type = "application/edi-x12"
  properties   = { partner = "fabrikam" }
  transport "file" { path = "in" }
}
`

// allToFiles is a send port that takes every message, unchanged, into
// out/.
const allToFiles = `
send_port "files" {
  host   = host.h
  filter = true
  transport "file" { path = "out" }
}
`

// filesNoRetry is allToFiles with no retry: one attempt a delivery.
const filesNoRetry = `
send_port "files" {
  host      = host.h
  filter    = true
  transport "file" { path = "out" }
  retry { attempts = 0 }
}
`

// httpPort is a send port named name that takes every message and POSTs
// it to url, each attempt given timeout.
func httpPort(name, url, timeout string) string {
	return `
send_port "` + name + `" {
  host   = host.h
  filter = true
  transport "http" {
    url     = "` + url + `"
    timeout = "` + timeout + `"
  }
}
`
}

// fabrikamFiles is a send port that signs and encrypts every message for
// the partner into out/, named after the input file.
const fabrikamFiles = `
send_port "fabrikam" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Partner}}"
  filter                 = message.properties.partner == "fabrikam"
  transport "file" {
    path      = "out"
    file_name = "${message.file_name}.p7m"
  }
}
`

// start loads, validates and provisions a runner over dir.
func start(t testing.TB, dir string) (*runner.Runner, msgbox.Box) {
	t.Helper()
	return startWith(t, dir, nil)
}

// startWith is start with options changed by tune (when not nil).
func startWith(t testing.TB, dir string, tune func(*runner.Options)) (*runner.Runner, msgbox.Box) {
	t.Helper()
	return startAllowing(t, dir, tune)
}

// startAllowing is startWith for a configuration whose validation finds
// errors of the codes in allow: what the runner does when validate was not
// heeded.
func startAllowing(t testing.TB, dir string, tune func(*runner.Options), allow ...diag.Code) (*runner.Runner, msgbox.Box) {
	t.Helper()
	opts := testOptionsAllowing(t, dir, nil, allow...)
	if tune != nil {
		tune(&opts)
	}
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, opts.Box
}

// testOptions loads the configuration in dir, validates it and opens its
// box (dir/data/box.db): the runner options the tests start from.
func testOptions(t testing.TB, dir string) runner.Options {
	t.Helper()
	return testOptionsWith(t, dir, nil)
}

// testOptionsWith is testOptions with the components of reg (nil: the
// built-in ones).
func testOptionsWith(t testing.TB, dir string, reg *component.Registry) runner.Options {
	t.Helper()
	return testOptionsAllowing(t, dir, reg)
}

// checked loads the configuration in dir, with the components of reg
// (nil: the built-in ones), and runs the rules over it: what they found.
func checked(t testing.TB, dir string, reg *component.Registry) (*model.Config, *rules.Result, hcl.Diagnostics) {
	t.Helper()
	files, err := lang.FindFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(files, lang.Options{Mode: lang.ModeRun, Registry: reg, LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatalf("config: %s", diags.Error())
	}
	res, diags := rules.Check(cfg, rules.Options{})
	return cfg, res, diags
}

// ruleFindings is what the rules find in the configuration in dir.
func ruleFindings(t testing.TB, dir string) hcl.Diagnostics {
	t.Helper()
	_, _, diags := checked(t, dir, nil)
	return diags
}

// testOptionsAllowing is testOptionsWith for a configuration whose
// validation may find errors of the codes in allow.
func testOptionsAllowing(t testing.TB, dir string, reg *component.Registry, allow ...diag.Code) runner.Options {
	t.Helper()
	cfg, res, diags := checked(t, dir, reg)
	diags = slices.DeleteFunc(diags, func(d *hcl.Diagnostic) bool { return slices.Contains(allow, diag.CodeOf(d)) })
	if diags.HasErrors() {
		t.Fatalf("rules: %s", diags.Error())
	}
	box, err := sqlitebox.Open(filepath.Join(dir, "data", "box.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	return runner.Options{Config: cfg, Checked: res, Server: "srv1", Box: box,
		Workers: 4, IdleWait: 20 * time.Millisecond, FileSettle: time.Millisecond}
}

func put(t testing.TB, dir, name string, body []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "in", "."+name+".writing")
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		t.Fatal(err)
	}
	// Back-date the file so that it counts as settled at once.
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "in", name)); err != nil {
		t.Fatal(err)
	}
}

// binaryBody has every byte value, bare CR and LF: what EDI can contain.
func binaryBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return append(b, '\r', 'x', '\n', 0, '\r')
}

// TestFileToFileSignEncrypt: messages dropped in the input come out signed
// and encrypted, and OpenSSL recovers the exact bytes and names the group
// signing certificate as the signer.
func TestFileToFileSignEncrypt(t *testing.T) {
	openssl := testpki.OpenSSL(t)
	p := newPKI(t)
	dir := setup(t, p, common+fabrikamFiles, nil)
	bodies := map[string][]byte{}
	for i := range 5 {
		name := fmt.Sprintf("order-%d.edi", i)
		bodies[name] = binaryBody(1000 + i*313)
		put(t, dir, name, bodies[name])
	}
	r, box := start(t, dir)
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Received != 5 || sum.Delivered != 5 || sum.Suspended != 0 || sum.Retried != 0 {
		t.Fatalf("summary %+v, want 5 received and delivered", sum)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "in", "*")); len(left) != 0 {
		t.Errorf("input not consumed: %v", left)
	}
	caFile := testpki.WriteFile(t, t.TempDir(), "ca.pem", p.ca.CertPEM())
	recip := testpki.WriteFile(t, t.TempDir(), "partner.pem", p.partner.CertPEM())
	key := testpki.WriteFile(t, t.TempDir(), "partner.key", p.partner.KeyPEM())
	signerOut := filepath.Join(t.TempDir(), "signer.pem")
	for name, want := range bodies {
		out := filepath.Join(dir, "out", name+".p7m")
		dec := exec.Command(openssl, "cms", "-decrypt", "-recip", recip, "-inkey", key, "-in", out)
		plain, err := dec.Output()
		if err != nil {
			t.Fatalf("%s: openssl cms -decrypt: %v", name, err)
		}
		ver := exec.Command(openssl, "cms", "-verify", "-CAfile", caFile, "-signer", signerOut)
		ver.Stdin = bytes.NewReader(plain)
		var stderr bytes.Buffer
		ver.Stderr = &stderr
		got, err := ver.Output()
		if err != nil {
			t.Fatalf("%s: openssl cms -verify: %v: %s", name, err, stderr.String())
		}
		// The verified content is the inner MIME entity; our decoder
		// undoes its transfer encoding.
		d, err := smime.Decode(got, smime.DecodeOptions{})
		if err != nil {
			t.Fatalf("%s: decoding the verified entity: %v", name, err)
		}
		if !bytes.Equal(d.Body, want) {
			t.Errorf("%s: body differs after decrypt+verify", name)
		}
		pemSigner, err := os.ReadFile(signerOut)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bytes.TrimSpace(pemSigner), bytes.TrimSpace(p.signer.CertPEM())) {
			t.Errorf("%s: signer is not the group signing certificate", name)
		}
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{Status: msgbox.StatusDelivered})
	if err != nil || len(msgs) != 5 {
		t.Fatalf("delivered messages in the box: %d, %v", len(msgs), err)
	}
}

// TestSuspensions: a routing failure, an empty message, a message above
// max_message_size and a partner that is down all end suspended, with a
// reason, and the run itself succeeds.
func TestSuspensions(t *testing.T) {
	p := newPKI(t)
	var mu sync.Mutex
	hits := 0
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		http.Error(w, "partner down for maintenance", http.StatusServiceUnavailable)
	}))
	defer partner.Close()
	dir := setup(t, p, common+`
send_port "down" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Partner}}"
  filter                 = message.file_name == "to-down.edi"
  transport "http" { url = "{{.URL}}/as2" }
  retry {
    attempts = 2
    interval = "1ms"
  }
}
send_port "files" {
  host   = host.h
  filter = message.file_name != "to-down.edi" && message.file_name != "nobody.edi"
  transport "file" { path = "out" }
}
`, map[string]string{"URL": partner.URL, "Max": "2KiB"})
	put(t, dir, "nobody.edi", []byte("no port wants me"))
	put(t, dir, "empty.edi", nil)
	put(t, dir, "huge.edi", binaryBody(4096))
	put(t, dir, "to-down.edi", []byte("ISA*00*...~"))
	r, box := start(t, dir)
	ctx := context.Background()
	// Retries are 1ms apart: run --once until nothing is waiting.
	total := runUntilSettled(t, r)
	if total.Suspended != 4 || total.Retried != 2 {
		t.Errorf("suspended %d (want 4), retried %d (want 2)", total.Suspended, total.Retried)
	}
	if hits != 3 {
		t.Errorf("partner saw %d attempts, want 3 (1 + 2 retries)", hits)
	}
	msgs, err := msgbox.Collect(ctx, box, msgbox.Filter{Status: msgbox.StatusSuspended})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, m := range msgs {
		d, err := box.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		reason := m.Reason
		for _, dl := range d.Deliveries {
			reason += dl.LastError
		}
		reasons[m.FileName] = reason
	}
	for file, want := range map[string]string{
		"nobody.edi":  "routing failure",
		"empty.edi":   "empty",
		"huge.edi":    "max_message_size",
		"to-down.edi": "503",
	} {
		if !strings.Contains(reasons[file], want) {
			t.Errorf("%s: reason %q does not mention %q", file, reasons[file], want)
		}
	}
}

// suspendOne puts a.edi ("payload") in dir's input, runs once and returns
// the runner, its box and the message, which must be suspended.
func suspendOne(t *testing.T, dir string) (*runner.Runner, msgbox.Box, msgbox.Message) {
	t.Helper()
	put(t, dir, "a.edi", []byte("payload"))
	r, box := start(t, dir)
	sum, err := r.RunOnce(t.Context())
	if err != nil || sum.Suspended != 1 {
		t.Fatalf("first run: %+v, %v; want 1 suspended", sum, err)
	}
	msgs, _ := msgbox.Collect(t.Context(), box, msgbox.Filter{Status: msgbox.StatusSuspended})
	if len(msgs) != 1 {
		t.Fatalf("suspended messages: %d", len(msgs))
	}
	return r, box, msgs[0]
}

// resumeOne resumes message id, runs once and checks it was delivered.
func resumeOne(t *testing.T, r *runner.Runner, box msgbox.Box, id string) {
	t.Helper()
	if err := box.Resume(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	sum, err := r.RunOnce(t.Context())
	if err != nil || sum.Delivered != 1 {
		t.Fatalf("after resume: %+v, %v; want 1 delivered", sum, err)
	}
}

// TestResumeAfterFix: a delivery suspended because the output directory is
// missing is delivered after the directory is created and the message resumed.
func TestResumeAfterFix(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "files" {
  host   = host.h
  filter = true
  transport "file" { path = "missing" }
  retry { attempts = 0 }
}
`, nil)
	r, box, msg := suspendOne(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "missing"), 0o755); err != nil {
		t.Fatal(err)
	}
	resumeOne(t, r, box, msg.ID)
	got, err := os.ReadFile(filepath.Join(dir, "missing", msg.ID))
	if err != nil || string(got) != "payload" {
		t.Fatalf("delivered file: %q, %v", got, err)
	}
}

// TestResumePlacesStagedCopy: a delivery suspended after its file was
// staged (create_new found another file under the name) and then resumed
// is a first attempt again (Resume resets its count), whose transport
// does not look for a staged copy at Begin: staging finds it all the same,
// and that copy is delivered and cleaned up.
func TestResumePlacesStagedCopy(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "files" {
  host   = host.h
  filter = true
  transport "file" {
    path      = "out"
    file_name = "${message.file_name}.out"
  }
  retry { attempts = 0 }
}
`, nil)
	out := filepath.Join(dir, "out")
	final := filepath.Join(out, "a.edi.out")
	if err := os.WriteFile(final, []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, box, msg := suspendOne(t, dir)
	staged, _ := filepath.Glob(filepath.Join(out, ".bizpipe-*.staged"))
	if len(staged) != 1 {
		t.Fatalf("staged copies %q, want the suspended delivery's", staged)
	}
	if err := os.Remove(final); err != nil {
		t.Fatal(err)
	}
	resumeOne(t, r, box, msg.ID)
	if got, err := os.ReadFile(final); err != nil || string(got) != "payload" {
		t.Fatalf("delivered file: %q, %v", got, err)
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".bizpipe-*")); len(left) != 0 {
		t.Errorf("left %q, want the staged copy cleaned up", left)
	}
}

// TestHTTPInHTTPOut: the long-running mode takes a POST, answers 202 after
// the commit, and delivers signed output to an HTTP partner with the MIME
// headers as HTTP headers; cancelling the context stops it cleanly.
func TestHTTPInHTTPOut(t *testing.T) {
	p := newPKI(t)
	type req struct {
		header http.Header
		body   []byte
	}
	got := make(chan req, 1)
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- req{r.Header.Clone(), b}
	}))
	defer partner.Close()
	dir := setup(t, p, common+`
pipeline "sign" {
  encoder "smime" { signature = "opaque" }
}
receive_location "api" {
  host = host.h
  properties = { partner = "fabrikam" }
  transport "http" {
    listen = "127.0.0.1:{{.Port}}"
    path   = "/orders"
  }
}
send_port "partner" {
  host     = host.h
  pipeline = pipeline.sign
  filter   = message.receive_location == "api"
  transport "http" {
    url     = "{{.URL}}/in/${message.properties.partner}"
    headers = { "X-Message-Id" = message.id }
  }
}
`, map[string]string{"URL": partner.URL, "Port": freePort(t)})
	r, _ := start(t, dir)
	defer runInBackground(t, r)()
	id := postAccepted(t, "http://127.0.0.1:"+portOf(t, dir)+"/orders", "text/plain", []byte("hello\n"))
	select {
	case rq := <-got:
		if !strings.Contains(rq.header.Get("Content-Type"), "signed-data") {
			t.Errorf("Content-Type %q, want pkcs7-mime signed-data", rq.header.Get("Content-Type"))
		}
		if rq.header.Get("X-Message-Id") != id {
			t.Errorf("X-Message-Id %q, want %q", rq.header.Get("X-Message-Id"), id)
		}
		entity := []byte("Content-Type: " + rq.header.Get("Content-Type") + "\r\nContent-Transfer-Encoding: " +
			rq.header.Get("Content-Transfer-Encoding") + "\r\n\r\n" + string(rq.body))
		roots := x509.NewCertPool()
		roots.AddCert(p.ca.Cert)
		d, err := smime.Decode(entity, smime.DecodeOptions{Roots: roots})
		if err != nil {
			t.Fatalf("decoding what the partner received: %v", err)
		}
		if string(d.Body) != "hello\r\n" || !d.Signed {
			t.Errorf("partner got body %q signed=%v, want the CRLF-canonical text, signed", d.Body, d.Signed)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("partner never received the message")
	}
}

// runUntilSettled runs RunOnce until no delivery waits for a retry.
func runUntilSettled(t *testing.T, r *runner.Runner) runner.Summary {
	t.Helper()
	var total runner.Summary
	for range 20 {
		sum, err := r.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		total.Received += sum.Received
		total.Delivered += sum.Delivered
		total.Retried += sum.Retried
		total.Suspended += sum.Suspended
		if sum.Waiting == 0 {
			return total
		}
		time.Sleep(5 * time.Millisecond) // retries are 1ms apart
	}
	t.Fatal("deliveries still waiting after 20 runs")
	return total
}

// runInBackground runs r until the returned stop is called; stop cancels
// the run, waits for it to end and fails t if it ended with an error.
func runInBackground(t *testing.T, r *runner.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx)
		done <- err
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	}
}

// runResult is what a Run started by runAsync returned.
type runResult struct {
	sum runner.Summary
	err error
}

// runAsync starts r.Run(ctx) in the background; what it returns comes on
// the channel.
func runAsync(ctx context.Context, r *runner.Runner) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		sum, err := r.Run(ctx)
		done <- runResult{sum, err}
	}()
	return done
}

// postAccepted POSTs body to url, retrying for about two seconds while
// nothing listens there yet, requires 202 Accepted and returns the id of
// the message stored (the Bizpipe-Message-Id header).
func postAccepted(t *testing.T, url, contentType string, body []byte) string {
	t.Helper()
	var resp *http.Response
	var err error
	for range 100 {
		resp, err = http.Post(url, contentType, bytes.NewReader(body))
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %s, want 202", resp.Status)
	}
	return resp.Header.Get("Bizpipe-Message-Id")
}

func freePort(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	port := srv.Listener.Addr().String()
	srv.Close()
	return port[strings.LastIndex(port, ":")+1:]
}

func portOf(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "bizpipe.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "127.0.0.1:")
	return s[i+len("127.0.0.1:") : i+len("127.0.0.1:")+strings.IndexByte(s[i+len("127.0.0.1:"):], '"')]
}

func TestInterruptedAttemptsSuspend(t *testing.T) {
	for _, tc := range []struct {
		name          string
		interruptions int // crashes while srv1/w0 held the delivery
		suspended     bool
	}{
		// retry { attempts = 1 }: two tries in all.
		{"one interruption, a try left", 1, false},
		{"two interruptions, tries used up", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t)
			dir := setup(t, p, common+`
send_port "files" {
  host   = host.h
  filter = true
  transport "file" { path = "out" }
  retry { attempts = 1 }
}
`, nil)
			r, box := start(t, dir)
			ctx := context.Background()
			m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "poison.edi"}, strings.NewReader("ISA*00*poison~"), nil)

			if err != nil {
				t.Fatal(err)
			}
			if err := box.Route(ctx, m.ID, []string{"files"}, ""); err != nil {
				t.Fatal(err)
			}
			for i := range tc.interruptions {
				if d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"files"}, time.Minute); err != nil || d == nil {
					t.Fatalf("claim %d: %v, %v", i, d, err)
				}
				// The last crash is recovered by RunOnce's own start.
				if i < tc.interruptions-1 {
					if n, err := box.Recover(ctx, "srv1"); err != nil || n != 1 {
						t.Fatalf("Recover %d = %d, %v; want 1", i, n, err)
					}
				}
			}
			sum, err := r.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			d, err := box.Get(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			dl := d.Deliveries[0]
			_, statErr := os.Stat(filepath.Join(dir, "out", m.ID))
			if !tc.suspended {
				if sum.Delivered != 1 || dl.State != msgbox.DeliveryDelivered || statErr != nil {
					t.Fatalf("summary %+v, delivery %+v, output: %v; want delivered", sum, dl, statErr)
				}
				return
			}
			want := fmt.Sprintf("suspended: %d attempt(s) were interrupted or failed; the last: %s",
				tc.interruptions, msgbox.InterruptedError("srv1/w0"))
			if sum.Suspended != 1 || sum.Delivered != 0 || dl.State != msgbox.DeliverySuspended || dl.LastError != want {
				t.Errorf("summary %+v, delivery %+v; want suspended with %q", sum, dl, want)
			}
			if d.Message.Status != msgbox.StatusSuspended || !strings.Contains(d.Message.Reason, want) {
				t.Errorf("message %s: %q, want suspended, the reason saying %q", d.Message.Status, d.Message.Reason, want)
			}
			if !os.IsNotExist(statErr) {
				t.Errorf("output of a suspended delivery: %v; want none (the pipeline must not run)", statErr)
			}
		})
	}
}

// TestStartupSweepsStagedCopies: at start the runner removes staged copies
// of deliveries the box recorded as done (a crash between Finish and
// Cleanup leaves them), finishes a pending delivery from its staged copy
// without encoding again, and removes old leftovers of interrupted attempts.
func TestStartupSweepsStagedCopies(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+fabrikamFiles, nil)
	put(t, dir, "a.edi", binaryBody(100))
	r, box := startWith(t, dir, func(o *runner.Options) { o.Lease = time.Minute })
	ctx := context.Background()
	if sum, err := r.RunOnce(ctx); err != nil || sum.Delivered != 1 {
		t.Fatalf("first run: %+v, %v", sum, err)
	}
	msgs, err := msgbox.Collect(ctx, box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("List = %v, %v", msgs, err)
	}
	detail, err := box.Get(ctx, msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	reserved := func(id int64, suffix string) string {
		return filepath.Join(out, fmt.Sprintf(".bizpipe-%s-%d%s", box.ID(), id, suffix))
	}
	finalA := filepath.Join(out, "a.edi.p7m")
	wantA, err := os.ReadFile(finalA)
	if err != nil {
		t.Fatal(err)
	}
	// The crash between Finish and Cleanup, replayed: the staged name back.
	if err := os.Link(finalA, reserved(detail.Deliveries[0].ID, ".staged")); err != nil {
		t.Fatal(err)
	}
	// A delivery staged but not recorded: routed, its copy staged.
	in := msgbox.Incoming{ReceiveLocation: "in", FileName: "c.edi", ContentType: "application/edi-x12",
		Properties: map[string]string{"partner": "fabrikam"}}
	c, _, err := box.ReceiveRouted(ctx, in, strings.NewReader("c"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Route(ctx, c.ID, []string{"fabrikam"}, ""); err != nil {
		t.Fatal(err)
	}
	dc, err := box.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	staged := []byte("the payload an interrupted attempt staged")
	if err := os.WriteFile(reserved(dc.Deliveries[0].ID, ".staged"), staged, 0o644); err != nil {
		t.Fatal(err)
	}
	// The same crash, for a delivery purged since (`messages purge`): the
	// box no longer knows the id, and only purge deletes deliveries.
	if err := os.WriteFile(reserved(1000, ".staged"), []byte("purged"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Another box's staged copy in the same directory: not ours to judge.
	foreign := filepath.Join(out, ".bizpipe-0123456789abcdef-1000.staged")
	if err := os.WriteFile(foreign, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An old leftover of an interrupted write.
	partial := reserved(99, ".partial")
	if err := os.WriteFile(partial, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(partial, old, old); err != nil {
		t.Fatal(err)
	}

	sum, err := r.RunOnce(ctx)
	if err != nil || sum.Delivered != 1 {
		t.Fatalf("second run: %+v, %v; want the staged delivery completed", sum, err)
	}
	if got, err := os.ReadFile(filepath.Join(out, "c.edi.p7m")); err != nil || !bytes.Equal(got, staged) {
		t.Errorf("c delivered as %q, %v; want the staged copy, not a new encoding", got, err)
	}
	if got, err := os.ReadFile(finalA); err != nil || !bytes.Equal(got, wantA) {
		t.Errorf("a's delivered file changed: %v", err)
	}
	names := dirNames(t, out)
	if want := []string{".bizpipe-0123456789abcdef-1000.staged", "a.edi.p7m", "c.edi.p7m"}; fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("output directory %q, want %q: staged copies and leftovers removed", names, want)
	}
}

// partPurgingBox is a box whose Purge fails having deleted n messages.
type partPurgingBox struct {
	msgbox.Box
	n int
}

func (b partPurgingBox) Purge(context.Context, time.Time) (int, error) {
	return b.n, errors.New("disk I/O error")
}

// TestRetentionFailureSaysWhatWasPurged: a retention purge that fails part
// way is warned about with how many messages it purged before, not as if
// nothing had changed.
func TestRetentionFailureSaysWhatWasPurged(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+fabrikamFiles, nil)
	var logged bytes.Buffer
	r, _ := startWith(t, dir, func(o *runner.Options) {
		o.Box = partPurgingBox{Box: o.Box, n: 3}
		o.Retention = time.Hour
		o.Log = slog.New(slog.NewTextHandler(&logged, nil))
	})
	if _, err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), `msg="purging old messages failed; retried at the next purge" retention=1h0m0s purged_before_failure=3 error="disk I/O error"`) {
		t.Errorf("the failed purge's warning does not say how many it purged:\n%s", logged.String())
	}
}

// TestRetention: with Options.Retention the runner purges delivered
// messages whose history has been quiet that long, at the end of RunOnce
// and periodically in Run, and nothing else: younger messages and
// suspended ones stay.
func TestRetention(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+fabrikamFiles, nil)
	ctx := context.Background()
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	ids := func(box msgbox.Box) []string {
		t.Helper()
		msgs, err := msgbox.Collect(ctx, box, msgbox.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			out = append(out, string(m.Status)+" "+m.FileName)
		}
		slices.Sort(out)
		return out
	}

	put(t, dir, "a.edi", binaryBody(10))
	put(t, dir, "b.edi", binaryBody(20))
	r, box := start(t, dir)
	if sum, err := r.RunOnce(ctx); err != nil || sum.Delivered != 2 {
		t.Fatalf("RunOnce = %+v, %v", sum, err)
	}
	// A routing failure: suspended, which retention never purges.
	stray, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "stray.edi", ContentType: "application/edi-x12"}, strings.NewReader("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Route(ctx, stray.ID, nil, "no send port's filter matches the message"); err != nil {
		t.Fatal(err)
	}
	want := []string{"delivered a.edi", "delivered b.edi", "suspended stray.edi"}
	if got := ids(box); !slices.Equal(got, want) {
		t.Fatalf("box holds %q, want %q", got, want)
	}

	// Quiet for less than the retention: kept.
	young, _ := startWith(t, dir, func(o *runner.Options) { o.Retention = time.Hour })
	if _, err := young.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ids(box); !slices.Equal(got, want) {
		t.Fatalf("after a run with 1h retention, box holds %q, want %q (all younger)", got, want)
	}

	// Two hours later (the runner's clock): the delivered ones go.
	var logged bytes.Buffer
	old, _ := startWith(t, dir, func(o *runner.Options) {
		o.Retention, o.Now = time.Hour, later
		o.Log = slog.New(slog.NewTextHandler(&logged, nil))
	})
	if _, err := old.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(box), []string{"suspended stray.edi"}; !slices.Equal(got, want) {
		t.Fatalf("after the purge, box holds %q, want %q", got, want)
	}
	if !strings.Contains(logged.String(), `msg="purged old messages" count=2 retention=1h0m0s`) {
		t.Errorf("log does not report the purge:\n%s", logged.String())
	}

	// Run purges every PurgeEvery.
	put(t, dir, "c.edi", binaryBody(30))
	if _, err := young.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(box), []string{"delivered c.edi", "suspended stray.edi"}; !slices.Equal(got, want) {
		t.Fatalf("box holds %q, want %q", got, want)
	}
	running, _ := startWith(t, dir, func(o *runner.Options) {
		o.Retention, o.Now, o.PurgeEvery = time.Hour, later, 10*time.Millisecond
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := running.Run(runCtx); done <- err }()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(ids(box), []string{"suspended stray.edi"}) {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("Run did not purge c.edi's message within 10s: box holds %q", ids(box))
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Less than a minute is refused: a purged message's source key is
	// forgotten.
	opts := testOptions(t, dir)
	opts.Retention = 30 * time.Second
	if _, err := runner.New(opts); err == nil || !strings.Contains(err.Error(), "at least 1m0s") {
		t.Errorf("New with a 30s retention = %v, want an error asking for at least 1m0s", err)
	}
}

// TestRetryAfter: a partner that answers 429 with Retry-After gets its
// wait, not the port's shorter retry interval; one that asks for less than
// the interval does not make the port retry sooner.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		interval   string
		wantWait   time.Duration // at least
		wantAtMost time.Duration
	}{
		{"partner asks for longer", "3600", "1s", time.Hour - time.Minute, time.Hour + time.Minute},
		{"partner asks for less", "1", "2h", 2*time.Hour - time.Minute, 2*time.Hour + time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Retry-After", tc.retryAfter)
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			defer partner.Close()
			p := newPKI(t)
			dir := setup(t, p, common+`
send_port "partner" {
  host     = host.h
  filter   = true
  transport "http" { url = "{{.URL}}/in" }
  retry {
    attempts = 3
    interval = "{{.Interval}}"
  }
}
`, map[string]string{"URL": partner.URL, "Interval": tc.interval})
			put(t, dir, "a.edi", []byte("payload"))
			r, box := start(t, dir)
			before := time.Now()
			sum, err := r.RunOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Retried != 1 || sum.Waiting != 1 || hits.Load() != 1 {
				t.Fatalf("summary %+v after %d requests, want one attempt, retrying", sum, hits.Load())
			}
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil || len(msgs) != 1 {
				t.Fatalf("List = %v, %v", msgs, err)
			}
			d, err := box.Get(context.Background(), msgs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			next := d.Deliveries[0].NextAttemptAt
			if wait := next.Sub(before); wait < tc.wantWait || wait > tc.wantAtMost {
				t.Errorf("next attempt in %v, want between %v and %v", wait, tc.wantWait, tc.wantAtMost)
			}
			if !strings.Contains(d.Deliveries[0].LastError, "HTTP 429") {
				t.Errorf("last error %q, want the 429", d.Deliveries[0].LastError)
			}
		})
	}
}

// TestRoutesUnrouted: a message in the box but not routed (a routing
// failure an operator resumed after fixing the filters; a crash between
// a plain Receive and routing) is routed and delivered by the next run,
// RunOnce and Run alike.
func TestRoutesUnrouted(t *testing.T) {
	p := newPKI(t)
	port := func(filter string) string {
		return common + `
send_port "fabrikam" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Partner}}"
  filter                 = ` + filter + `
  transport "file" {
    path      = "out"
    file_name = "${message.file_name}.p7m"
  }
}
`
	}
	// The filter has a typo: nothing matches, the message is suspended.
	dir := setup(t, p, port(`message.properties.partner == "fabrikm"`), nil)
	put(t, dir, "a.edi", binaryBody(50))
	r, box := start(t, dir)
	ctx := context.Background()
	if sum, err := r.RunOnce(ctx); err != nil || sum.Suspended != 1 || sum.Delivered != 0 {
		t.Fatalf("run with the typo: %+v, %v; want a routing failure", sum, err)
	}
	msgs, err := msgbox.Collect(ctx, box, msgbox.Filter{Status: msgbox.StatusSuspended})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("suspended = %v, %v", msgs, err)
	}
	// The operator fixes the filter and resumes the message.
	fixed := setup(t, p, port(`message.properties.partner == "fabrikam"`), nil)
	cfg, err := os.ReadFile(filepath.Join(fixed, "bizpipe.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bizpipe.hcl"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := box.Resume(ctx, msgs[0].ID); err != nil {
		t.Fatal(err)
	}
	// And a message stored without routing, as a crash between a plain
	// Receive and Route leaves it.
	in := msgbox.Incoming{ReceiveLocation: "in", FileName: "b.edi", ContentType: "application/edi-x12",
		Properties: map[string]string{"partner": "fabrikam"}}
	if _, _, err := box.ReceiveRouted(ctx, in, bytes.NewReader(binaryBody(60)), nil); err != nil {
		t.Fatal(err)
	}
	r2, _ := start(t, dir)
	if sum, err := r2.RunOnce(ctx); err != nil || sum.Delivered != 2 || sum.Suspended != 0 {
		t.Fatalf("run after the fix: %+v, %v; want both routed and delivered", sum, err)
	}
	for _, name := range []string{"a.edi.p7m", "b.edi.p7m"} {
		if _, err := os.Stat(filepath.Join(dir, "out", name)); err != nil {
			t.Errorf("%s not delivered: %v", name, err)
		}
	}

	// Run routes what becomes unrouted while it runs: its periodic sweep.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { _, err := r2.Run(runCtx); done <- err }()
	waitFor := func(name string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(dir, "out", name)); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Run did not deliver %s within 10s", name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// A file through the receive location first: Run is past its start-up
	// (which routes what it finds unrouted) once this is delivered.
	put(t, dir, "c.edi", binaryBody(70))
	waitFor("c.edi.p7m")
	in.FileName = "d.edi"
	if _, _, err := box.ReceiveRouted(ctx, in, bytes.NewReader(binaryBody(80)), nil); err != nil {
		t.Fatal(err)
	}
	waitFor("d.edi.p7m")
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// body returns the stored body of message id.
func body(t *testing.T, box msgbox.Box, id string) []byte {
	t.Helper()
	rc, err := box.Body(context.Background(), id)
	return readAndClose(t, rc, err)
}

// readAndClose reads all of rc, which an opener returned with err, and
// closes it, failing t on any error.
func readAndClose(t *testing.T, rc io.ReadCloser, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWaitingCountsSuspendedMessages: the summary's "waiting for retry"
// counts every retrying delivery, also those of a message shown as
// suspended because another of its deliveries was suspended at once.
func TestWaitingCountsSuspendedMessages(t *testing.T) {
	p := newPKI(t)
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "partner down for maintenance", http.StatusServiceUnavailable)
	}))
	defer partner.Close()
	dir := setup(t, p, common+`
send_port "missing_dir" {
  host   = host.h
  filter = true
  transport "file" { path = "no-such-dir" }
  retry { attempts = 0 }
}
send_port "down1" {
  host   = host.h
  filter = true
  transport "http" { url = "{{.URL}}/one" }
  retry {
    attempts = 3
    interval = "1h"
  }
}
send_port "down2" {
  host   = host.h
  filter = true
  transport "http" { url = "{{.URL}}/two" }
  retry {
    attempts = 3
    interval = "1h"
  }
}
`, map[string]string{"URL": partner.URL})
	put(t, dir, "a.edi", []byte("ISA*00*...~"))
	r, box := start(t, dir)
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m := onlyMessage(t, box); m.Status != msgbox.StatusSuspended {
		t.Fatalf("message %+v, want it suspended", m)
	}
	if sum.Suspended != 1 || sum.Retried != 2 || sum.Waiting != 2 {
		t.Errorf("summary %+v, want suspended 1, retried 2, waiting 2", sum)
	}
}

// unrecordingBox is a message box whose recording of outcomes fails, as
// a full disk makes it: the deliveries are made, their outcomes lost.
type unrecordingBox struct{ msgbox.Box }

var errDiskFull = errors.New("database or disk is full")

func (b unrecordingBox) Finish(context.Context, int64, string, msgbox.Outcome) error {
	return errDiskFull
}

func (b unrecordingBox) FinishBatch(_ context.Context, items []msgbox.Finishing) []error {
	errs := make([]error, len(items))
	for i := range errs {
		errs[i] = errDiskFull
	}
	return errs
}

// TestOnceReportsTroubles: a --once run that could not do its work (a
// receive directory it cannot read, a box that fails to record) ends with
// an error wrapping ErrIncomplete, naming the problem, after doing what it
// could; the next run, the problem gone, does the rest, exactly once.
func TestOnceReportsTroubles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dir string, o *runner.Options)
		want   string
	}{
		{"receive directory missing", func(t *testing.T, dir string, _ *runner.Options) {
			if err := os.Rename(filepath.Join(dir, "in"), filepath.Join(dir, "in.away")); err != nil {
				t.Fatal(err)
			}
		}, "reading directory"},
		{"outcomes not recorded", func(_ *testing.T, _ string, o *runner.Options) {
			o.Box = unrecordingBox{o.Box}
		}, errDiskFull.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t)
			dir := setup(t, p, common+allToFiles, nil)
			put(t, dir, "a.edi", []byte("ISA*00*...~"))
			opts := testOptions(t, dir)
			tc.break_(t, dir, &opts)
			r, err := runner.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.RunOnce(context.Background())
			if !errors.Is(err, runner.ErrIncomplete) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RunOnce error %v, want ErrIncomplete naming %q", err, tc.want)
			}

			// Mended: the next run finishes the work, without an error.
			if _, err := os.Stat(filepath.Join(dir, "in.away")); err == nil {
				if err := os.Rename(filepath.Join(dir, "in.away"), filepath.Join(dir, "in")); err != nil {
					t.Fatal(err)
				}
			}
			if o, ok := opts.Box.(unrecordingBox); ok {
				opts.Box = o.Box
			}
			r, err = runner.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.RunOnce(context.Background()); err != nil {
				t.Fatalf("second run: %v", err)
			}
			names := dirNames(t, filepath.Join(dir, "out"))
			if len(names) != 1 {
				t.Fatalf("out/ holds %q, want one delivery", names)
			}
			if got, err := os.ReadFile(filepath.Join(dir, "out", names[0])); err != nil || string(got) != "ISA*00*...~" {
				t.Errorf("delivered %q, %v; want the input's bytes", got, err)
			}
			msgs, err := msgbox.Collect(context.Background(), opts.Box, msgbox.Filter{})
			if err != nil || len(msgs) != 1 || msgs[0].Status != msgbox.StatusDelivered {
				t.Errorf("List = %+v, %v; want one delivered message", msgs, err)
			}
		})
	}
}

// TestHeaderValueUnsendable: a header whose value, evaluated for a
// message, has a control character (here from the sender's file name) can
// never be sent: the delivery is suspended at its first attempt, not
// retried, and nothing reaches the partner.
func TestHeaderValueUnsendable(t *testing.T) {
	p := newPKI(t)
	var hits atomic.Int32
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer partner.Close()
	dir := setup(t, p, common+`
send_port "partner" {
  host   = host.h
  filter = true
  transport "http" {
    url     = "{{.URL}}/in"
    headers = { "X-File" = "${message.file_name}" }
  }
  retry {
    attempts = 3
    interval = "1h"
  }
}
`, map[string]string{"URL": partner.URL})
	put(t, dir, "a\x01b.edi", []byte("ISA*00*...~"))
	r, box := start(t, dir)
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Suspended != 1 || sum.Retried != 0 || hits.Load() != 0 {
		t.Errorf("summary %+v after %d requests, want suspended at once, none sent", sum, hits.Load())
	}
	d := deliveryOf(t, box, onlyMessage(t, box).ID)
	if d.Attempts != 1 || !strings.Contains(d.LastError, "control character") {
		t.Errorf("after %d attempt(s), last error %q; want one, naming the control character", d.Attempts, d.LastError)
	}
}

// onlyMessage is the one message box holds.
func onlyMessage(t *testing.T, box msgbox.Box) msgbox.Message {
	t.Helper()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("List = %+v, %v; want one message", msgs, err)
	}
	return msgs[0]
}

// deliveryOf is the one delivery of message id.
func deliveryOf(t *testing.T, box msgbox.Box, id string) msgbox.Delivery {
	t.Helper()
	d, err := box.Get(context.Background(), id)
	if err != nil || len(d.Deliveries) != 1 {
		t.Fatalf("Get = %+v, %v; want one delivery", d, err)
	}
	return d.Deliveries[0]
}

// eachDelivery calls f with every delivery of every message box holds,
// and returns how many messages it holds.
func eachDelivery(t *testing.T, box msgbox.Box, f func(msgbox.Message, msgbox.Delivery)) (messages int) {
	t.Helper()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		d, err := box.Get(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range d.Deliveries {
			f(m, dl)
		}
	}
	return len(msgs)
}

// dirNames is the names of what directory dir holds, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func mustRun(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// unclaimingBox is a message box whose claims fail, as a full disk makes
// them.
type unclaimingBox struct{ msgbox.Box }

func (b unclaimingBox) ClaimBatch(context.Context, string, []string, time.Duration, int, []int64) ([]*msgbox.Delivery, error) {
	return nil, errDiskFull
}

// TestOnceClaimFailureLoggedOnce: when every worker of a --once run finds
// the box failing its claims, one line says so, not one per worker, and
// the run's error names it.
func TestOnceClaimFailureLoggedOnce(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+fabrikamFiles, nil)
	put(t, dir, "a.edi", []byte("ISA*00*...~"))
	var logs logBuffer
	var workers int
	r, _ := startWith(t, dir, func(o *runner.Options) {
		o.Box = unclaimingBox{o.Box}
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
		workers = o.Workers
	})
	if workers < 2 {
		t.Fatalf("%d workers: the test needs several", workers)
	}
	_, err := r.RunOnce(context.Background())
	if !errors.Is(err, runner.ErrIncomplete) || !strings.Contains(err.Error(), errDiskFull.Error()) {
		t.Errorf("RunOnce error %v, want ErrIncomplete naming the claims' failure", err)
	}
	if n := strings.Count(logs.String(), "claiming a delivery failed"); n != 1 {
		t.Errorf("%d lines about the failing claims from %d workers, want 1:\n%s", n, workers, logs.String())
	}
}

// onceFailingBox fails the first store of the file named name, as a
// passing problem (a full disk, freed meanwhile) does.
type onceFailingBox struct {
	msgbox.Box
	name   string
	failed atomic.Bool
}

func (b *onceFailingBox) ReceiveBatch(ctx context.Context, items []msgbox.Receipt, route msgbox.Router) []msgbox.ReceiveResult {
	var keep []msgbox.Receipt
	var at []int
	out := make([]msgbox.ReceiveResult, len(items))
	for i, it := range items {
		if it.In.FileName == b.name && b.failed.CompareAndSwap(false, true) {
			out[i].Err = errDiskFull
			continue
		}
		keep, at = append(keep, it), append(at, i)
	}
	for j, res := range b.Box.ReceiveBatch(ctx, keep, route) {
		out[at[j]] = res
	}
	return out
}

// TestOncePassingProblem: a file a --once run could not store at its first
// pass, and stored at a later one, leaves nothing undone: the run ends
// without an error (the problem was logged when it happened).
func TestOncePassingProblem(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+allToFiles, nil)
	put(t, dir, "a.edi", []byte("ISA*00*a~"))
	put(t, dir, "b.edi", []byte("ISA*00*b~"))
	var box *onceFailingBox
	r, _ := startWith(t, dir, func(o *runner.Options) {
		box = &onceFailingBox{Box: o.Box, name: "b.edi"}
		o.Box = box
	})
	sum, err := r.RunOnce(context.Background())
	if err != nil || sum.Delivered != 2 || !box.failed.Load() {
		t.Errorf("RunOnce = %+v, %v (b.edi failed once: %v); want both delivered, no error", sum, err, box.failed.Load())
	}
}

// TestLongRunSummaryCountsWaiting: a long run (not --once) that ends with
// deliveries waiting for a retry says how many in its summary, as a --once
// run does; it said "waiting for retry 0" whatever was waiting.
func TestLongRunSummaryCountsWaiting(t *testing.T) {
	p := newPKI(t)
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "partner down for maintenance", http.StatusServiceUnavailable)
	}))
	defer partner.Close()
	dir := setup(t, p, common+`
send_port "down1" {
  host   = host.h
  filter = true
  transport "http" { url = "{{.URL}}/one" }
  retry {
    attempts = 3
    interval = "1h"
  }
}
send_port "down2" {
  host   = host.h
  filter = true
  transport "http" { url = "{{.URL}}/two" }
  retry {
    attempts = 3
    interval = "1h"
  }
}
`, map[string]string{"URL": partner.URL})
	put(t, dir, "a.edi", []byte("ISA*00*...~"))
	r, box := start(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, r)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := box.Retrying(context.Background(), []string{"down1", "down2"})
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("%d deliveries retrying after 10s, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.sum.Retried != 2 || res.sum.Waiting != 2 {
		t.Errorf("summary %+v, want retried 2, waiting 2", res.sum)
	}
}

// TestFilterErrorIsRoutingFailure: a send port's filter that cannot be
// evaluated for a message (it names a property the message lacks) does
// not take the message: with no other port's filter matching, the message
// is a routing failure whose reason says which filter could not be
// evaluated, and nothing is delivered.
func TestFilterErrorIsRoutingFailure(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "regional" {
  host   = host.h
  filter = message.properties.region == "eu"
  transport "file" { path = "out" }
}
send_port "others" {
  host   = host.h
  filter = message.file_name == "other.edi"
  transport "file" { path = "out" }
}
`, nil)
	put(t, dir, "a.edi", []byte("ISA*00*...~"))
	r, box := start(t, dir)
	total := runUntilSettled(t, r)
	if total.Suspended != 1 || total.Delivered != 0 {
		t.Errorf("suspended %d, delivered %d; want the message suspended, nothing delivered", total.Suspended, total.Delivered)
	}
	msgs, err := msgbox.Collect(t.Context(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages %v, %v; want one", msgs, err)
	}
	m := msgs[0]
	if m.Status != msgbox.StatusSuspended || !strings.Contains(m.Reason, "routing failure") ||
		!strings.Contains(m.Reason, "1 filter(s) could not be evaluated") || !strings.Contains(m.Reason, "region") {
		t.Errorf("status %s, reason %q; want a routing failure naming the filter that could not be evaluated", m.Status, m.Reason)
	}
	if entries, err := os.ReadDir(filepath.Join(dir, "out")); err == nil && len(entries) != 0 {
		t.Errorf("out holds %d files, want none", len(entries))
	}
}
