package lang

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
)

// TestVarFileBesideFIFO: judging whether a var-file's directory is a
// configuration never waits on a FIFO named *.hcl there (it is not a
// configuration file that declares anything), and still sees the file
// that declares a block.
func TestVarFileBesideFIFO(t *testing.T) {
	dir := t.TempDir()
	vars := filepath.Join(dir, "vars.hcl")
	if err := os.WriteFile(vars, []byte("pin = \"1234\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testfs.MakeFIFO(t, filepath.Join(dir, "pipe.hcl"))
	judge := func() bool {
		t.Helper()
		return testfs.Within(t, "VarFileInConfigurationDir", func() bool { return VarFileInConfigurationDir(vars, []string{vars}) })
	}
	if judge() {
		t.Error("a directory of a var-file and a FIFO counts as a configuration")
	}
	if err := os.WriteFile(filepath.Join(dir, "a.hcl"), []byte("group \"g\" {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !judge() {
		t.Error("a directory with a group block does not count as a configuration")
	}
}
