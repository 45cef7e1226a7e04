package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFmtDiffEscapesControls: fmt --diff, what a CI job prints for a
// pull request, shows the control characters of a file's lines escaped, as
// validate's snippets do: an escape sequence in a comment (one that sets
// the window title, writes the clipboard or hides a line) or a carriage
// return that rewrites the line is shown, not acted on. Tabs are kept, and
// so are the line endings of a file saved with Windows' CRLF.
func TestFmtDiffEscapesControls(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      []string // lines of the diff
	}{
		{"esc", "group \"g\" {\n\tsigning_certificate=\"x\" # \x1b]52;c;ZXZpbA==\x07\x1b[8m\n}\n", []string{
			"-\tsigning_certificate=\"x\" # \\x1b]52;c;ZXZpbA==\\a\\x1b[8m\n",
			"+  signing_certificate = \"x\" # \\x1b]52;c;ZXZpbA==\\a\\x1b[8m\n",
		}},
		{"cr", "group \"g\" {\n  signing_certificate=\"x\" # all formatted\rhidden\n}\n", []string{
			"-  signing_certificate=\"x\" # all formatted\\rhidden\n",
		}},
		{"crlf", "group \"g\" {\r\nsigning_certificate=\"x\"\r\n}\r\n", []string{
			"-signing_certificate=\"x\"\r\n",
			"+  signing_certificate = \"x\"\r\n",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.hcl")
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if code := run([]string{"fmt", "--check", "--diff", path}, &stdout, &stderr, noEnv); code != exitFmtCheck {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFmtCheck, &stderr)
			}
			out := stdout.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("the diff has no line %q:\n%q", w, out)
				}
			}
			if strings.ContainsAny(strings.ReplaceAll(out, "\r\n", "\n"), "\x1b\x07\r") {
				t.Errorf("the diff holds a raw control character:\n%q", out)
			}
		})
	}
}
