//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
)

// TestFmtEscapesHostileFileNames: fmt names the files it formats, lists
// with --check, diffs and refuses, and a file name, which whoever can
// write to the configuration directory chooses, may hold escape sequences
// and newlines. Every name is printed escaped, as validate prints it, so
// that it can neither drive the terminal nor forge a line of the list.
func TestFmtEscapesHostileFileNames(t *testing.T) {
	// Each exits 2: the broken file cannot be formatted.
	tests := []struct {
		name string
		args []string
	}{
		{"check", []string{"fmt", "--check"}},
		{"check diff", []string{"fmt", "--check", "--diff"}},
		{"rewrite", []string{"fmt"}},
		{"rewrite diff", []string{"fmt", "--diff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, src := range map[string]string{
				"evil\x1b]0;pwned\a\x1b[2J\nforged.hcl": "group \"g\" {\n  signing_certificate   =   \"x\"\n}\n",
				"broken\x1b[31m.hcl":                    "group \"g\" {\n  signing_certificate = \n}\n",
			} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			code := testfs.Within(t, "fmt", func() int { return run(append(tt.args, dir), &stdout, &stderr, noEnv) })
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, &stderr)
			}
			terminalSafe(t, "stdout", stdout.Bytes())
			terminalSafe(t, "stderr", stderr.Bytes())
			if !strings.Contains(stdout.String(), `evil\x1b]0;pwned\a\x1b[2J\nforged.hcl`) {
				t.Errorf("stdout does not name the file, escaped:\n%s", &stdout)
			}
			if !strings.Contains(stderr.String(), `broken\x1b[31m.hcl`) {
				t.Errorf("stderr does not name the broken file, escaped:\n%s", &stderr)
			}
		})
	}
}

// TestFmtKeepsOwner: fmt replaces a file through a temporary file and a
// rename, and the file it leaves keeps the owner and group of the one it
// replaced, as it keeps its mode. A configuration readable by a service
// account's group only (0640), formatted with sudo, would otherwise belong
// to root, and the service could no longer read it.
func TestFmtKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root, to give the file another owner: run it as root, as .ci/run does")
	}
	dir := t.TempDir()
	name := filepath.Join(dir, "main.hcl")
	if err := os.WriteFile(name, []byte("group \"g\" {\n  signing_certificate   =   \"x\"\n}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	const uid, gid = 65534, 65533
	if err := os.Chown(name, uid, gid); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"fmt", dir}, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, &stderr)
	}
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid || fi.Mode().Perm() != 0o640 {
		t.Errorf("after fmt: owner %d:%d, mode %v; want %d:%d, -rw-r-----", st.Uid, st.Gid, fi.Mode().Perm(), uid, gid)
	}
	if got, _ := os.ReadFile(name); !strings.Contains(string(got), "signing_certificate = \"x\"") {
		t.Errorf("not formatted:\n%s", got)
	}
}
