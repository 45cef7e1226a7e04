//go:build unix

package lsp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
)

// TestUnreadableConfigEntries: a dangling symbolic link and a FIFO named
// *.hcl in the directory of an open file are BP1000 naming them, shown at
// the top of the open file (as validate reports them), and the server
// neither waits on the FIFO nor validates the rest as if complete. Once the
// link's target exists and the FIFO is gone, the findings go.
func TestUnreadableConfigEntries(t *testing.T) {
	dir, text := quickstart(t)
	target := filepath.Join(t.TempDir(), "mounted.hcl")
	if err := os.Symlink(target, filepath.Join(dir, "mounted.hcl")); err != nil {
		t.Fatal(err)
	}
	fifo := testfs.MakeFIFO(t, filepath.Join(dir, "pipe.hcl"))
	c := start(t)
	c.initialize()
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	c.open(uri, text)
	says := func(ds []diagnostic, sub string) bool {
		for _, d := range ds {
			if d.Code == "BP1000" && strings.Contains(d.Message, sub) {
				return true
			}
		}
		return false
	}
	c.diagnosticsFor(uri, func(ds []diagnostic) bool {
		return says(ds, "mounted.hcl: a dangling symbolic link") && says(ds, "pipe.hcl: a named pipe (FIFO)")
	})
	if err := os.WriteFile(target, []byte("# mounted again\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(fifo); err != nil {
		t.Fatal(err)
	}
	c.change(uri, 2, text) // re-validates the directory
	c.diagnosticsFor(uri, func(ds []diagnostic) bool { return !says(ds, "mounted.hcl") && !says(ds, "pipe.hcl") })
	c.shutdown()
}
