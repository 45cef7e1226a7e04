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
