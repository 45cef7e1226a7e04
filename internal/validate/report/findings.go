package report

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// Finding is one diagnostic as a log record carries it (`bizpipe run
// --log-format json` logs each finding as a record): the fields of a
// JSONDiagnostic but for its snippet, which is left out so that a record
// stays one short line, and the block the finding is in.
type Finding struct {
	Severity string // "error" or "warning"
	Code     string // "" for a diagnostic that carries none
	Summary  string
	Detail   string
	// Filename is the file the finding is about (diag.FileOf): its
	// range's, or the file as a whole; "" when it is about no file.
	Filename string
	// Line and Column are where the range starts (column in characters,
	// from 1); 0 when the finding has no range.
	Line, Column int
	// Object is the top-level block the range is in, such as
	// `host "send_host"` (the JSON snippet's context); "" when none.
	Object string
}

// Findings returns diags in the order Write renders them, with sensitive
// values replaced as Write replaces them (opts.Redact), also in Object, a
// piece of the file as written. opts.Files and opts.Parsed give the blocks
// for Object; the other options are not used. diags is not modified.
func Findings(diags hcl.Diagnostics, opts Options) []Finding {
	r := newResult(diags, opts)
	out := make([]Finding, 0, len(r.diags))
	for _, d := range r.diags {
		f := Finding{
			Severity: severityString(d.Severity),
			Code:     string(diag.CodeOf(d)),
			Summary:  d.Summary,
			Detail:   d.Detail,
			Filename: diag.FileOf(d),
		}
		if s := d.Subject; s != nil {
			f.Line, f.Column = s.Start.Line, s.Start.Column
			f.Object = contextString(r.files[s.Filename], s.Start.Byte, r.redact)
		}
		out = append(out, f)
	}
	return out
}
