package report

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/redact"
)

// TestSnippetsRedacted checks that a sensitive value written in a file
// never reaches any format through a source snippet: highlighted or not,
// cut by the highlight's edge, in a line long enough to be clipped, written
// with HCL escapes, or one line of a heredoc; and that summaries and
// details are redacted by the report too.
func TestSnippetsRedacted(t *testing.T) {
	const secret = "SECRETFILEPIN"
	long := strings.Repeat("x", 300)
	tests := []struct {
		name   string
		src    string
		secret string // the value as the variable holds it
		// from and to are what the subject's range starts and ends with
		// (the first match in src).
		from, to string
	}{
		{name: "var-file line, name highlighted", src: `pin = "SECRETFILEPIN"` + "\n", secret: secret, from: "pin", to: "pin"},
		{name: "value highlighted", src: `pin = "SECRETFILEPIN"` + "\n", secret: secret, from: `"SECRET`, to: `PIN"`},
		{name: "highlight ends inside the value", src: `pin = "SECRETFILEPIN"` + "\n", secret: secret, from: "pin", to: "SECRET"},
		{name: "highlight starts inside the value", src: `pin = "SECRETFILEPIN"` + "\n", secret: secret, from: "FILEPIN", to: `"`},
		{name: "lower case", src: `pin = "secretfilepin"` + "\n", secret: secret, from: "pin", to: "pin"},
		{name: "long line clipped", src: `pin = "` + long[:230] + `SECRETFILEPIN` + long + `"` + "\n", secret: secret, from: "pin", to: "pin"},
		{name: "long line, value at the clip", src: `pin = "` + long[:60] + `"` + ` # ` + long[:150] + `SECRETFILEPIN` + long + "\n", secret: secret, from: "pin", to: "pin"},
		{name: "HCL escapes", src: `pin = "SECRET\"FILE\\PIN"` + "\n", secret: `SECRET"FILE\PIN`, from: "pin", to: "pin"},
		{name: "heredoc line", src: "pin = <<EOT\nSECRET\nFILEPIN\nEOT\n", secret: "SECRET\nFILEPIN", from: "pin", to: "EOT\n"},
		// The block's label is shown as its context ("in pipeline ..."),
		// not as a snippet line.
		{name: "block label", src: "pipeline \"SECRETFILEPIN\" {\n  pin = 1\n}\n", secret: secret, from: "pin", to: "pin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(tt.src)
			start := strings.Index(tt.src, tt.from)
			end := strings.Index(tt.src[start+1:], tt.to) + start + 1 + len(tt.to)
			if tt.from == tt.to {
				end = start + len(tt.from)
			}
			rng := hcl.Range{Filename: "vars.hcl", Start: pos(src, start), End: pos(src, end)}
			d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument " + tt.secret,
				Detail: "An argument named \"pin\" is not expected here: " + tt.secret, Subject: &rng}
			red := redact.New(redact.Long(redact.SourceForms([]string{tt.secret}))...)
			forms := []string{}
			for _, f := range redact.SourceForms([]string{tt.secret}) {
				if len(f) >= redact.MinLen {
					forms = append(forms, strings.ToLower(f))
				}
			}
			for _, f := range Formats() {
				out := string(render(t, f, hcl.Diagnostics{d}, Options{Files: map[string][]byte{"vars.hcl": src}, Redact: red}))
				// A value cut in two halves shows neither: look for
				// a piece of it too.
				for _, form := range append(forms, "secretf", "lepin") {
					if strings.Contains(strings.ToLower(out), form) {
						t.Errorf("%s shows %q:\n%s", f, form, out)
					}
				}
				if f == FormatText && !strings.Contains(out, redact.Shown) {
					t.Errorf("%s: no %s in\n%s", f, redact.Shown, out)
				}
				if f == FormatJSON {
					checkJSONHighlight(t, out)
				}
			}
			findings := fmt.Sprintf("%+v", Findings(hcl.Diagnostics{d}, Options{Files: map[string][]byte{"vars.hcl": src}, Redact: red}))
			for _, form := range append(forms, "secretf", "lepin") {
				if strings.Contains(strings.ToLower(findings), form) {
					t.Errorf("Findings show %q: %s", form, findings)
				}
			}
		})
	}
}

// checkJSONHighlight checks that the snippet's highlight offsets lie in its
// code, as consumers that slice code with them need.
func checkJSONHighlight(t *testing.T, out string) {
	t.Helper()
	var doc JSONDocument
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, d := range doc.Diagnostics {
		s := d.Snippet
		if s == nil {
			t.Fatal("no snippet")
		}
		if s.HighlightStartOffset < 0 || s.HighlightStartOffset > s.HighlightEndOffset || s.HighlightEndOffset > len(s.Code) {
			t.Errorf("highlight %d-%d outside code %q", s.HighlightStartOffset, s.HighlightEndOffset, s.Code)
		}
	}
}

// pos is the position of byte offset i in src.
func pos(src []byte, i int) hcl.Pos {
	p := hcl.InitialPos
	for _, c := range src[:i] {
		p.Byte++
		if c == '\n' {
			p.Line++
			p.Column = 1
		} else {
			p.Column++
		}
	}
	return p
}
