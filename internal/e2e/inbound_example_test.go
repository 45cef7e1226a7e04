//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestInboundExample runs examples/inbound as its header comment tells a
// user to - the partner's OpenSSL commands, word for word, then run
// --once - and gets the order back, routed on its verified party; a message
// the partner encrypted without signing is stored and suspended, and
// `messages body --as-received` gives back the bytes as they arrived.
func TestInboundExample(t *testing.T) {
	testpki.OpenSSL(t) // the documented commands need it; fail, not skip, without it
	root := t.TempDir()
	for _, ex := range []string{"inbound", "quickstart"} { // inbound uses the quickstart's PKI
		if err := os.CopyFS(filepath.Join(root, "examples", ex), os.DirFS("../../examples/"+ex)); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(root, "examples", "inbound")
	for _, d := range []string{"in", "out/orders"} {
		left, _ := filepath.Glob(filepath.Join(dir, d, "*"))
		for _, f := range left {
			os.RemoveAll(f)
		}
	}
	hcl, err := os.ReadFile(filepath.Join(dir, "bizpipe.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	// The commands of the header: its lines indented under "#".
	var script []string
	for _, line := range strings.Split(string(hcl), "\n") {
		if cmd, ok := strings.CutPrefix(line, "#   "); ok {
			script = append(script, strings.ReplaceAll(cmd, "go run ./cmd/bizpipe", bizpipeBin))
		}
	}
	if len(script) < 3 || !strings.Contains(strings.Join(script, "\n"), bizpipeBin+" run --once") {
		t.Fatalf("the example's header has no commands to run:\n%s", strings.Join(script, "\n"))
	}
	sh := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(script, "\n"))
	sh.Dir = root
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the example's commands: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "received 1, delivered 1,") {
		t.Fatalf("summary:\n%s", out)
	}
	order, err := os.ReadFile(filepath.Join(root, "examples", "quickstart", "samples", "order-1001.xml"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := filepath.Glob(filepath.Join(dir, "out", "orders", "*.xml"))
	if len(got) != 1 {
		t.Fatalf("%d orders delivered, want 1", len(got))
	}
	if b, err := os.ReadFile(got[0]); err != nil || !bytes.Equal(b, order) {
		t.Fatalf("delivered order differs from the partner's (%v):\n%s", err, b)
	}

	// Encrypted for us but not signed: the location verifies, so it is
	// suspended with the reason, and its bytes are kept as they arrived.
	p := filepath.Join(root, "examples", "quickstart", "partner")
	unsigned := filepath.Join(dir, "in", "unsigned.eml")
	enc := exec.Command("openssl", "cms", "-encrypt", "-binary", "-aes256", "-out", unsigned, filepath.Join(p, "contoso.pem"))
	enc.Stdin = strings.NewReader("Content-Type: application/xml\r\n\r\n<Order/>")
	if out, err := enc.CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -encrypt: %v\n%s", err, out)
	}
	arrived, err := os.ReadFile(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	// From the repository's root, as the header's commands run, on the
	// example's own message box: the header's --data-dir.
	data := regexp.MustCompile(`--data-dir (\S+)`).FindStringSubmatch(strings.Join(script, "\n"))
	if data == nil {
		t.Fatal("the example's header runs it without its own --data-dir")
	}
	bp := func(args ...string) *exec.Cmd {
		c := exec.Command(bizpipeBin, append(args, "--data-dir", data[1])...)
		c.Dir = root
		return c
	}
	run := bp("run", "--once", dir)
	if out, err := run.CombinedOutput(); err != nil || !strings.Contains(string(out), "received 1, delivered 0, retried 0, suspended 1") {
		t.Fatalf("run --once over an unsigned message: %v\n%s", err, out)
	}
	listed, err := bp("messages", "list", "--format", "json", "--status", "suspended", dir).Output()
	if err != nil {
		t.Fatalf("messages list: %v", err)
	}
	var list struct {
		Messages []struct {
			ID     string `json:"id"`
			Party  string `json:"party"`
			Reason string `json:"reason"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(listed, &list); err != nil || len(list.Messages) != 1 {
		t.Fatalf("suspended messages: %v, %d of them, want 1\n%s", err, len(list.Messages), listed)
	}
	msgs := list.Messages
	if m := msgs[0]; m.Party != "" || !strings.Contains(m.Reason, "from_fabrikam") {
		t.Errorf("suspended message %+v: want no party and a reason naming the location", m)
	}
	body := bp("messages", "body", "--as-received", msgs[0].ID, dir)
	if b, err := body.Output(); err != nil || !bytes.Equal(b, arrived) {
		t.Errorf("messages body --as-received: %v; %d bytes, want the %d that arrived", err, len(b), len(arrived))
	}
}
