package lang

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestSyntaxErrorAtEndOfFile: an error HCL reports at the end of the file
// (an unterminated heredoc or string, a missing expression) is on the
// file's last line, at its end, not on the empty line after the final
// newline, which no editor shows and no snippet can quote.
func TestSyntaxErrorAtEndOfFile(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		line, col int // where the error is
	}{
		{"heredoc, LF", "locals {\n  a = <<EOT\nhello\n", 3, 6},
		{"heredoc, CRLF", "locals {\r\n  a = <<EOT\r\nhello\r\n", 3, 6},
		{"heredoc, no final newline", "locals {\n  a = <<EOT\nhello", 3, 6},
		{"missing expression", "locals {\n  a =\n", 2, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "main.hcl")
			writeTestFile(t, p, tt.src)
			_, diags := Load([]string{p}, Options{Mode: ModeValidate, LookupEnv: noEnv})
			if len(diags) == 0 {
				t.Fatal("no diagnostic")
			}
			lines := 1 + bytes.Count(bytes.TrimRight([]byte(tt.src), "\r\n"), []byte("\n"))
			for _, d := range diags {
				s := d.Subject
				if s == nil {
					continue
				}
				if s.Start.Line > lines || s.End.Line > lines || s.End.Byte > len(tt.src) {
					t.Errorf("%s: at %s, past the last line (%d)", d.Summary, s, lines)
				}
			}
			if s := diags[len(diags)-1].Subject; s == nil || s.Start.Line != tt.line || s.Start.Column != tt.col {
				t.Errorf("last diagnostic %q at %v, want line %d column %d", diags[len(diags)-1].Summary, diags[len(diags)-1].Subject, tt.line, tt.col)
			}
		})
	}
}
