//go:build linux

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestInputSwappedAfterListing: whoever can write to the receive directory
// replaces a listed input, between the listing and its claim, with a
// symbolic link to a secret outside the directory, or with a FIFO. The real
// binary must not deliver or store the secret, must not hang in `run
// --once`, and must still stop on SIGTERM.
//
// The swap is made to land in that window without any hook in the binary:
// a pass takes the files oldest first, a limited number at a time (32), and
// each costs a commit, so the newest file, a.xml, is claimed only after
// most of the many older decoys were. The test swaps a.xml as soon as the
// first decoy is claimed (the listing has then been made), and then checks
// that more than half the decoys are still unclaimed: a.xml's claim, which
// comes after all of theirs, had not happened at the swap. A trial where
// that check fails proves nothing and is repeated.
func TestInputSwappedAfterListing(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind string // what replaces a.xml
		once bool   // run --once; else run, stopped by SIGTERM
	}{
		{"symlink to a secret, run --once", "symlink", true},
		{"FIFO, run --once", "fifo", true},
		{"FIFO, run stopped by SIGTERM", "fifo", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for trial := 1; ; trial++ {
				if swapTrial(t, tc.kind, tc.once) {
					return
				}
				if trial == 3 {
					t.Fatal("in 3 trials the engine claimed half the decoys before the swap: the race could not be arranged")
				}
				t.Logf("trial %d: the swap came too late to tell anything; again", trial)
			}
		})
	}
}

// swapDecoys is how many older files are received before a.xml.
const swapDecoys = 1000

// swapTrial runs one trial; false means the swap did not provably land
// before a.xml's claim.
func swapTrial(t *testing.T, kind string, once bool) bool {
	t.Helper()
	dir, _ := crashSetup(t)
	cfg, err := os.ReadFile(filepath.Join(dir, "bizpipe.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	// Only a.xml is routed: the decoys are routing failures, which cost a
	// commit each but no delivery.
	cfg = bytes.Replace(cfg, []byte("filter                 = true"), []byte(`filter                 = message.file_name == "a.xml"`), 1)
	if err := os.WriteFile(filepath.Join(dir, "bizpipe.hcl"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in")
	var rnd [16]byte
	rand.Read(rnd[:])
	marker := "TOP-SECRET-" + hex.EncodeToString(rnd[:])
	secret := filepath.Join(dir, "secret.txt") // outside in/
	if err := os.WriteFile(secret, []byte(marker+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	decoyTime := time.Now().Add(-2 * time.Hour)
	for i := range swapDecoys {
		p := filepath.Join(in, fmt.Sprintf("d%04d.xml", i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("<decoy n=\"%d\"/>", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, decoyTime, decoyTime); err != nil {
			t.Fatal(err)
		}
	}
	writeSettled(t, filepath.Join(in, "a.xml"), []byte("<order/>")) // newer: taken last

	args := []string{"run", "--data-dir", filepath.Join(dir, "data"), dir}
	if once {
		args = []string{"run", "--once", "--data-dir", filepath.Join(dir, "data"), dir}
	}
	cmd := exec.Command(bizpipeBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var exitErr error
	exited := false
	wait := func(d time.Duration) bool {
		if !exited {
			select {
			case exitErr = <-waited:
				exited = true
			case <-time.After(d):
			}
		}
		return exited
	}
	defer func() {
		if !exited {
			cmd.Process.Kill()
			wait(time.Minute)
		}
	}()

	// The first claim of a decoy: the listing has been made.
	for {
		if _, err := os.Lstat(filepath.Join(in, "d0000.xml")); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if wait(time.Millisecond) {
			t.Fatalf("bizpipe exited before claiming anything: %v\n%s", exitErr, stderr.String())
		}
	}
	tmp := filepath.Join(in, ".swap")
	switch kind {
	case "symlink":
		err = os.Symlink(secret, tmp)
	case "fifo":
		err = unix.Mkfifo(tmp, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(in, "a.xml")); err != nil {
		t.Fatal(err)
	}
	left := countPrefix(t, in, "d")
	t.Logf("%d of %d decoys unclaimed after the swap", left, swapDecoys)
	if left <= swapDecoys/2 {
		return false
	}

	// The outcome. A hang shows as no exit; the bounds only detect it.
	if !once {
		waitUntil(t, "the decoys received", func() bool { return countPrefix(t, in, "d") == 0 && !hasClaim(t, in, "d") })
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	if !wait(60 * time.Second) {
		if once {
			t.Fatalf("run --once did not return (hung on the swapped-in %s)", kind)
		}
		t.Fatalf("run did not stop on SIGTERM (hung on the swapped-in %s)", kind)
	}
	if exitErr != nil {
		t.Fatalf("bizpipe: %v\n%s", exitErr, stderr.String())
	}

	// Nothing of the secret anywhere: not delivered, not in the box, not
	// in the log; the link or FIFO left as it was found, under its name.
	if n := countFiles(t, filepath.Join(dir, "out")); n != 0 {
		t.Errorf("%d file(s) delivered; the swapped-in a.xml must not be", n)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || p == secret {
			return err
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(marker)) {
			t.Errorf("the secret leaked into %s", p)
		}
		return nil
	})
	if strings.Contains(stdout.String()+stderr.String(), marker) {
		t.Error("the secret is in bizpipe's output")
	}
	fi, err := os.Lstat(filepath.Join(in, "a.xml"))
	want := map[string]fs.FileMode{"symlink": fs.ModeSymlink, "fifo": fs.ModeNamedPipe}[kind]
	if err != nil || fi.Mode().Type() != want {
		t.Errorf("in/a.xml: %v, %v; want the %s given back under its name", fi, err, kind)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != marker+"\n" {
		t.Errorf("the secret file was touched: %v", err)
	}
	if !strings.Contains(stderr.String(), "refused an input file") || !strings.Contains(stderr.String(), "file=a.xml") {
		t.Errorf("no log line says a.xml was refused:\n%s", lastLines(stderr.String(), 20))
	}
	if once && !strings.Contains(stdout.String(), fmt.Sprintf("received %d,", swapDecoys)) {
		t.Errorf("summary %q, want the %d decoys received", strings.TrimSpace(stdout.String()), swapDecoys)
	}
	return true
}

// countPrefix counts the entries of dir whose name starts with prefix.
func countPrefix(t *testing.T, dir, prefix string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if strings.HasPrefix(e.Name(), prefix) {
			n++
		}
	}
	return n
}

// hasClaim reports whether dir holds a claim of a file whose name starts
// with prefix.
func hasClaim(t *testing.T, dir, prefix string) bool {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		// .bizpipe-claim-<owner>-<random>-<name>; the owner here has no '-'.
		rest, ok := strings.CutPrefix(e.Name(), ".bizpipe-claim-")
		if parts := strings.SplitN(rest, "-", 3); ok && len(parts) == 3 && strings.HasPrefix(parts[2], prefix) {
			return true
		}
	}
	return false
}

// waitUntil polls cond until it holds; the bound only detects a hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestLeftoverClaimNotRegular: a symbolic link to a secret and a FIFO put
// under this server's claim names (as if it had claimed them before a
// crash) are refused by the recovery of `run --once`, which exits, stores
// and delivers nothing of them, and says so.
func TestLeftoverClaimNotRegular(t *testing.T) {
	dir, _ := crashSetup(t)
	in := filepath.Join(dir, "in")
	secret := filepath.Join(dir, "secret.txt")
	const marker = "TOP-SECRET-LEFTOVER"
	if err := os.WriteFile(secret, []byte(marker), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(in, ".bizpipe-claim-srv1-0123456789abcdef-a.edi")
	fifo := filepath.Join(in, ".bizpipe-claim-srv1-fedcba9876543210-b.edi")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	writeSettled(t, filepath.Join(in, "c.edi"), []byte("a real order"))
	cmd := exec.Command(bizpipeBin, "run", "--once", "--data-dir", filepath.Join(dir, "data"), dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("run --once: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second): // only detects a hang
		cmd.Process.Kill()
		<-waited
		t.Fatalf("run --once did not return:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "received 1, delivered 1,") {
		t.Errorf("summary: want only c.edi received and delivered:\n%s", lastLines(out.String(), 5))
	}
	for _, want := range []string{"file=a.edi claim=" + filepath.Base(link) + ` reason="not a regular file but a symbolic link"`,
		"file=b.edi claim=" + filepath.Base(fifo) + ` reason="not a regular file but a named pipe (FIFO)"`} {
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "refused a claimed file") {
			t.Errorf("no log line says %s:\n%s", want, out.String())
		}
	}
	if n := countFiles(t, filepath.Join(dir, "out")); n != 1 {
		t.Errorf("%d files delivered, want only c.edi's", n)
	}
	for _, p := range []string{link, fifo} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v; want it left where it is", filepath.Base(p), err)
		}
	}
	filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(marker)) {
				t.Errorf("the secret leaked into %s", p)
			}
		}
		return err
	})
}
