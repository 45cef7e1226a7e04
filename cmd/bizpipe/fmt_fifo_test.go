package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
)

// TestFmtRefusesFIFO: a FIFO named *.hcl in a configuration directory is
// reported, naming it, and the other files are still formatted; fmt never
// waits on it for a writer that does not come.
func TestFmtRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "a.hcl")
	if err := os.WriteFile(good, []byte("group \"g\" {\n  signing_certificate   =   \"x\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testfs.MakeFIFO(t, filepath.Join(dir, "b.hcl"))
	var stdout, stderr bytes.Buffer
	code := testfs.Within(t, "fmt", func() int { return run([]string{"fmt", dir}, &stdout, &stderr, noEnv) })
	if code == 0 || !strings.Contains(stderr.String(), "b.hcl") || !strings.Contains(stderr.String(), "FIFO") {
		t.Errorf("exit %d, stderr %q; want an error naming b.hcl as a FIFO", code, stderr.String())
	}
	if got, _ := os.ReadFile(good); !strings.Contains(string(got), "signing_certificate = \"x\"") {
		t.Errorf("a.hcl not formatted:\n%s", got)
	}
}

// TestFmtNamedStream: a FIFO named directly with another name than a
// configuration file's (a shell's <(...)) is read as validate reads it:
// --check says whether it is formatted; without --check, there is no file
// to rewrite, and fmt says so (exit 2) instead of failing on a rename.
func TestFmtNamedStream(t *testing.T) {
	fifo := testfs.MakeFIFO(t, filepath.Join(t.TempDir(), "config.stream"))
	for _, tt := range []struct {
		args []string
		code int
		in   string // expected in stderr
	}{
		{[]string{"fmt", "--check", fifo}, exitFmtCheck, ""},
		{[]string{"fmt", fifo}, exitUsage, "is not a regular file and cannot be rewritten"},
	} {
		// The writer opens the FIFO when fmt opens it to read.
		go func() {
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer w.Close()
			_, _ = w.WriteString("group \"g\" {\nsigning_certificate=\"x\"\n}\n")
		}()
		var stdout, stderr bytes.Buffer
		code := testfs.Within(t, "fmt", func() int { return run(tt.args, &stdout, &stderr, noEnv) })
		if code != tt.code || !strings.Contains(stderr.String(), tt.in) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.in)
		}
	}
}
