package report

import (
	"io"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

// writeGitHub renders one GitHub Actions workflow command per diagnostic
// (language §13), which the runner turns into an annotation on the file and
// line, then the text format's summary line:
//
//		::error file=conf/hosts.hcl,line=12,endLine=15,title=BP3001 Signing certificate not in personal store::Send port "fabrikam" signs ...
//		::warning file=conf/pipelines.hcl,line=4,endLine=4,col=3,endColumn=20,title=BP5001 Weak digest algorithm::Pipeline ...
//		2 errors, 1 warning.
//
//	  - Columns (col, endColumn) are given only for a range on one line:
//	    GitHub rejects them when line and endLine differ. endColumn is
//	    exclusive, as in the JSON and SARIF reports.
//	  - A diagnostic about a file but no position in it (a file that
//	    cannot be read) names the file without a line. One about no file
//	    (no group block) has no file: GitHub shows it on the run.
//	  - The message is the detail, or the summary when there is none.
//	  - Escaping is the Actions toolkit's (escapeData, escapeProperty), so
//	    a newline cannot end the command and start another. Summary and
//	    detail first go through safetext.Prose, as in the text format, so
//	    that no other control character reaches the log.
func writeGitHub(w io.Writer, r *result, opts Options) error {
	var b strings.Builder
	for _, d := range r.diags {
		b.WriteString(gitHubCommand(d))
		b.WriteByte('\n')
	}
	b.WriteString(summaryLine(r.errors, r.warnings, opts.Strict, false))
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// gitHubCommand is the workflow command of one normalised diagnostic,
// without the final newline.
func gitHubCommand(d *hcl.Diagnostic) string {
	var props []string
	prop := func(k, v string) { props = append(props, k+"="+escapeProperty(v)) }
	if s := d.Subject; s != nil {
		// A file name is exact, so that GitHub finds the file, unless it
		// holds a control character: no such file is in a repository.
		prop("file", safetext.Prose(s.Filename))
		prop("line", strconv.Itoa(s.Start.Line))
		prop("endLine", strconv.Itoa(s.End.Line))
		if s.Start.Line == s.End.Line {
			prop("col", strconv.Itoa(s.Start.Column))
			prop("endColumn", strconv.Itoa(s.End.Column))
		}
	} else if f := diag.FileOf(d); f != "" {
		// About a file as a whole (it cannot be read): the file, no line.
		prop("file", safetext.Prose(f))
	}
	title := d.Summary
	if code := diag.CodeOf(d); code != "" {
		title = string(code) + " " + title
	}
	prop("title", safetext.Prose(title))
	msg := d.Detail
	if msg == "" {
		msg = d.Summary
	}
	return "::" + severityString(d.Severity) + " " + strings.Join(props, ",") + "::" + escapeData(safetext.Prose(msg))
}

// escapeData escapes the message of a workflow command as the Actions
// toolkit's escapeData does (packages/core/src/command.ts).
func escapeData(s string) string {
	return dataEscaper.Replace(s)
}

// escapeProperty escapes a property value of a workflow command as the
// Actions toolkit's escapeProperty does: also ":" and ",", which would end
// the properties or the value.
func escapeProperty(s string) string {
	return propertyEscaper.Replace(s)
}

// strings.Replacer replaces in one pass, so "%" is never escaped twice.
var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)
