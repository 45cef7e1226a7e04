package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestContentTypeChecked checks that a receive location's content_type that
// is not a MIME content type is BP1004 with its range on the value, naming
// the location and the value (hidden when sensitive), and that valid ones,
// unknown ones and the default are not.
func TestContentTypeChecked(t *testing.T) {
	tests := []struct {
		name string
		// expr is the content_type expression; "" omits the attribute.
		expr string
		vars []string
		// wantDetail are substrings of the detail; nil: no diagnostic.
		wantDetail []string
		// hidden must not appear in the detail.
		hidden string
	}{
		{name: "header injection", expr: `"application xml\nX-Evil: 1"`,
			wantDetail: []string{`receive_location "in"`, `"application xml\nX-Evil: 1"`, "expected slash after first token"}},
		{name: "no subtype", expr: `"application"`,
			wantDetail: []string{`"application"`, "no subtype"}},
		{name: "parameter without value", expr: `"text/plain; charset"`,
			wantDetail: []string{`"text/plain; charset"`}},
		{name: "sensitive value", expr: `var.secret_ct`, vars: []string{"secret_ct=SECRET-TYPE"},
			wantDetail: []string{`receive_location "in"`, "(sensitive value)"}, hidden: "SECRET-TYPE"},
		{name: "valid with parameters", expr: `"text/plain; charset=utf-8"`},
		{name: "valid upper case", expr: `"Application/EDI-X12"`},
		{name: "unknown during validate", expr: `var.secret_ct`},
		{name: "default", expr: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attr := ""
			if tt.expr != "" {
				attr = "content_type = " + tt.expr
			}
			src := `group "g" {}
host "h" {}
variable "secret_ct" {
  type      = string
  sensitive = true
}
receive_location "in" {
  host = host.h
  ` + attr + `
  transport "file" { path = "in" }
}
`
			path := filepath.Join(t.TempDir(), "main.hcl")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, diags := Load([]string{path}, Options{LookupEnv: noEnv, Vars: tt.vars})
			var found int
			for _, d := range diags {
				found++
				if tt.wantDetail == nil {
					t.Errorf("unexpected diagnostic: %s", d.Error())
					continue
				}
				if diag.CodeOf(d) != diag.CodeInvalidValue {
					t.Errorf("code %s, want BP1004: %s", diag.CodeOf(d), d.Error())
				}
				if got := string(d.Subject.SliceBytes([]byte(src))); got != tt.expr {
					t.Errorf("range covers %q, want the value %q", got, tt.expr)
				}
				for _, w := range tt.wantDetail {
					if !strings.Contains(d.Detail, w) {
						t.Errorf("detail %q does not contain %q", d.Detail, w)
					}
				}
				if tt.hidden != "" && strings.Contains(d.Summary+d.Detail, tt.hidden) {
					t.Errorf("diagnostic shows the sensitive value: %s", d.Error())
				}
			}
			if tt.wantDetail != nil && found != 1 {
				t.Errorf("%d diagnostics, want 1:\n%s", found, diags.Error())
			}
		})
	}
}
