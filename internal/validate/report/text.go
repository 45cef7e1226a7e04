package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
	wordwrap "github.com/mitchellh/go-wordwrap"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

// ANSI sequences for the text format's final line. HCL's writer colours the
// severity word itself (red errors, yellow warnings).
const (
	ansiReset     = "\x1b[0m"
	ansiGreen     = "\x1b[32m"
	ansiBoldRed   = "\x1b[1;31m"
	ansiBoldGreen = "\x1b[1;32m"
)

// writeText renders each diagnostic as HCL's diagnostic text writer does,
// the code in brackets at the start of the summary:
//
//	Error: [BP3001] Signing certificate not in personal store
//
//	  on hosts.hcl line 12, in host "send_host":
//	  12:   instance {
//
//	Detail, wrapped at the width.
//
// and ends with one summary line (see summaryLine). HCL's writer itself is
// not used: it scans the whole file for every diagnostic and prints lines
// whole (see snippetLines).
func writeText(w io.Writer, r *result, opts Options) error {
	width := opts.Width
	switch {
	case width == 0:
		width = DefaultWidth
	case width < 0:
		width = 0 // HCL: no wrapping
	}
	for _, d := range r.diags {
		if err := writeTextDiagnostic(w, d, r, uint(width), opts.Color); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, summaryLine(r.errors, r.warnings, opts.Strict, opts.Color)+"\n")
	return err
}

// writeTextDiagnostic writes one diagnostic. Nothing from outside reaches
// the terminal raw: rules escape the names they quote (safetext.Field), and
// what is left is escaped here, but for the newlines that separate
// paragraphs; a configuration file's name is escaped too, and so are the
// control characters of source lines but their tabs (safetext.Source):
// a configuration from a pull request must not drive the terminal of
// whoever validates it.
func writeTextDiagnostic(w io.Writer, d *hcl.Diagnostic, r *result, width uint, color bool) error {
	var colorCode, highlightCode, resetCode string
	if color {
		switch d.Severity {
		case hcl.DiagError:
			colorCode = "\x1b[31m"
		case hcl.DiagWarning:
			colorCode = "\x1b[33m"
		}
		highlightCode, resetCode = "\x1b[1;4m", "\x1b[0m"
	}
	severity := "Error"
	if d.Severity == hcl.DiagWarning {
		severity = "Warning"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s%s: %s\n\n", colorCode, severity, resetCode, safetext.Prose(textSummary(d)))
	if s := d.Subject; s != nil {
		name := safetext.Field(s.Filename)
		f := r.files[s.Filename]
		if f == nil || f.Bytes == nil {
			fmt.Fprintf(&b, "  on %s line %d:\n  (source code not available)\n\n", name, s.Start.Line)
		} else {
			ctx := contextString(f, s.Start.Byte, r.redact)
			if ctx != "" {
				ctx = ", in " + ctx
			}
			fmt.Fprintf(&b, "  on %s line %d%s:\n", name, s.Start.Line, ctx)
			snip, highlight := snippetRanges(d)
			for _, l := range snippetLines(r.lines(s.Filename), snip, highlight, r.redact) {
				if l.highlighted {
					fmt.Fprintf(&b, "%4d: %s%s%s%s%s\n", l.number, safetext.Source(l.before), highlightCode,
						safetext.Source(l.highlight), resetCode, safetext.Source(l.after))
				} else {
					fmt.Fprintf(&b, "%4d: %s\n", l.number, safetext.Source(l.before))
				}
			}
			b.WriteByte('\n')
		}
	}
	if detail := safetext.Prose(d.Detail); detail != "" {
		if width != 0 {
			detail = wordwrap.WrapString(detail, width)
		}
		fmt.Fprintf(&b, "%s\n\n", detail)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// snippetRanges returns the range of a diagnostic's snippet (its subject
// and context) and the range it highlights (its subject), an empty one
// widened to a byte, as HCL's writer does.
func snippetRanges(d *hcl.Diagnostic) (snip, highlight hcl.Range) {
	snip, highlight = *d.Subject, *d.Subject
	if d.Context != nil {
		snip = hcl.RangeOver(snip, *d.Context)
	}
	if snip.Empty() {
		snip.End.Byte++
		snip.End.Column++
	}
	if highlight.Empty() {
		highlight.End.Byte++
		highlight.End.Column++
	}
	return snip, highlight
}

// textSummary is the summary line of d in the text format: "[BP3001] ..."
// (no brackets when d has no code).
func textSummary(d *hcl.Diagnostic) string {
	if code := diag.CodeOf(d); code != "" {
		return "[" + string(code) + "] " + d.Summary
	}
	return d.Summary
}

// summaryLine is the last line of the text format:
//
//	Success! The configuration is valid.
//	Success! The configuration is valid, with 1 warning.
//	The configuration is valid, but --strict fails on 1 warning.
//	2 errors, 1 warning.
//
// "Valid" means no errors, as JSON "valid" does; with strict (--strict),
// warnings fail the command, so the line does not say "Success!" over
// exit status 1.
func summaryLine(errors, warnings int, strict, color bool) string {
	if errors == 0 && warnings > 0 && strict {
		line := fmt.Sprintf("The configuration is valid, but --strict fails on %s.", plural(warnings, "warning"))
		if color {
			return ansiBoldRed + line + ansiReset
		}
		return line
	}
	if errors == 0 {
		rest := "The configuration is valid."
		if warnings > 0 {
			rest = fmt.Sprintf("The configuration is valid, with %s.", plural(warnings, "warning"))
		}
		if color {
			return ansiBoldGreen + "Success!" + ansiReset + " " + ansiGreen + rest + ansiReset
		}
		return "Success! " + rest
	}
	parts := []string{plural(errors, "error")}
	if warnings > 0 {
		parts = append(parts, plural(warnings, "warning"))
	}
	line := strings.Join(parts, ", ") + "."
	if color {
		return ansiBoldRed + line + ansiReset
	}
	return line
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
