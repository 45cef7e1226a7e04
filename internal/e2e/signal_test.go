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
)

// TestStopSignals: run (without --once) stops cleanly on each of SIGINT,
// SIGTERM and SIGHUP: it exits 0 with its summary, having delivered what it
// received. SIGHUP's default action would kill it on the spot (exit 129, no
// summary), as a closed terminal or SSH session does.
func TestStopSignals(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGINT", syscall.SIGINT},
		{"SIGTERM", syscall.SIGTERM},
		{"SIGHUP", syscall.SIGHUP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, _ := crashSetup(t)
			writeSettled(t, filepath.Join(dir, "in", "a.xml"), []byte("<order/>"))
			cmd := exec.Command(bizpipeBin, "run", "--data-dir", filepath.Join(dir, "data"), dir)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			defer func() {
				cmd.Process.Kill()
				<-waited
			}()
			// Running, and past its start: the message is delivered.
			waitFor(t, 30*time.Second, func() bool {
				select {
				case err := <-waited:
					waited <- err
					t.Fatalf("run exited before the signal: %v\n%s", err, stderr.String())
				default:
				}
				return countFiles(t, filepath.Join(dir, "out")) == 1
			})
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-waited:
				waited <- err // for the deferred wait
				if err != nil {
					t.Fatalf("run after %s: %v (want exit 0)\n%s", tc.name, err, stderr.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("run did not stop on %s", tc.name)
			}
			if !strings.HasPrefix(stdout.String(), "received 1, delivered 1,") {
				t.Errorf("after %s: stdout %q, want the summary", tc.name, stdout.String())
			}
		})
	}
}
