package filelock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSecondAcquireFails: a held lock refuses every other holder, whatever
// path reaches the file, and names the holder's process; once released it
// can be taken again.
func TestSecondAcquireFails(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(real, "x.lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{
		path,
		filepath.Join(dir, "link", "x.lock"),
		filepath.Join(dir, "link", "..", "real", "x.lock"),
	} {
		_, err := Acquire(other)
		var held *HeldError
		if !errors.Is(err, ErrHeld) || !errors.As(err, &held) || held.PID != os.Getpid() || held.Path != other {
			t.Errorf("Acquire(%s) while held: %v, want a HeldError naming pid %d", other, err, os.Getpid())
		}
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	l2, err := Acquire(filepath.Join(dir, "link", "x.lock"))
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

func TestAcquireReportsOtherErrors(t *testing.T) {
	_, err := Acquire(filepath.Join(t.TempDir(), "missing", "x.lock"))
	if err == nil || errors.Is(err, ErrHeld) {
		t.Errorf("Acquire in a missing directory: %v, want an error that is not ErrHeld", err)
	}
}
