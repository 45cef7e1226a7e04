package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAS2Example runs examples/as2 as its header comment tells a user to:
// Fabrikam's bizpipe run takes AS2, Contoso's run --once sends it an order,
// signed and encrypted, and delivers on Fabrikam's signed synchronous MDN,
// which `messages mdn` writes out; then, with --var mdn=async, a running
// Contoso gets the MDN POSTed to its own as2 receive location. Fabrikam
// stores both orders, decoded, exactly as sent.
func TestAS2Example(t *testing.T) {
	root := t.TempDir()
	for _, ex := range []string{"as2", "quickstart"} { // as2 uses the quickstart's stores
		if err := os.CopyFS(filepath.Join(root, "examples", ex), os.DirFS("../../examples/"+ex)); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(root, "examples", "as2")
	fabPort, conPort := freePort(t), freePort(t)
	fabVars := []string{"--var", "listen=127.0.0.1:" + fabPort}
	conVars := []string{"--var", "listen=127.0.0.1:" + conPort, "--var", "fabrikam_url=http://127.0.0.1:" + fabPort + "/as2"}
	conData := filepath.Join(root, "contoso-data")

	start := func(name string, args ...string) (stop func()) {
		t.Helper()
		cmd := exec.Command(bizpipeBin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Error(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("%s after SIGTERM: %v\n%s", name, err, stderr.String())
			}
		}
	}
	listening := func(port string) func() bool {
		return func() bool {
			resp, err := http.Get("http://127.0.0.1:" + port + "/as2")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return true
		}
	}
	stopFab := start("fabrikam", append([]string{"run", "--data-dir", filepath.Join(root, "fabrikam-data")}, append(fabVars, filepath.Join(dir, "fabrikam"))...)...)
	defer stopFab()
	waitFor(t, 20*time.Second, listening(fabPort))

	delivered := func() []string {
		t.Helper()
		out, err := exec.Command(bizpipeBin, "messages", "list", "--status", "delivered", "--format", "json",
			"--data-dir", conData, filepath.Join(dir, "contoso")).Output()
		if err != nil {
			t.Fatalf("messages list: %v", err)
		}
		var l struct {
			Messages []struct {
				ID string `json:"id"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(out, &l); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range l.Messages {
			ids = append(ids, m.ID)
		}
		return ids
	}
	orders := func() []string {
		got, _ := filepath.Glob(filepath.Join(dir, "fabrikam", "out", "orders", "*.xml"))
		return got
	}
	put := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, "examples", "quickstart", "samples", name))
		if err != nil {
			t.Fatal(err)
		}
		writeSettled(t, filepath.Join(dir, "contoso", "in", name), b)
		return b
	}

	// Synchronous MDN: run --once is enough.
	order := put("order-1001.xml")
	out, err := exec.Command(bizpipeBin, append([]string{"run", "--once", "--data-dir", conData}, append(conVars, filepath.Join(dir, "contoso"))...)...).Output()
	if err != nil || !strings.Contains(string(out), "received 1, delivered 1,") {
		t.Fatalf("contoso run --once: %v\n%s", err, out)
	}
	got := orders()
	if len(got) != 1 {
		t.Fatalf("fabrikam has %d orders, want 1", len(got))
	}
	if b, err := os.ReadFile(got[0]); err != nil || !bytes.Equal(b, order) {
		t.Fatalf("fabrikam's order differs from the one sent (%v):\n%s", err, b)
	}
	ids := delivered()
	if len(ids) != 1 {
		t.Fatalf("contoso delivered %v", ids)
	}
	mdn, err := exec.Command(bizpipeBin, "messages", "mdn", ids[0], "--data-dir", conData, filepath.Join(dir, "contoso")).Output()
	if err != nil || !bytes.Contains(mdn, []byte("multipart/signed")) || !bytes.Contains(mdn, []byte("processed")) {
		t.Fatalf("messages mdn: %v\n%s", err, mdn)
	}

	// Asynchronous MDN: Contoso runs, its as2 receive location takes it.
	conVars = append(conVars, "--var", "mdn=async")
	stopCon := start("contoso", append([]string{"run", "--data-dir", conData}, append(conVars, filepath.Join(dir, "contoso"))...)...)
	waitFor(t, 20*time.Second, listening(conPort))
	put("order-1002.xml")
	waitFor(t, 30*time.Second, func() bool { return len(orders()) == 2 })
	// The box is read while Contoso runs (SQLite readers do not wait).
	waitFor(t, 30*time.Second, func() bool { return len(delivered()) == 2 })
	stopCon()

	// run --once does not wait for an asynchronous MDN: the delivery stays
	// awaiting_mdn, counted in the summary and listed as such.
	writeSettled(t, filepath.Join(dir, "contoso", "in", "order-1003.xml"), order)
	out, err = exec.Command(bizpipeBin, append([]string{"run", "--once", "--data-dir", conData}, append(conVars, filepath.Join(dir, "contoso"))...)...).Output()
	if err != nil || !strings.Contains(string(out), "received 1, delivered 0, retried 0, suspended 0, waiting for retry 0, awaiting MDN 1") {
		t.Fatalf("contoso run --once with an async MDN: %v\n%s", err, out)
	}
	list, err := exec.Command(bizpipeBin, "messages", "list", "--status", "awaiting_mdn", "--data-dir", conData, filepath.Join(dir, "contoso")).Output()
	if err != nil || strings.Count(string(list), "awaiting_mdn") != 1 || !strings.Contains(string(list), "order-1003.xml") {
		t.Fatalf("messages list --status awaiting_mdn: %v\n%s", err, list)
	}
}
