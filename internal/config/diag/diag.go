// Package diag gives bizpipe's diagnostics their stable codes.
//
// bizpipe reports every finding as an *hcl.Diagnostic so that HCL's own parse
// and decode errors and our rule findings flow through one pipeline and one set
// of renderers. The stable code (BP1001, ...) travels in the diagnostic's Extra
// field, which HCL reserves for exactly this kind of caller-defined metadata.
package diag

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
)

// Code is a stable diagnostic code such as "BP3001".
type Code string

// Codes, documented in docs/diagnostics.md (generated from report.Rules).
// HCL syntax errors and other decode failures that have no code of their own
// are reported as CodeInvalidValue or CodeSyntax.
const (
	CodeSyntax       Code = "BP1000" // HCL syntax error: the file cannot be parsed
	CodeUndeclared   Code = "BP1001"
	CodeDuplicate    Code = "BP1002"
	CodeGroupCount   Code = "BP1003"
	CodeInvalidValue Code = "BP1004"
	CodeFilter       Code = "BP1005"
	// CodeFilterLocation is bizpipe's addition: a filter compares
	// message.receive_location with a name no receive location declares.
	CodeFilterLocation Code = "BP1006"
	// CodeUnrouted is bizpipe's addition: no send port's filter can match
	// the messages of a receive location.
	CodeUnrouted Code = "BP1007"
	// CodeFilterProperty is bizpipe's addition: a filter reads a context
	// property that no receive location sets.
	CodeFilterProperty Code = "BP1008"
	// CodeNeedUnknown is bizpipe's addition: an attribute that decides
	// whether a component uses a key (an smime encoder's signature or
	// encrypt), or the group's certificate_expiry_warning, is unknown
	// during validate, so the rules that depend on it are skipped; BP2005
	// says the same of a store's password.
	CodeNeedUnknown Code = "BP1009"
	// CodeTLSUnused is bizpipe's addition: a sending transport's tls block
	// with a url that is http://, so that the partner is reached in clear.
	CodeTLSUnused          Code = "BP1010"
	CodeStorePath          Code = "BP2001"
	CodeStoreFile          Code = "BP2002"
	CodeStorePassword      Code = "BP2003"
	CodeThumbprint         Code = "BP2004"
	CodePasswordUnknown    Code = "BP2005"
	CodeSignCertMissing    Code = "BP3001"
	CodeSignKeyMissing     Code = "BP3002"
	CodeSignCertDates      Code = "BP3003"
	CodeSignCertExpiring   Code = "BP3004"
	CodeSignCertUsage      Code = "BP3005"
	CodeSignHostNoInstance Code = "BP3006"
	CodeEncCertRequired    Code = "BP4001"
	CodeEncCertMissing     Code = "BP4002"
	CodeEncCertDates       Code = "BP4003"
	CodeEncCertExpiring    Code = "BP4004"
	CodeEncCertUsage       Code = "BP4005"
	CodeEncCertUnused      Code = "BP4006"
	CodeWeakAlgorithm      Code = "BP5001"
	CodeUnused             Code = "BP5002"
	CodeLiveUser           Code = "BP6001"
	CodeLiveUnreadable     Code = "BP6002"
	CodeLiveKeyExposed     Code = "BP6003"
	CodeLiveRunAs          Code = "BP6004"
	// CodeLiveMessageBox is bizpipe's addition: validate --live connects to
	// the shared message box and checks its schema version.
	CodeLiveMessageBox Code = "BP6005"
	// CodeLiveDirectory is bizpipe's addition: a directory a component
	// polls or writes (a file transport's path) is missing, not a
	// directory, or not usable by the instance's user.
	CodeLiveDirectory Code = "BP6006"
	// CodeLiveFiles is bizpipe's addition: files a component loads when it
	// starts (a tls block's certificate, key and trust anchors) cannot be
	// loaded.
	CodeLiveFiles Code = "BP6007"
	// Inbound (language §10).
	CodeDecCertRequired   Code = "BP7001"
	CodeDecCertMissing    Code = "BP7002"
	CodeDecKeyMissing     Code = "BP7003"
	CodeDecCertUnusable   Code = "BP7004"
	CodeDecCertExpiring   Code = "BP7005"
	CodePartyCertMissing  Code = "BP7006"
	CodePartyCertInvalid  Code = "BP7007"
	CodePartyCertExpiring Code = "BP7008"
	CodeAS2Config         Code = "BP7009"
)

// Signing certificate rollover (language §12), a block of their own so that
// the codes above keep their alignment.
const (
	CodeRolloverUnreachable Code = "BP3007"
	CodeRolloverDone        Code = "BP3008"
)

// Extra is stored in hcl.Diagnostic.Extra for every diagnostic bizpipe makes.
type Extra struct {
	Code Code
	// File is the file a diagnostic without a Subject is about, when it
	// is about one but no position in it (a file that cannot be read):
	// the reports name the file without a line (FileOf).
	File string
}

// AboutFile builds an error diagnostic about file as a whole, which has no
// position to point at (it could not be read).
func AboutFile(code Code, file, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Extra:    Extra{Code: code, File: file},
	}
}

// FileOf returns the file d is about: its Subject's, or the one it is
// about as a whole (AboutFile); "" for a diagnostic about no file (no
// group block, a --var option).
func FileOf(d *hcl.Diagnostic) string {
	if d.Subject != nil {
		return d.Subject.Filename
	}
	if e, ok := hcl.DiagnosticExtra[Extra](d); ok {
		return e.File
	}
	return ""
}

// Errorf builds an error diagnostic with the given code pointing at subject.
func Errorf(code Code, subject hcl.Range, summary, detailFormat string, args ...any) *hcl.Diagnostic {
	return New(hcl.DiagError, code, subject, summary, fmt.Sprintf(detailFormat, args...))
}

// Warningf builds a warning diagnostic with the given code pointing at subject.
func Warningf(code Code, subject hcl.Range, summary, detailFormat string, args ...any) *hcl.Diagnostic {
	return New(hcl.DiagWarning, code, subject, summary, fmt.Sprintf(detailFormat, args...))
}

// New builds a diagnostic. A zero subject range (no file) is left nil so that
// renderers do not print a bogus location.
func New(sev hcl.DiagnosticSeverity, code Code, subject hcl.Range, summary, detail string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{
		Severity: sev,
		Summary:  summary,
		Detail:   detail,
		Extra:    Extra{Code: code},
	}
	if subject.Filename != "" {
		r := subject
		d.Subject = &r
	}
	return d
}

// WithCode returns d with code attached, keeping any code d already has. It is
// used to give HCL's own diagnostics (syntax, type conversion) a bizpipe code.
func WithCode(d *hcl.Diagnostic, code Code) *hcl.Diagnostic {
	if CodeOf(d) != "" {
		return d
	}
	d.Extra = Extra{Code: code}
	return d
}

// Tag gives every diagnostic in diags that has no code the given code.
func Tag(diags hcl.Diagnostics, code Code) hcl.Diagnostics {
	for _, d := range diags {
		WithCode(d, code)
	}
	return diags
}

// CodeOf returns the code of d, or "" when it has none.
func CodeOf(d *hcl.Diagnostic) Code {
	if e, ok := hcl.DiagnosticExtra[Extra](d); ok {
		return e.Code
	}
	return ""
}

// Counts returns the number of errors and warnings in diags.
func Counts(diags hcl.Diagnostics) (errors, warnings int) {
	for _, d := range diags {
		switch d.Severity {
		case hcl.DiagError:
			errors++
		case hcl.DiagWarning:
			warnings++
		}
	}
	return errors, warnings
}

// Sort orders diagnostics by file, then position, then code, so that output is
// stable whatever order rules ran in. Diagnostics about no file come first,
// and one about a file as a whole (AboutFile) first among that file's.
func Sort(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i], diags[j]
		ra, rb := rangeOf(a), rangeOf(b)
		if ra.Filename != rb.Filename {
			return ra.Filename < rb.Filename
		}
		if ra.Start.Byte != rb.Start.Byte {
			return ra.Start.Byte < rb.Start.Byte
		}
		if ca, cb := CodeOf(a), CodeOf(b); ca != cb {
			return ca < cb
		}
		if a.Summary != b.Summary {
			return a.Summary < b.Summary
		}
		return a.Detail < b.Detail
	})
}

func rangeOf(d *hcl.Diagnostic) hcl.Range {
	if d.Subject != nil {
		return *d.Subject
	}
	// One about a file as a whole goes first among that file's.
	return hcl.Range{Filename: FileOf(d)}
}

// HasSyntaxErrors reports files that could not be parsed (BP1000 errors):
// the model then lacks their blocks, and rules over it would report
// phantom problems.
func HasSyntaxErrors(diags hcl.Diagnostics) bool {
	for _, d := range diags {
		if d.Severity == hcl.DiagError && CodeOf(d) == CodeSyntax {
			return true
		}
	}
	return false
}

// SyntaxErrors returns the syntax errors (BP1000) of diags.
func SyntaxErrors(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if CodeOf(d) == CodeSyntax {
			out = append(out, d)
		}
	}
	return out
}
