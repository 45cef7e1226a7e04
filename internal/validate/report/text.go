package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"

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

// writeText renders each diagnostic with HCL's diagnostic text writer, the
// code in brackets at the start of the summary:
//
//	Error: [BP3001] Signing certificate not in personal store
//
//	  on hosts.hcl line 12, in host "send_host":
//	  12:   instance {
//
//	Detail, wrapped at the width.
//
// and ends with one summary line (see summaryLine).
func writeText(w io.Writer, r *result, opts Options) error {
	width := opts.Width
	switch {
	case width == 0:
		width = DefaultWidth
	case width < 0:
		width = 0 // HCL: no wrapping
	}
	// Nothing from outside reaches the terminal raw: rules escape the names
	// they quote (safetext.Field), and what is left is escaped here, but
	// for the newlines that separate paragraphs. A configuration file's
	// name is escaped too, with its source keyed by the escaped name.
	files := make(map[string]*hcl.File, len(r.files))
	for name, f := range r.files {
		files[safetext.Field(name)] = f
	}
	tw := hcl.NewDiagnosticTextWriter(w, files, uint(width), opts.Color)
	for _, d := range r.diags {
		c := *d
		c.Summary = safetext.Prose(textSummary(d))
		c.Detail = safetext.Prose(d.Detail)
		c.Subject = escapedRange(d.Subject)
		c.Context = escapedRange(d.Context)
		if err := tw.WriteDiagnostic(&c); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, summaryLine(r.errors, r.warnings, opts.Color)+"\n")
	return err
}

// escapedRange is a copy of rng naming its file by the escaped name.
func escapedRange(rng *hcl.Range) *hcl.Range {
	if rng == nil {
		return nil
	}
	c := *rng
	c.Filename = safetext.Field(c.Filename)
	return &c
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
//	2 errors, 1 warning.
//
// "Valid" means no errors, as JSON "valid" does; --strict only changes the
// exit status.
func summaryLine(errors, warnings int, color bool) string {
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
