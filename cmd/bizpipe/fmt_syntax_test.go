package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFmtSyntaxErrorsAsValidate: fmt reports a file it refuses as validate
// does: a file saved in UTF-16 is one error that says so, not one for each
// of its first characters; of a file of many errors (a binary named *.hcl)
// the first few and a count of the rest, not a line for each byte; an
// error at the end of the file on its last line, not on one past it. The
// file is not rewritten.
func TestFmtSyntaxErrorsAsValidate(t *testing.T) {
	utf16 := []byte{0xff, 0xfe}
	for _, r := range "server \"s\" {}\nserver \"t\" {}\nserver \"u\" {}\n" {
		utf16 = append(utf16, byte(r), 0)
	}
	for _, tt := range []struct {
		name     string
		src      []byte
		want     string // in stderr
		notWant  string // not in stderr
		maxLines int    // of stderr
	}{
		{"utf16", utf16, "utf16.hcl: File is not UTF-8", "Invalid character", 3},
		{"junk", bytes.Repeat([]byte("@"), 900), "more syntax errors", "", 14},
		{"eof", []byte("server \"s\" {\n  a = \"unterminated\n"), "eof.hcl:2,", "eof.hcl:2,20-3,1", 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.name+".hcl")
			if err := os.WriteFile(path, tt.src, 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if code := run([]string{"fmt", path}, &stdout, &stderr, noEnv); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			got := stderr.String()
			if !strings.Contains(got, tt.want) || tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Errorf("stderr does not say %q, or says %q:\n%.2000s", tt.want, tt.notWant, got)
			}
			if n := strings.Count(got, "\n"); n > tt.maxLines {
				t.Errorf("stderr has %d lines, want at most %d:\n%.2000s", n, tt.maxLines, got)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, tt.src) {
				t.Errorf("the file was rewritten: %q", b)
			}
		})
	}
}
