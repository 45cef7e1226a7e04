package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// TestRunCountsInterruptedTries: an attempt a crash cut short, which the
// box records as failed itself when run starts again (Recover), counts as
// retried (bizpipe_messages_retried_total, and the summary, which counts
// the same) only when the port has a try left for it. Without one, the
// delivery is suspended without another attempt, counted as suspended: the
// one failed attempt is not counted as retried too, as a last attempt a
// worker records as failed is not.
func TestRunCountsInterruptedTries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		port     string // the delivery's
		attempts int    // fabrikam's retry.attempts
		summary  string
	}{
		{"a try left", "fabrikam", 1, "received 0, delivered 1, retried 1, suspended 0, waiting for retry 0\n"},
		{"no try left", "fabrikam", 0, "received 0, delivered 0, retried 0, suspended 1, waiting for retry 0\n"},
		// A port the configuration no longer has: run does not try its
		// deliveries again, so its attempt is not counted as retried.
		{"port removed", "gone", 1, "received 0, delivered 0, retried 0, suspended 0, waiting for retry 0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(filepath.Join(examplesDir, "quickstart"))); err != nil {
				t.Fatal(err)
			}
			cfgPath := filepath.Join(dir, "bizpipe.hcl")
			src, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			placed := "    file_name = \"${message.id}.eml\"\n  }\n"
			if !bytes.Contains(src, []byte(placed)) {
				t.Fatalf("the quickstart's send port has changed: no %q", placed)
			}
			src = bytes.Replace(src, []byte(placed),
				fmt.Appendf(nil, "%s  retry {\n    attempts = %d\n  }\n", placed, tc.attempts), 1)
			if err := os.WriteFile(cfgPath, src, 0o644); err != nil {
				t.Fatal(err)
			}

			// A delivery that worker 0 of srv1 was attempting when the
			// process died.
			data := filepath.Join(t.TempDir(), "data")
			if err := os.MkdirAll(data, 0o750); err != nil {
				t.Fatal(err)
			}
			box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			msg, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "orders_in", FileName: "order.xml",
				ContentType: "application/xml", Properties: map[string]string{"partner": "fabrikam"}},
				strings.NewReader("<order/>"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := box.Route(ctx, msg.ID, []string{tc.port}, ""); err != nil {
				t.Fatal(err)
			}
			if d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{tc.port}, time.Hour); err != nil || d == nil {
				t.Fatalf("claim: %v, %v", d, err)
			}
			box.Close()

			t.Chdir(dir)
			var stdout, stderr bytes.Buffer
			if code := run([]string{"run", "--once", "--data-dir", data, "."}, &stdout, &stderr, noEnv); code != exitOK {
				t.Fatalf("exit status %d; stderr:\n%s", code, &stderr)
			}
			if stdout.String() != tc.summary {
				t.Errorf("summary %q, want %q", &stdout, tc.summary)
			}
		})
	}
}
