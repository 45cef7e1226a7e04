package report

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// JSONFormatVersion is the format_version of the JSON document.
const JSONFormatVersion = "1.0"

// JSONDocument is the `validate --format json` document: Terraform's
// `validate -json` shape plus "code". Field order is the key order of the
// output, and the doc tags describe the fields in the reference
// (docs/cli.md). It is exported so that callers and tests can decode the
// output; Write is the only producer.
type JSONDocument struct {
	FormatVersion string `json:"format_version" doc:"The version of this shape, \"1.0\"."`
	// Valid is true when there is no error; warnings do not make a
	// configuration invalid (--strict only changes the exit status).
	Valid        bool `json:"valid" doc:"true when there is no error; warnings do not make a configuration invalid."`
	ErrorCount   int  `json:"error_count" doc:"The number of errors."`
	WarningCount int  `json:"warning_count" doc:"The number of warnings."`
	// Diagnostics is never null: [] when there are none.
	Diagnostics []JSONDiagnostic `json:"diagnostics" doc:"The diagnostics, by file and position; [] when there are none."`
}

// JSONDiagnostic is one diagnostic of a JSONDocument.
type JSONDiagnostic struct {
	Severity string `json:"severity" doc:"error or warning."` // "error" or "warning"
	// Code is the stable code ("BP3001"). It is omitted for a diagnostic
	// that carries none: validate's usage error (exit 2), which is about
	// the command line, not the configuration (docs/cli.md: "one diagnostic
	// without a code or range"). Any other would be a bug: every diagnostic
	// of a configuration is tagged with diag.Tag.
	Code    string `json:"code,omitempty" doc:"The diagnostic code, such as BP3001 (see diagnostics.md); a usage error's diagnostic (exit 2) has none."`
	Summary string `json:"summary" doc:"One line."`
	Detail  string `json:"detail" doc:"The explanation, naming every object involved."`
	// Range is omitted when the diagnostic has no source location.
	Range *JSONRange `json:"range,omitempty" doc:"Where in the configuration; omitted for a diagnostic about no file (such as a missing group block)."`
	// Snippet is omitted when there is no range or the source is not
	// available.
	Snippet *JSONSnippet `json:"snippet,omitempty" doc:"The source lines of the range, when the file could be read."`
}

// JSONRange is a source range; End is exclusive.
type JSONRange struct {
	Filename string  `json:"filename" doc:"The file: the path given on the command line joined with the file's name."`
	Start    JSONPos `json:"start" doc:"Where the range starts."`
	End      JSONPos `json:"end" doc:"Where it ends (exclusive)."`
}

// JSONPos is a source position: 1-based line and column (column counts
// characters), 0-based byte offset.
type JSONPos struct {
	Line   int `json:"line" doc:"Line, from 1."`
	Column int `json:"column" doc:"Column in characters, from 1."`
	Byte   int `json:"byte" doc:"Byte offset in the file, from 0."`
}

// JSONSnippet is Terraform's optional source snippet.
type JSONSnippet struct {
	// Context names the top-level block the range is in, e.g.
	// `host "send_host"`; null when it is in none.
	Context *string `json:"context" doc:"The top-level block the range is in, such as host \"send_host\"; null when none."`
	// Code is the whole source lines covered by the range (and its context
	// range), without the final newline; a line longer than maxSnippetLine
	// bytes is clipped around the range.
	Code string `json:"code" doc:"The source lines the range covers, without the final newline. A line longer than 240 bytes is clipped around the range, with … where it is cut."`
	// StartLine is the line number of the first line of Code.
	StartLine int `json:"start_line" doc:"The line number of the first line of code."`
	// HighlightStartOffset and HighlightEndOffset delimit the range within
	// Code, as byte offsets (as Terraform computes them).
	HighlightStartOffset int `json:"highlight_start_offset" doc:"Where the range starts in code, a byte offset."`
	HighlightEndOffset   int `json:"highlight_end_offset" doc:"Where the range ends in code, a byte offset."`
	// Values is always []: bizpipe never prints evaluated values.
	Values []JSONExpressionValue `json:"values" doc:"Always []: bizpipe never prints evaluated values (kept for Terraform's shape)."`
}

// JSONExpressionValue is an element of JSONSnippet.Values (always empty,
// kept for Terraform compatibility).
type JSONExpressionValue struct {
	Traversal string `json:"traversal" doc:"Terraform's; never present."`
	Statement string `json:"statement" doc:"Terraform's; never present."`
}

func writeJSON(w io.Writer, r *result) error {
	doc := JSONDocument{
		FormatVersion: JSONFormatVersion,
		Valid:         r.errors == 0,
		ErrorCount:    r.errors,
		WarningCount:  r.warnings,
		Diagnostics:   make([]JSONDiagnostic, 0, len(r.diags)),
	}
	for _, d := range r.diags {
		jd := JSONDiagnostic{
			Severity: severityString(d.Severity),
			Code:     string(diag.CodeOf(d)),
			Summary:  d.Summary,
			Detail:   d.Detail,
		}
		if d.Subject != nil {
			jd.Range = &JSONRange{
				Filename: d.Subject.Filename,
				Start:    jsonPos(d.Subject.Start),
				End:      jsonPos(d.Subject.End),
			}
			jd.Snippet = snippet(d, r.files[d.Subject.Filename], r.lines(d.Subject.Filename), r.redact)
		}
		doc.Diagnostics = append(doc.Diagnostics, jd)
	}
	return encodeJSON(w, doc)
}

// encodeJSON writes v indented by two spaces, newline-terminated, without
// HTML escaping (details often contain "<" and ">").
func encodeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func jsonPos(p hcl.Pos) JSONPos {
	return JSONPos{Line: p.Line, Column: p.Column, Byte: p.Byte}
}

// snippet computes the snippet of d the way Terraform does, or returns nil
// when the source is not available.
func snippet(d *hcl.Diagnostic, f *hcl.File, li *lineIndex, red redact.Replacer) *JSONSnippet {
	if f == nil || f.Bytes == nil {
		return nil
	}
	src := f.Bytes
	snip, highlight := snippetRanges(d)

	lines := snippetLines(li, snip, highlight, red)
	if len(lines) == 0 {
		return nil // the range lies outside the source we were given
	}
	var code strings.Builder
	// changed: a line is not the source as written (clipped, or a
	// sensitive value replaced), so offsets come from its parts.
	changed := false
	for i, l := range lines {
		if i > 0 {
			code.WriteByte('\n')
		}
		code.WriteString(l.before + l.highlight + l.after)
		changed = changed || l.clipped || l.redacted
	}
	codeStr := code.String()
	startLine := lines[0].number
	// The highlight's offsets in code, as Terraform computes them from the
	// start of the first line; in clipped lines, where the highlight's
	// part of the first line it overlaps starts, and where its part of the
	// last one ends.
	codeStart := li.lineStart(min(max(snip.Start.Byte, 0), len(src)))
	clamp := func(n int) int { return max(0, min(n, len(codeStr))) }
	start := clamp(highlight.Start.Byte - codeStart)
	end := clamp(highlight.End.Byte - codeStart)
	if changed {
		offset := 0
		found := false
		for _, l := range lines {
			if l.highlighted {
				if !found {
					start, found = offset+len(l.before), true
				}
				end = offset + len(l.before) + len(l.highlight)
			}
			offset += len(l.before) + len(l.highlight) + len(l.after) + 1
		}
	}

	s := &JSONSnippet{
		Code:                 codeStr,
		StartLine:            startLine,
		HighlightStartOffset: start,
		HighlightEndOffset:   end,
		Values:               []JSONExpressionValue{},
	}
	if ctx := contextString(f, d.Subject.Start.Byte, red); ctx != "" {
		s.Context = &ctx
	}
	return s
}
