package lang

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestNullFilterOrTemplate: a filter or template that is null whatever the
// message would fail every message at run time ("did not produce true or
// false", "produced no value"), so validate refuses it (BP1005) naming the
// port and the attribute. One that is null only for some messages depends
// on the message, unknown during validate: it is left to run time.
func TestNullFilterOrTemplate(t *testing.T) {
	const decls = `
locals {
  nothing = null
}
variable "maybe" {
  type    = bool
  default = null
}
variable "name" {
  type    = string
  default = null
}
`
	tests := []struct {
		name     string
		filter   string // the send port's filter
		file     string // its file transport's file_name
		want     string // the summary of the one BP1005, "" for none
		inDetail string
	}{
		{name: "null filter", filter: `null`, want: "Filter is null", inDetail: `filter of send_port "out"`},
		{name: "filter from a null local", filter: `local.nothing`, want: "Filter is null", inDetail: `filter of send_port "out"`},
		{name: "filter from a null variable", filter: `var.maybe`, want: "Filter is null", inDetail: `filter of send_port "out"`},
		{name: "filter null for a known condition", filter: `true ? null : message.properties.partner == "x"`, want: "Filter is null", inDetail: `filter of send_port "out"`},
		{name: "filter null for some messages", filter: `message.properties.partner == "x" ? null : true`},
		{name: "null template", file: `null`, want: "Template is null", inDetail: `file_name template of transport "file" of send_port "out"`},
		{name: "template from a null variable", file: `var.name`, want: "Template is null", inDetail: `file_name template of transport "file" of send_port "out"`},
		{name: "template null for some messages", file: `message.properties.partner == "x" ? null : "a.txt"`},
		{name: "neither", filter: `message.properties.partner == "fabrikam"`, file: `"${message.id}.txt"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filter, file := tt.filter, tt.file
			if filter == "" {
				filter = `message.properties.partner == "fabrikam"`
			}
			if file == "" {
				file = `"${message.id}.txt"`
			}
			src := strings.Replace(templateConfig, `filter = message.properties.partner == "fabrikam"`, "filter = "+filter, 1)
			src = strings.Replace(src, `transport "file" { path = "out" }`, "transport \"file\" {\n    path = \"out\"\n    file_name = "+file+"\n  }", 1)
			p := filepath.Join(t.TempDir(), "main.hcl")
			writeTestFile(t, p, src+decls)
			for _, mode := range []Mode{ModeValidate, ModeRun} {
				_, diags := Load([]string{p}, Options{Mode: mode, Vars: []string{"token=s3cr3t"}, LookupEnv: noEnv})
				var found []string
				for _, d := range diags {
					if diag.CodeOf(d) != diag.CodeFilter {
						continue
					}
					found = append(found, d.Summary)
					if tt.want != "" && !strings.Contains(d.Detail, tt.inDetail) {
						t.Errorf("mode %v: %q does not name %q", mode, d.Detail, tt.inDetail)
					}
				}
				switch {
				case tt.want == "" && len(found) > 0:
					t.Errorf("mode %v: BP1005 %q, want none", mode, found)
				case tt.want != "" && (len(found) != 1 || found[0] != tt.want):
					t.Errorf("mode %v: BP1005 %q, want one %q; all diagnostics: %s", mode, found, tt.want, diags.Error())
				}
			}
		})
	}
}
