//go:build linux

// Package e2e runs the real bizpipe binary as a child process: crash safety
// under SIGKILL and the README's quickstart.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/testbin"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// bizpipeBin is the binary under test, built once by TestMain.
var bizpipeBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(&bizpipeBin, m.Run))
}

// storesAndServer is what every configuration here starts with: the
// personal store stores/personal (PKCS#12 password "pw") of service
// account svc, and server srv1 with the other-people store stores/others.
const storesAndServer = `certificate_store "personal" {
  path     = "stores/personal"
  password = "pw"
}
certificate_store "others" { path = "stores/others" }
service_account "svc" { personal_store = certificate_store.personal }
server "srv1" { other_people_store = certificate_store.others }
`

// crashConfig signs and encrypts every file from in/ into out/, named after
// the input, so that a message published twice would collide.
const crashConfig = `
group "g" { signing_certificate = "%s" }
` + storesAndServer + `host "h" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}
receive_location "in" {
  host = host.h
  transport "file" {
    path          = "in"
    poll_interval = "20ms"
  }
}
send_port "out" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "%s"
  filter                 = true
  transport "file" {
    path      = "out"
    file_name = "${message.file_name}.p7m"
  }
  retry {
    attempts = 100
    interval = "50ms"
  }
}
`

// TestCrashSafety kills a running bizpipe with SIGKILL at random instants
// while hundreds of messages flow, restarts it, and checks that every
// message is delivered exactly once and none remains in the input.
func TestCrashSafety(t *testing.T) {
	const messages = 300
	dir, p := crashSetup(t)
	body := func(i int) []byte {
		return []byte(fmt.Sprintf("ISA*00*%06d*~\r\nbinary\x00\xff%s", i, strings.Repeat("x", i%97)))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	next := 0
	drop := func(n int) {
		for ; n > 0 && next < messages; n-- {
			name := fmt.Sprintf("m%04d.edi", next)
			writeSettled(t, filepath.Join(dir, "in", name), body(next))
			next++
		}
	}
	data := filepath.Join(dir, "data")
	drop(messages / 2)
	kills := 0
	for round := 0; round < 40 && (next < messages || countFiles(t, filepath.Join(dir, "out")) < messages); round++ {
		cmd := exec.Command(bizpipeBin, "run", "--data-dir", data, dir)
		cmd.Stdout, cmd.Stderr = nil, nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		drop(1 + rng.IntN(30))
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		kills++
	}
	drop(messages)
	// A final run drains whatever the kills left behind.
	out, err := exec.Command(bizpipeBin, "run", "--once", "--data-dir", data, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("final run --once: %v\n%s", err, out)
	}
	t.Logf("%d kills; final run: %s", kills, lastLine(out))

	// Nothing left in the input, not even a claimed file.
	entries, err := os.ReadDir(filepath.Join(dir, "in"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in the input: %s", e.Name())
	}
	// Every message exactly once in the output, with the right content.
	want := map[string][]byte{}
	for i := range messages {
		want[fmt.Sprintf("m%04d.edi", i)] = body(i)
	}
	checkDelivered(t, dir, p, want)
	// The box agrees: one message per input file, all delivered.
	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	all, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range all {
		seen[m.FileName]++
		if m.Status != msgbox.StatusDelivered {
			t.Errorf("message %s (%s) is %s: %s", m.ID, m.FileName, m.Status, m.Reason)
		}
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s published %d times", name, n)
		}
	}
	if len(seen) != messages {
		t.Errorf("box holds %d distinct files, want %d", len(seen), messages)
	}
}

// crashPKI is the certificates of a crashConfig directory.
type crashPKI struct {
	ca, signer, partner *testpki.Cert
}

// mustReplace is strings.Replace of the first old in s, failing the test
// when s lacks it: a configuration a test adjusts must not change under it
// unnoticed.
func mustReplace(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("the configuration has no %q to replace", old)
	}
	return strings.Replace(s, old, new, 1)
}

// crashSetup writes crashConfig with fresh certificates into a temp dir.
func crashSetup(t *testing.T) (string, *crashPKI) {
	t.Helper()
	keys := testpki.NewKeys()
	ca := testpki.SelfSigned(t, testpki.Options{CommonName: "CA", IsCA: true, Key: keys.Key(t, testpki.RSA2048, 0)})
	p := &crashPKI{ca: ca,
		signer:  ca.Issue(t, testpki.Options{CommonName: "Signer", Key: keys.Key(t, testpki.RSA2048, 1)}),
		partner: ca.Issue(t, testpki.Options{CommonName: "Partner", Key: keys.Key(t, testpki.RSA2048, 2)}),
	}
	dir := t.TempDir()
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "s.p12", p.signer.PKCS12(t, "pw", false, ca))
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "p.pem", p.partner.CertPEM())
	testpki.WriteFile(t, dir, "bizpipe.hcl", []byte(fmt.Sprintf(crashConfig, p.signer.SHA1(), p.partner.SHA1())))
	for _, d := range []string{"in", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, p
}

// checkDelivered checks that out/ holds exactly one signed and encrypted
// file per input name, <name>.p7m, that decrypts and verifies to its body.
func checkDelivered(t *testing.T, dir string, p *crashPKI, bodies map[string][]byte) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	for name, want := range bodies {
		entity, err := os.ReadFile(filepath.Join(dir, "out", name+".p7m"))
		if err != nil {
			t.Errorf("%s not delivered: %v", name, err)
			continue
		}
		d, err := smime.Decode(entity, smime.DecodeOptions{Cert: p.partner.Cert, Key: decrypter(t, p.partner), Roots: roots})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(d.Body, want) {
			t.Errorf("%s: wrong content", name)
		}
	}
	if n := countFiles(t, filepath.Join(dir, "out")); n != len(bodies) {
		t.Errorf("%d files delivered, want %d", n, len(bodies))
	}
}

// writeSettled writes a file the way producers should (temp name, rename)
// and back-dates it so that the receiver takes it at once.
func writeSettled(t *testing.T, path string, data []byte) {
	t.Helper()
	writeSettledFunc(t, path, func(w *bufio.Writer) { w.Write(data) })
}

// countFiles counts the non-hidden files in dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func decrypter(t *testing.T, c *testpki.Cert) crypto.Decrypter {
	t.Helper()
	d, ok := c.Key.(crypto.Decrypter)
	if !ok {
		t.Fatalf("%s: key cannot decrypt", c.Cert.Subject)
	}
	return d
}

// TestQuickstart runs the README's quickstart on a copy of
// examples/quickstart and checks its output with OpenSSL, as the README
// tells a user to: decrypt with the partner's key, verify against the demo
// CA, and get the sample order back.
func TestQuickstart(t *testing.T) {
	openssl := testpki.OpenSSL(t)
	dir := filepath.Join(t.TempDir(), "quickstart")
	if err := os.CopyFS(dir, os.DirFS("../../examples/quickstart")); err != nil {
		t.Fatal(err)
	}
	// A developer's earlier runs may have left files in the example's
	// (git-ignored) in/ and out/: start from what a fresh clone has.
	for _, d := range []string{"in", "out/fabrikam"} {
		left, _ := filepath.Glob(filepath.Join(dir, d, "*"))
		for _, f := range left {
			os.RemoveAll(f)
		}
	}
	samples, err := filepath.Glob(filepath.Join(dir, "samples", "*.xml"))
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, s := range samples {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		writeSettled(t, filepath.Join(dir, "in", filepath.Base(s)), b)
	}
	cmd := exec.Command(bizpipeBin, "run", "--once", "quickstart")
	cmd.Dir = filepath.Dir(dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run --once: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("received %d, delivered %d,", len(samples), len(samples)); !strings.Contains(string(out), want) {
		t.Fatalf("summary does not say %q:\n%s", want, out)
	}
	outs, err := filepath.Glob(filepath.Join(dir, "out", "fabrikam", "*.eml"))
	if err != nil || len(outs) != len(samples) {
		t.Fatalf("%d output files, want %d (%v)", len(outs), len(samples), err)
	}
	want := map[string]bool{}
	for _, s := range samples {
		b, _ := os.ReadFile(s)
		// The samples are text/xml... declared application/xml: not text/*,
		// so the bytes come back exactly.
		want[string(b)] = true
	}
	partner := filepath.Join(dir, "partner")
	for _, o := range outs {
		dec := exec.Command(openssl, "cms", "-decrypt", "-recip", filepath.Join(partner, "fabrikam.pem"),
			"-inkey", filepath.Join(partner, "fabrikam.key"), "-in", o)
		plain, err := dec.Output()
		if err != nil {
			t.Fatalf("%s: openssl cms -decrypt: %v", o, err)
		}
		ver := exec.Command(openssl, "cms", "-verify", "-CAfile", filepath.Join(partner, "ca.pem"))
		ver.Stdin = bytes.NewReader(plain)
		var stderr bytes.Buffer
		ver.Stderr = &stderr
		entity, err := ver.Output()
		if err != nil {
			t.Fatalf("%s: openssl cms -verify: %v\n%s", o, err, stderr.String())
		}
		d, err := smime.Decode(entity, smime.DecodeOptions{})
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		if !want[string(d.Body)] {
			t.Errorf("%s: content is not one of the samples:\n%s", o, d.Body)
		}
	}
}

// TestServeMetricsAndStop runs bizpipe without --once: it serves metrics
// while it works, and SIGTERM makes it finish and exit 0 with a summary.
// Then `bizpipe messages` lists, shows, resumes and terminates messages in
// the same box.
func TestServeMetricsAndStop(t *testing.T) {
	keys := testpki.NewKeys()
	ca := testpki.SelfSigned(t, testpki.Options{CommonName: "CA", IsCA: true, Key: keys.Key(t, testpki.RSA2048, 0)})
	signer := ca.Issue(t, testpki.Options{CommonName: "Signer", Key: keys.Key(t, testpki.RSA2048, 1)})
	partner := ca.Issue(t, testpki.Options{CommonName: "Partner", Key: keys.Key(t, testpki.RSA2048, 2)})
	dir := t.TempDir()
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "s.p12", signer.PKCS12(t, "pw", false, ca))
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "p.pem", partner.CertPEM())
	cfg := fmt.Sprintf(crashConfig, signer.SHA1(), partner.SHA1())
	// A routing failure to operate on: only *.edi files are routed.
	cfg = mustReplace(t, cfg, "filter                 = true", `filter                 = endswith(message.file_name, ".edi")`)
	testpki.WriteFile(t, dir, "bizpipe.hcl", []byte(cfg))
	for _, d := range []string{"in", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeSettled(t, filepath.Join(dir, "in", "a.edi"), []byte("order a"))
	writeSettled(t, filepath.Join(dir, "in", "b.txt"), []byte("nobody wants me"))
	data := filepath.Join(dir, "data")
	addr := "127.0.0.1:" + freePort(t)
	cmd := exec.Command(bizpipeBin, "run", "--data-dir", data, "--metrics-addr", addr, "--log-format", "json", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	metricsText := scrapeUntil(addr, `bizpipe_messages_delivered_total{send_port="out"} 1`,
		`bizpipe_messages_suspended_total{send_port=""} 1`)
	for _, want := range []string{
		`bizpipe_messages_received_total{receive_location="in"} 2`,
		`bizpipe_messages_delivered_total{send_port="out"} 1`,
		`bizpipe_messages_suspended_total{send_port=""} 1`,
		`bizpipe_pipeline_duration_seconds_count{send_port="out"} 1`,
		`bizpipe_delivery_duration_seconds_count{send_port="out"} 1`,
		// The box's backlog: the routing failure waits for an operator.
		`bizpipe_messages{status="suspended"} 1`,
		`bizpipe_messages{status="retrying"} 0`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("metrics lack %q:\n%s", want, metricsText)
		}
	}
	// The certificates the instance uses: when each expires.
	for _, c := range []struct {
		use  string
		cert *testpki.Cert
	}{{"signing", signer}, {"encryption", partner}} {
		series := fmt.Sprintf(`bizpipe_certificate_expiry_timestamp_seconds{subject=%q,thumbprint="%s",use="%s"} `,
			c.cert.Cert.Subject.String(), strings.ToUpper(c.cert.SHA1()), c.use)
		_, value, found := strings.Cut(metricsText, "\n"+series)
		value, _, _ = strings.Cut(value, "\n")
		got, err := strconv.ParseFloat(value, 64)
		if !found || err != nil || int64(got) != c.cert.Cert.NotAfter.Unix() {
			t.Errorf("metrics lack %s%d:\n%s", series, c.cert.Cert.NotAfter.Unix(), metricsText)
		}
	}
	if n := strings.Count(metricsText, "\nbizpipe_certificate_expiry_timestamp_seconds{"); n != 2 {
		t.Errorf("%d certificate expiry series, want 2 (the signing and the encryption certificate)", n)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "received 2, delivered 1,") {
		t.Errorf("summary: %q", stdout.String())
	}
	// Every log line is JSON with the message id where there is one, and
	// no key material.
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("log line is not JSON: %s", line)
		}
		if strings.Contains(line, "PRIVATE KEY") || strings.Contains(line, "\"pw\"") {
			t.Errorf("log line leaks a secret: %s", line)
		}
		if strings.Contains(line, `"msg":"delivered"`) && (!strings.Contains(line, `"message_id"`) || !strings.Contains(line, `"send_port":"out"`) || !strings.Contains(line, `"instance"`)) {
			t.Errorf("delivery log line lacks message_id, send_port or instance: %s", line)
		}
	}

	bp := func(args ...string) (string, error) {
		c := exec.Command(bizpipeBin, append(args, "--data-dir", data, dir)...)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := bp("messages", "list", "--status", "suspended", "--format", "json")
	if err != nil {
		t.Fatalf("messages list: %v\n%s", err, out)
	}
	var parsed struct {
		Messages []map[string]any `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &parsed); err != nil || len(parsed.Messages) != 1 {
		t.Fatalf("suspended messages: %v\n%s", err, out)
	}
	id, _ := parsed.Messages[0]["id"].(string)
	if parsed.Messages[0]["file_name"] != "b.txt" || !strings.Contains(fmt.Sprint(parsed.Messages[0]["reason"]), "routing failure") {
		t.Errorf("suspended message: %v", parsed.Messages[0])
	}
	if out, err := bp("messages", "show", id); err != nil || !strings.Contains(out, "suspended") || !strings.Contains(out, "b.txt") {
		t.Errorf("messages show: %v\n%s", err, out)
	}
	// The operator saves the suspended message's body: exactly as received.
	if out, err := bp("messages", "body", id); err != nil || out != "nobody wants me" {
		t.Errorf("messages body = %q, %v; want the received bytes", out, err)
	}
	if out, err := bp("messages", "body", "nonexistent"); err == nil || !strings.Contains(out, "not found") {
		t.Errorf("body of an unknown id: %v\n%s", err, out)
	}
	if out, err := bp("messages", "resume", id); err != nil {
		t.Errorf("messages resume: %v\n%s", err, out)
	}
	if out, err := bp("messages", "list", "--status", "received"); err != nil || !strings.Contains(out, id) {
		t.Errorf("after resume, the routing failure is received again: %v\n%s", err, out)
	}
	if out, err := bp("messages", "terminate", id); err != nil {
		t.Errorf("messages terminate: %v\n%s", err, out)
	}
	if out, err := bp("messages", "show", id, "--format", "json"); err != nil || !strings.Contains(out, `"status": "terminated"`) {
		t.Errorf("after terminate: %v\n%s", err, out)
	}
	if out, err := bp("messages", "show", "nonexistent"); err == nil || !strings.Contains(out, "not found") {
		t.Errorf("show of an unknown id: %v\n%s", err, out)
	}
}

// scrapeUntil reads the metrics a run serves at addr until they contain
// every one of want, for up to 30 s, and returns the last it read.
func scrapeUntil(addr string, want ...string) string {
	var text string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text = string(b)
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(text, w) }) {
			break
		}
	}
	return text
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// TestHTTPExample runs examples/http as its header comment tells a user to:
// an order POSTed to the orders endpoint is signed, encrypted and POSTed to
// the simulated partner, whose inbox file OpenSSL decrypts and verifies
// back to the order.
func TestHTTPExample(t *testing.T) {
	openssl := testpki.OpenSSL(t)
	root := t.TempDir()
	for _, ex := range []string{"http", "quickstart"} { // http uses the quickstart's stores
		if err := os.CopyFS(filepath.Join(root, ex), os.DirFS("../../examples/"+ex)); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(root, "http")
	inbox := filepath.Join(dir, "out", "partner_inbox")
	left, _ := filepath.Glob(filepath.Join(inbox, "*.p7m"))
	for _, f := range left {
		os.Remove(f)
	}
	orders, partner := freePort(t), freePort(t)
	cmd := exec.Command(bizpipeBin, "run", "--data-dir", filepath.Join(root, "data"),
		"--var", "orders_port="+orders, "--var", "partner_port="+partner, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := "http://127.0.0.1:" + orders
	waitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	order, err := os.ReadFile(filepath.Join(root, "quickstart", "samples", "order-1001.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// The location ignores the request's Content-Type
	// (request_content_type = "ignore"): the order stays application/xml.
	resp, err := http.Post(base+"/orders", "text/plain", bytes.NewReader(order))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /orders: %s, want 202", resp.Status)
	}
	var got []string
	waitFor(t, 20*time.Second, func() bool {
		got, _ = filepath.Glob(filepath.Join(inbox, "*.p7m"))
		return len(got) == 1
	})
	// What the partner received is the body of the POST: the base64 of
	// the enveloped data, its MIME headers having travelled as HTTP
	// headers.
	der := exec.Command(openssl, "base64", "-d", "-in", got[0])
	dec := exec.Command(openssl, "cms", "-decrypt", "-inform", "DER",
		"-recip", filepath.Join(root, "quickstart", "partner", "fabrikam.pem"),
		"-inkey", filepath.Join(root, "quickstart", "partner", "fabrikam.key"))
	ver := exec.Command(openssl, "cms", "-verify", "-CAfile", filepath.Join(root, "quickstart", "partner", "ca.pem"))
	signed, err := pipe(t, der, dec)
	if err != nil {
		t.Fatalf("decrypting %s: %v", got[0], err)
	}
	ver.Stdin = bytes.NewReader(signed)
	entity, err := ver.Output()
	if err != nil {
		t.Fatalf("verifying %s: %v", got[0], err)
	}
	// The signed entity is the order as application/xml in base64.
	head, body, ok := bytes.Cut(entity, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("signed entity has no body:\n%s", entity)
	}
	if !bytes.Contains(head, []byte("Content-Type: application/xml")) {
		t.Errorf("signed entity's header %q: want the location's application/xml, not the request's text/plain", head)
	}
	plain, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\r\n", ""))
	if err != nil || !bytes.Equal(plain, order) {
		t.Fatalf("signed entity's body is not the order (%v):\n%s", err, entity)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run after SIGTERM: %v\n%s", err, stderr.String())
	}
}

// pipe runs a | b and returns b's output.
func pipe(t *testing.T, a, b *exec.Cmd) ([]byte, error) {
	t.Helper()
	out, err := a.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.Path, err)
	}
	b.Stdin = bytes.NewReader(out)
	return b.Output()
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
