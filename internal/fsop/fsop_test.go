package fsop

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestRename(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, "new")
	write(t, b, "old")
	if err := Rename(a, b); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b); got != "new" {
		t.Errorf("b = %q after Rename, want the renamed file's content %q", got, "new")
	}
	if _, err := os.Lstat(a); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a still there after Rename: %v", err)
	}
	err := Rename(a, b)
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(err, fs.ErrNotExist) || le.Old != a || le.New != b {
		t.Errorf("Rename of a missing file = %v, want an *os.LinkError naming both paths and wrapping fs.ErrNotExist", err)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	write(t, f, "x")
	if err := Remove(f); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(f); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still there after Remove: %v", err)
	}
	err := Remove(f)
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) || pe.Path != f {
		t.Errorf("Remove of a missing file = %v, want an *fs.PathError naming it and wrapping fs.ErrNotExist", err)
	}
	if err := RemoveIfExists(f); err != nil {
		t.Errorf("RemoveIfExists of a missing file = %v, want nil", err)
	}
	// Unlike os.Remove, never a directory: the transports remove files only.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := RemoveIfExists(sub); err == nil {
		t.Error("RemoveIfExists removed a directory")
	}
	if _, err := os.Stat(sub); err != nil {
		t.Errorf("directory gone: %v", err)
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
