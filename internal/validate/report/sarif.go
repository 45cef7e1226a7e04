package report

import (
	"io"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// SARIF constants.
const (
	SARIFSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	SARIFVersion = "2.1.0"
	// ToolName and ToolInformationURI describe bizpipe in tool.driver.
	ToolName           = "bizpipe"
	ToolInformationURI = "https://github.com/bizpipe/bizpipe"
	// FingerprintKey is the partialFingerprints key of every result. Its
	// value is the hex SHA-256 of code, artifact URI, summary and detail
	// without the source positions it quotes (not the line), so an alert
	// keeps its identity when lines move (fingerprints).
	FingerprintKey = "bizpipeFindingHash/v1"
	// UncodedRuleID is the SARIF ruleId of a diagnostic that has no code
	// (JSON: no "code" member). It should never occur: every diagnostic is
	// meant to be tagged (diag.Tag), but SARIF requires a ruleId.
	UncodedRuleID = "uncoded"
	// srcRoot is the uriBaseId of relative artifact URIs.
	srcRoot = "%SRCROOT%"
)

// The SARIF object model, restricted to what bizpipe emits. Structs (not
// maps) fix the key order, so output is byte-stable.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool        sarifTool         `json:"tool"`
		Invocations []sarifInvocation `json:"invocations"`
		// ColumnKind: regions count columns in code points
		// (codePointColumn), not UTF-16 units.
		ColumnKind string        `json:"columnKind"`
		Results    []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri"`
		Version        string      `json:"version,omitempty"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string              `json:"id"`
		Name                 string              `json:"name,omitempty"`
		ShortDescription     *sarifMessage       `json:"shortDescription,omitempty"`
		FullDescription      *sarifMessage       `json:"fullDescription,omitempty"`
		Help                 *sarifMessage       `json:"help,omitempty"`
		DefaultConfiguration *sarifConfiguration `json:"defaultConfiguration,omitempty"`
	}
	sarifConfiguration struct {
		Level string `json:"level"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifInvocation struct {
		ExecutionSuccessful        bool                `json:"executionSuccessful"`
		ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
	}
	sarifNotification struct {
		Level          string        `json:"level"`
		Message        sarifMessage  `json:"message"`
		AssociatedRule *sarifRuleRef `json:"associatedRule"`
	}
	sarifRuleRef struct {
		ID    string `json:"id"`
		Index *int   `json:"index,omitempty"`
	}
	sarifResult struct {
		RuleID              string            `json:"ruleId"`
		RuleIndex           *int              `json:"ruleIndex,omitempty"`
		Level               string            `json:"level"`
		Message             sarifMessage      `json:"message"`
		Locations           []sarifLocation   `json:"locations"`
		PartialFingerprints map[string]string `json:"partialFingerprints"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
	}
	sarifPhysicalLocation struct {
		ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
		// Region is nil for a finding about a file as a whole, or about
		// no file: SARIF allows an artifactLocation alone.
		Region *sarifRegion `json:"region,omitempty"`
	}
	sarifArtifactLocation struct {
		URI       string `json:"uri"`
		URIBaseID string `json:"uriBaseId,omitempty"`
	}
	sarifRegion struct {
		StartLine   int           `json:"startLine"`
		StartColumn int           `json:"startColumn"`
		EndLine     int           `json:"endLine"`
		EndColumn   int           `json:"endColumn"`
		Snippet     *sarifMessage `json:"snippet,omitempty"` // the source text of the region
	}
)

// writeSARIF renders one SARIF 2.1.0 run.
//
//   - tool.driver.rules lists every known code (Rules(), in code order, so
//     ruleIndex values are stable), followed by any unknown code that occurs
//     (and UncodedRuleID for diagnostics without a code), sorted.
//   - Every finding (a diagnostic with a code) becomes a result, with a
//     location: GitHub code scanning rejects a whole upload when a result
//     has none. A finding with a source range has its file and region; one
//     about a file but no position in it (a file that cannot be read) has
//     the file without a region; one about no file (no group block) has
//     ".", the directory validate ran in, as the GitLab report does.
//   - A diagnostic without a code or range says validate could not run
//     (bad usage, no configuration files: exit 2). It is no finding about
//     the configuration, so it becomes a toolExecutionNotification of the
//     invocation, and invocations[0].executionSuccessful is false.
func writeSARIF(w io.Writer, r *result, opts Options) error {
	driver := sarifDriver{
		Name:           ToolName,
		InformationURI: ToolInformationURI,
		Version:        opts.ToolVersion,
	}
	index := map[diag.Code]int{}
	for _, rule := range rules {
		index[rule.Code] = len(driver.Rules)
		driver.Rules = append(driver.Rules, sarifRule{
			ID:               string(rule.Code),
			Name:             rule.Name,
			ShortDescription: &sarifMessage{Text: rule.Title},
			FullDescription:  &sarifMessage{Text: rule.Description},
			// GitHub code scanning requires help on every rule.
			Help:                 &sarifMessage{Text: rule.Title + ". " + rule.Description},
			DefaultConfiguration: &sarifConfiguration{Level: severityString(rule.Severity)},
		})
	}
	// Codes not in the table (and diagnostics without a code, which SARIF
	// cannot represent: ruleId is required) get a minimal rule each, after
	// the known ones, sorted.
	var unknown []string
	for _, d := range r.diags {
		c := sarifCode(d)
		if _, ok := index[c]; !ok {
			index[c] = -1 // placeholder until sorted
			unknown = append(unknown, string(c))
		}
	}
	sort.Strings(unknown)
	for _, c := range unknown {
		index[diag.Code(c)] = len(driver.Rules)
		short, full := "Diagnostic "+c, "Diagnostic code "+c+" is not described by this version of bizpipe."
		if c == UncodedRuleID {
			short, full = "Diagnostic without a code", "A diagnostic that carries no bizpipe code. This is a defect in bizpipe: please report it."
		}
		driver.Rules = append(driver.Rules, sarifRule{
			ID:               c,
			ShortDescription: &sarifMessage{Text: short},
			FullDescription:  &sarifMessage{Text: full},
			Help:             &sarifMessage{Text: full},
		})
	}
	ruleRef := func(d *hcl.Diagnostic) (string, *int) {
		c := sarifCode(d)
		i := index[c]
		return string(c), &i
	}

	inv := sarifInvocation{ExecutionSuccessful: true}
	results := []sarifResult{}
	seen := fingerprints{}
	for _, d := range r.diags {
		id, idx := ruleRef(d)
		level := severityString(d.Severity)
		if d.Subject == nil && diag.CodeOf(d) == "" {
			n := sarifNotification{
				Level:          level,
				Message:        sarifMessage{Text: message(d)},
				AssociatedRule: &sarifRuleRef{ID: id, Index: idx},
			}
			inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, n)
			if d.Severity == hcl.DiagError {
				inv.ExecutionSuccessful = false
			}
			continue
		}
		file := diag.FileOf(d)
		if file == "" {
			file = "."
		}
		uri, base := artifactURI(file)
		loc := sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: uri, URIBaseID: base}}
		if s := d.Subject; s != nil {
			f, li := r.files[s.Filename], r.lines(s.Filename)
			loc.Region = &sarifRegion{
				StartLine:   s.Start.Line,
				StartColumn: codePointColumn(li, s.Start),
				EndLine:     s.End.Line,
				EndColumn:   codePointColumn(li, s.End),
				Snippet:     regionSnippet(s, f, li, r.redact),
			}
		}
		results = append(results, sarifResult{
			RuleID:              id,
			RuleIndex:           idx,
			Level:               level,
			Message:             sarifMessage{Text: message(d)},
			Locations:           []sarifLocation{{PhysicalLocation: loc}},
			PartialFingerprints: map[string]string{FingerprintKey: seen.next(id, uri, d)},
		})
	}

	return encodeJSON(w, sarifLog{
		Schema:  SARIFSchema,
		Version: SARIFVersion,
		Runs: []sarifRun{{
			Tool:        sarifTool{Driver: driver},
			Invocations: []sarifInvocation{inv},
			ColumnKind:  "unicodeCodePoints",
			Results:     results,
		}},
	})
}

// sarifCode is the ruleId of d.
func sarifCode(d *hcl.Diagnostic) diag.Code {
	if c := diag.CodeOf(d); c != "" {
		return c
	}
	return UncodedRuleID
}

// artifactURI turns a diagnostic filename into a SARIF artifact URI: a
// relative filename becomes a relative URI reference (forward slashes, each
// segment percent-encoded) resolved against %SRCROOT%; an absolute one
// becomes a file: URI.
func artifactURI(filename string) (uri, uriBaseID string) {
	p := filepath.ToSlash(filename)
	abs := filepath.IsAbs(filename)
	p = path.Clean(p)
	segs := strings.Split(p, "/")
	for i, s := range segs {
		s = url.PathEscape(s)
		if !abs {
			// PathEscape leaves ":" alone, but a colon in the first
			// segment of a relative reference would read as a scheme.
			s = strings.ReplaceAll(s, ":", "%3A")
		}
		segs[i] = s
	}
	p = strings.Join(segs, "/")
	if !abs {
		return p, srcRoot
	}
	if !strings.HasPrefix(p, "/") { // Windows: C:/x
		p = "/" + p
	}
	return "file://" + p, ""
}

// codePointColumn is p's column in Unicode code points, the run's
// columnKind: HCL counts grapheme clusters, so that a letter with a
// combining accent, or an emoji sequence, is one column of HCL's but
// several code points. Without the source (li nil) HCL's column is kept.
func codePointColumn(li *lineIndex, p hcl.Pos) int {
	if li == nil || p.Byte < 0 || p.Byte > len(li.src) {
		return p.Column
	}
	return li.column(p.Byte)
}

// regionSnippet returns the source text of rng (its beginning, when it is
// long), or nil when the source is not available or rng does not fit in it.
// Sensitive values are replaced, also one the region cuts through.
func regionSnippet(rng *hcl.Range, f *hcl.File, li *lineIndex, red redact.Replacer) *sarifMessage {
	if f == nil || f.Bytes == nil || rng.End.Byte > len(f.Bytes) || rng.Start.Byte < 0 || rng.Empty() {
		return nil
	}
	start, end := widenOverSecrets(f.Bytes, rng.Start.Byte, rng.End.Byte, li.lineStart(rng.Start.Byte), li.lineEnd(rng.End.Byte), red)
	// Only what is shown is redacted: a region may span megabytes.
	text, _, _ := redactedFrom(f.Bytes, start, end, maxSnippetLine+1, red)
	return &sarifMessage{Text: clipText([]byte(text))}
}
