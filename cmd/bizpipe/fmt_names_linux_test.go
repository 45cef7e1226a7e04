//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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
