// Package report renders the result of a validation — a set of
// *hcl.Diagnostic values carrying bizpipe codes (package internal/config/diag) — as
// text, JSON, SARIF, GitHub Actions workflow commands or a GitLab Code
// Quality report (language.md §7.1, §8 and §13).
//
// All formats are deterministic: Write sorts a copy of the diagnostics
// with diag.Sort and never depends on map iteration order or the clock, so the
// same input always gives the same bytes.
//
// Severities: hcl.DiagWarning is a warning; every other severity (including
// the zero hcl.DiagInvalid) is rendered and counted as an error, so that a
// malformed finding can never make a configuration pass the gate.
//
// No renderer prints evaluated values: the Expression and EvalContext of a
// diagnostic are ignored (HCL's text writer would otherwise print "with
// var.x as ..." lines, which could leak a sensitive variable).
package report

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// Format is an output format of `bizpipe validate --format`.
type Format string

// The formats.
const (
	FormatText  Format = "text"
	FormatJSON  Format = "json"
	FormatSARIF Format = "sarif"
	// FormatGitHub is GitHub Actions workflow commands (annotations).
	FormatGitHub Format = "github"
	// FormatGitLab is a GitLab Code Quality report.
	FormatGitLab Format = "gitlab"
)

// Formats returns every format, in the order to show in help text.
func Formats() []Format {
	return []Format{FormatText, FormatJSON, FormatSARIF, FormatGitHub, FormatGitLab}
}

// ParseFormat parses a --format value. It is case-insensitive and ignores
// surrounding spaces.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	formats := Formats()
	if slices.Contains(formats, f) {
		return f, nil
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown format %q: must be one of %s", s, strings.Join(names, ", "))
}

// String implements fmt.Stringer and pflag.Value.
func (f Format) String() string { return string(f) }

// Set implements pflag.Value, so a Format can be bound directly to a flag.
func (f *Format) Set(s string) error {
	v, err := ParseFormat(s)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Type implements pflag.Value.
func (f Format) Type() string { return "format" }

// DefaultWidth is the text wrap width used when Options.Width is 0.
const DefaultWidth = 78

// Options control rendering.
type Options struct {
	// Color enables ANSI colours in the text format. The caller decides
	// (typically: stdout is a terminal and NO_COLOR is unset). Other formats
	// ignore it.
	Color bool
	// Width is the wrap width of detail text in the text format: 0 means
	// DefaultWidth, a negative value disables wrapping.
	Width int
	// Files holds the source bytes of the configuration files, keyed by the
	// exact filename used in the diagnostics' ranges. It is used for the
	// source snippets of the text format and the "snippet" objects of the
	// JSON format. A diagnostic whose file is missing is still rendered,
	// without a snippet. Names ending in ".json" are read as HCL JSON.
	Files map[string][]byte
	// Parsed optionally holds what the loader parsed of Files, by the same
	// names, so that they are not parsed again (a file of a megabyte takes
	// a parse of a second); a file missing from it is parsed.
	Parsed map[string]*hcl.File
	// ToolVersion is the bizpipe version, reported as SARIF
	// tool.driver.version (omitted when empty).
	ToolVersion string
	// Redact replaces the sensitive values (in every form a file may write
	// them: redact.SourceForms) in everything rendered: summaries, details
	// and the source snippets of every format. A snippet shows the file as
	// written, and a file can hold a secret (a var-file, a password written
	// in place), so the snippets need it as much as the texts.
	Redact redact.Replacer
	// Strict says that warnings fail the command (validate --strict): the
	// summary line of the text and GitHub formats then does not say
	// "Success!" over a failing exit status.
	Strict bool
}

// Write renders diags in format f to w. It does not modify diags.
func Write(w io.Writer, f Format, diags hcl.Diagnostics, opts Options) error {
	r := newResult(diags, opts)
	switch f {
	case FormatText:
		return writeText(w, r, opts)
	case FormatJSON:
		return writeJSON(w, r)
	case FormatSARIF:
		return writeSARIF(w, r, opts)
	case FormatGitHub:
		return writeGitHub(w, r, opts)
	case FormatGitLab:
		return writeGitLab(w, r)
	}
	return fmt.Errorf("report: unknown format %q", string(f))
}

// result is the normalised input shared by the renderers.
type result struct {
	diags    []*hcl.Diagnostic // sorted copies, normalised (see normalise)
	errors   int
	warnings int
	files    map[string]*hcl.File // parsed sources, for snippets and context
	redact   redact.Replacer      // applied to every text and snippet
	index    map[string]*lineIndex
}

// lines returns the line index of the source named name, built the first
// time it is asked for, or nil when there is no source.
func (r *result) lines(name string) *lineIndex {
	f := r.files[name]
	if f == nil || f.Bytes == nil {
		return nil
	}
	if li := r.index[name]; li != nil {
		return li
	}
	if r.index == nil {
		r.index = map[string]*lineIndex{}
	}
	li := newLineIndex(f.Bytes)
	r.index[name] = li
	return li
}

func newResult(in hcl.Diagnostics, opts Options) *result {
	r := &result{files: parseFiles(opts.Files, opts.Parsed), redact: opts.Redact}
	for _, d := range in {
		if d == nil {
			continue
		}
		c := normalise(d)
		c.Summary, c.Detail = r.redact.String(c.Summary), r.redact.String(c.Detail)
		r.diags = append(r.diags, c)
		if c.Severity == hcl.DiagWarning {
			r.warnings++
		} else {
			r.errors++
		}
	}
	diag.Sort(r.diags)
	return r
}

// normalise returns a shallow copy of d that the renderers can use without
// further checks: severity is error or warning, ranges have an end that is
// not before their start, and no expression values are attached.
func normalise(d *hcl.Diagnostic) *hcl.Diagnostic {
	c := *d
	if c.Severity != hcl.DiagWarning {
		c.Severity = hcl.DiagError
	}
	c.Expression = nil
	c.EvalContext = nil
	if c.Subject != nil {
		s := fixRange(*c.Subject)
		c.Subject = &s
		if c.Context != nil {
			ctx := fixRange(*c.Context)
			if ctx.Filename != s.Filename {
				c.Context = nil
			} else {
				c.Context = &ctx
			}
		}
	} else {
		c.Context = nil
	}
	return &c
}

// fixRange gives a range whose end is missing or before its start an empty
// end at its start; some diagnostic sources only set the start.
func fixRange(r hcl.Range) hcl.Range {
	if r.End.Line == 0 || r.End.Byte < r.Start.Byte {
		r.End = r.Start
	}
	return r
}

// parseFiles parses the sources so that HCL can name the enclosing block of
// a diagnostic ("in send_port \"x\""), unless parsed has them already.
// Parse errors are ignored: a file with syntax errors still gives its bytes
// and whatever structure was recovered.
func parseFiles(src map[string][]byte, parsed map[string]*hcl.File) map[string]*hcl.File {
	files := make(map[string]*hcl.File, len(src))
	for name, b := range src {
		if f := parsed[name]; f != nil && bytes.Equal(f.Bytes, b) {
			files[name] = f
			continue
		}
		f := parseFile(b, name)
		if f == nil || f.Bytes == nil {
			f = &hcl.File{Bytes: b}
		}
		files[name] = f
	}
	return files
}

// parseFile parses one source, returning nil if the parser panics on
// pathological input: a renderer must never take the process down.
func parseFile(b []byte, name string) (f *hcl.File) {
	defer func() {
		if recover() != nil {
			f = nil
		}
	}()
	if strings.HasSuffix(name, ".json") {
		f, _ = hcljson.Parse(b, name)
	} else {
		f, _ = hclsyntax.ParseConfig(b, name, hcl.InitialPos)
	}
	return f
}

func severityString(s hcl.DiagnosticSeverity) string {
	if s == hcl.DiagWarning {
		return "warning"
	}
	return "error"
}

// message returns summary and detail as one text.
func message(d *hcl.Diagnostic) string {
	if d.Detail == "" {
		return d.Summary
	}
	return d.Summary + "\n\n" + d.Detail
}
