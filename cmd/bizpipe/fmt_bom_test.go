package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
)

// TestFmtKeepsBOM: a file that begins with a UTF-8 byte order mark (as
// Notepad saves) is formatted and keeps its mark; once formatted, --check
// has nothing to say about it.
func TestFmtKeepsBOM(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	path := filepath.Join(t.TempDir(), "a.hcl")
	if err := os.WriteFile(path, []byte(bom+"group \"g\" {\n  signing_certificate   =   \"x\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := testfs.Within(t, "fmt", func() int { return run([]string{"fmt", path}, &stdout, &stderr, noEnv) }); code != 0 {
		t.Fatalf("fmt: exit %d, stderr %q", code, stderr.String())
	}
	want := bom + "group \"g\" {\n  signing_certificate = \"x\"\n}\n"
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Errorf("formatted file = %q, want %q", got, want)
	}
	stdout.Reset()
	if code := testfs.Within(t, "fmt", func() int { return run([]string{"fmt", "--check", path}, &stdout, &stderr, noEnv) }); code != 0 || stdout.Len() != 0 {
		t.Errorf("fmt --check of the formatted file: exit %d, stdout %q; want 0 and nothing", code, stdout.String())
	}
}
