//go:build linux

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOneRunPerBoxFile runs bizpipe with --data-dir data, and meanwhile a
// second bizpipe on another data directory whose configuration's
// message_box path reaches the same database: directly, through a
// symbolic link to the directory, through "..". The second must not
// start: it would take the first one's deliveries in progress for
// interrupted ones and deliver them again. Once the first has stopped, the
// second runs.
func TestOneRunPerBoxFile(t *testing.T) {
	dir, _ := crashSetup(t)
	data := filepath.Join(dir, "data")
	first := exec.Command(bizpipeBin, "run", "--data-dir", data, "--log-format", "json", dir)
	stderr, err := first.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	// "starting" is logged once the box is open, and its lock held.
	lines := bufio.NewScanner(stderr)
	var log []string
	for lines.Scan() && !strings.Contains(lines.Text(), `"msg":"starting"`) {
		log = append(log, lines.Text())
	}
	if lines.Err() != nil || !strings.Contains(lines.Text(), `"msg":"starting"`) {
		t.Fatalf("the first run did not start: %v\n%s", lines.Err(), strings.Join(log, "\n"))
	}
	go func() {
		for lines.Scan() {
		}
	}()

	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "bizpipe.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(data, "messagebox.db")
	realDB, err := filepath.EvalSymlinks(db)
	if err != nil {
		t.Fatal(err)
	}
	var second string
	for _, path := range []string{
		db,
		filepath.Join(link, "messagebox.db"),
		filepath.Join(dir, "in", "..", "data", "messagebox.db"),
	} {
		// The second configuration is the first's plus a message_box
		// block; its relative paths (stores, in, out) are its own.
		second = t.TempDir()
		if err := os.CopyFS(second, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		os.RemoveAll(filepath.Join(second, "data"))
		block := fmt.Sprintf("message_box {\n  sqlite { path = %q }\n}\n", path)
		if err := os.WriteFile(filepath.Join(second, "bizpipe.hcl"), append(cfg, block...), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bizpipeBin, "run", "--once", "--data-dir", filepath.Join(second, "otherdata"), second).CombinedOutput()
		want := fmt.Sprintf("message box %s is in use by another bizpipe process (pid %d,", realDB, first.Process.Pid)
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("second run via %s: %v, want a failure saying %q:\n%s", path, err, want, out)
		}
		if strings.Contains(string(out), "received") {
			t.Errorf("second run via %s ran:\n%s", path, out)
		}
	}

	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first run after SIGTERM: %v", err)
	}
	out, err := exec.Command(bizpipeBin, "run", "--once", "--data-dir", filepath.Join(second, "otherdata"), second).CombinedOutput()
	if err != nil {
		t.Fatalf("the second run once the first has stopped: %v\n%s", err, out)
	}
}
