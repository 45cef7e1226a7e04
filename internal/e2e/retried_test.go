//go:build linux

package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// TestRetriedCountsInterruptedAttempts: an attempt a crash cut short,
// which the box records as failed when run starts again (Recover), counts
// in bizpipe_messages_retried_total and in the summary's retried as a
// failure the worker records does; the delivery is then made.
func TestRetriedCountsInterruptedAttempts(t *testing.T) {
	dir, _ := crashSetup(t)
	data := filepath.Join(dir, "data")
	// The box as a killed run left it: a delivery to out held by one of
	// srv1's workers.
	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "a.edi"},
		strings.NewReader("ISA*00*interrupted~"), nil)
	if err == nil {
		err = box.Route(ctx, m.ID, []string{"out"}, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	if ds, err := box.ClaimBatch(ctx, "srv1/w0", []string{"out"}, time.Hour, 1, nil); err != nil || len(ds) != 1 {
		t.Fatalf("claim = %v, %v", ds, err)
	}
	if err := box.Close(); err != nil {
		t.Fatal(err)
	}

	addr := "127.0.0.1:" + freePort(t)
	cmd := exec.Command(bizpipeBin, "run", "--data-dir", data, "--metrics-addr", addr, dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	text := scrapeUntil(addr, `bizpipe_messages_delivered_total{send_port="out"} 1`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	// The summary counts the interrupted attempt as the metric does.
	if want := "received 0, delivered 1, retried 1, suspended 0"; !strings.Contains(stdout.String(), want) {
		t.Errorf("summary %q, want %q", stdout.String(), want)
	}
	for _, want := range []string{
		`bizpipe_messages_delivered_total{send_port="out"} 1`,
		`bizpipe_messages_retried_total{send_port="out"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s\nlog:\n%s", want, text, stderr.String())
		}
	}
}
