package file

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// oldTime is a modification time well past any settle time used in tests.
func oldTime() time.Time { return time.Now().Add(-time.Hour) }

// writeFile writes a file and backdates it so that it counts as settled.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, oldTime(), oldTime()); err != nil {
		t.Fatal(err)
	}
	return p
}

// names lists a directory's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range es {
		ns = append(ns, e.Name())
	}
	return ns
}

// openSeen lists the input at path (its Lstat, as a listing sees it) and
// opens it as the poller does.
func openSeen(t *testing.T, path string) (inputFile, fs.FileInfo) {
	t.Helper()
	seen, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := openNoFollow(path)
	if err != nil {
		t.Fatal(err)
	}
	return f, seen
}
