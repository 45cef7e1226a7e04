//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFmtTempFileNotFollowed: fmt replaces a file through a temporary file
// in its directory, and whoever can write to that directory may have put a
// symbolic link where the temporary file goes (the name fmt used was always
// the same). fmt, run with sudo, must not write, chmod or chown the file the
// link points to, nor replace the configuration by the link; the file is
// formatted and no temporary file is left.
func TestFmtTempFileNotFollowed(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "a.hcl")
	if err := os.WriteFile(name, []byte("group \"g\" {\n  signing_certificate   =   \"x\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	planted := name + ".bizpipe-fmt.tmp"
	if err := os.Symlink(victim, planted); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"fmt", dir}, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, &stderr)
	}
	if got, _ := os.ReadFile(victim); string(got) != "precious\n" {
		t.Errorf("the file the planted link points to was written: %q", got)
	}
	if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the file the planted link points to: mode %v (err %v), want -rw-------", fi.Mode().Perm(), err)
	}
	if fi, err := os.Lstat(name); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("a.hcl is no longer a regular file (err %v)", err)
	}
	if got, _ := os.ReadFile(name); !strings.Contains(string(got), "signing_certificate = \"x\"") {
		t.Errorf("a.hcl not formatted:\n%s", got)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := filepath.Join(dir, e.Name()); n != name && n != planted {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
