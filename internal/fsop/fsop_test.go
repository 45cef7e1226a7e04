package fsop

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
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

// TestOpenFile: it creates with O_EXCL (refusing a name taken, as the
// transports rely on), applies the mode through the umask, writes, syncs,
// and opens a directory to sync it; errors name the path.
func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	f, err := OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("payload"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, p); got != "payload" {
		t.Errorf("file holds %q, want payload", got)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	_, err = OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrExist) || pe.Path != p {
		t.Errorf("O_EXCL over an existing file = %v, want an *fs.PathError naming it and wrapping fs.ErrExist", err)
	}
	d, err := OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Errorf("syncing the directory: %v", err)
	}
}

// TestCreateUnlinked: the file works but has no name in its directory
// (where the system allows an open file to be removed: not Windows), and
// Close leaves nothing.
func TestCreateUnlinked(t *testing.T) {
	dir := t.TempDir()
	u, err := CreateUnlinked(dir, "spool-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.WriteString("payload"); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); runtime.GOOS != "windows" && (len(entries) != 0 || u.name != "") {
		t.Errorf("%d names in the directory (left to Close: %q), want the file unlinked at once", len(entries), u.name)
	}
	b := make([]byte, 7)
	if _, err := u.ReadAt(b, 0); err != nil || string(b) != "payload" {
		t.Errorf("read back %q, %v", b, err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d names left after Close", len(entries))
	}
	if _, err := CreateUnlinked(filepath.Join(dir, "missing"), "x-*"); err == nil {
		t.Error("created a spool file in a missing directory")
	}
}

// TestTypeName: each special type has its name, a character device not
// taken for a block device (it has both bits).
func TestTypeName(t *testing.T) {
	for m, want := range map[fs.FileMode]string{
		fs.ModeSymlink:                    "symbolic link",
		fs.ModeNamedPipe:                  "named pipe (FIFO)",
		fs.ModeDir | 0o755:                "directory",
		fs.ModeSocket:                     "socket",
		fs.ModeDevice | fs.ModeCharDevice: "character device",
		fs.ModeDevice:                     "block device",
		fs.ModeIrregular:                  "special file",
	} {
		if got := TypeName(m); got != want {
			t.Errorf("TypeName(%v) = %q, want %q", m, got, want)
		}
	}
}
