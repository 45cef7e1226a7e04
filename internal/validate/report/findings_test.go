package report

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// TestFindings checks each field of a finding, for a finding in a block,
// one in no block, one about a file as a whole, one about no file and an
// uncoded one; that they come in Write's order; and that the sensitive
// value is replaced in the texts and in the block's name.
func TestFindings(t *testing.T) {
	const secret = "SECRETLABEL42"
	src := []byte("pin = 1\n\nhost \"SECRETLABEL42\" {\n  instance {}\n}\n\nsend_port \"fabrikam\" {\n  host = host.x\n}\n")
	at := func(s string) *hcl.Range {
		i := strings.Index(string(src), s)
		r := hcl.Range{Filename: "conf/a.hcl", Start: pos(src, i), End: pos(src, i+len(s))}
		return &r
	}
	uncoded := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Uncoded", Subject: at("pin")}
	diags := hcl.Diagnostics{
		diag.New(hcl.DiagWarning, diag.CodeUnused, *at("host = host.x"), "Unused thing", "Detail naming "+secret+"."),
		diag.New(hcl.DiagError, diag.CodeSignCertMissing, *at("instance"), "In "+secret, "Detail."),
		diag.AboutFile(diag.CodeSyntax, "conf/b.hcl", "Cannot read", "conf/b.hcl: permission denied."),
		{Severity: hcl.DiagError, Summary: "No group", Detail: "", Extra: diag.Extra{Code: diag.CodeGroupCount}},
		uncoded,
	}
	want := []Finding{
		{Severity: "error", Code: string(diag.CodeGroupCount), Summary: "No group"},
		{Severity: "error", Code: "", Summary: "Uncoded", Filename: "conf/a.hcl", Line: 1, Column: 1},
		{Severity: "error", Code: string(diag.CodeSignCertMissing), Summary: "In " + redact.Shown, Detail: "Detail.",
			Filename: "conf/a.hcl", Line: 4, Column: 3, Object: `host "` + redact.Shown + `"`},
		{Severity: "warning", Code: string(diag.CodeUnused), Summary: "Unused thing", Detail: "Detail naming " + redact.Shown + ".",
			Filename: "conf/a.hcl", Line: 8, Column: 3, Object: `send_port "fabrikam"`},
		{Severity: "error", Code: string(diag.CodeSyntax), Summary: "Cannot read", Detail: "conf/b.hcl: permission denied.",
			Filename: "conf/b.hcl"},
	}
	before := diags[0].Summary
	got := Findings(diags, Options{
		Files:  map[string][]byte{"conf/a.hcl": src},
		Redact: redact.New(secret),
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Findings:\n got %+v\nwant %+v", got, want)
	}
	if diags[0].Summary != before {
		t.Error("Findings modified its input")
	}
}
