package report

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// GitLabIssue is one entry of the `validate --format gitlab` report, a
// GitLab Code Quality report (the subset of the Code Climate issue format
// that GitLab reads). Field order is the key order of the output.
type GitLabIssue struct {
	// Description is the summary and the detail on one line: GitLab shows
	// it in a merge request's Code Quality widget.
	Description string `json:"description" doc:"The summary and the detail, on one line."`
	// CheckName is the diagnostic code ("BP3001"), or UncodedRuleID.
	CheckName string `json:"check_name" doc:"The diagnostic code, such as BP3001 (see diagnostics.md)."`
	// Fingerprint identifies the finding across runs: see findingFingerprint.
	Fingerprint string `json:"fingerprint" doc:"Hex SHA-256 of the code, the file and the message without source positions: the same across runs and when unrelated lines move; distinct for identical findings in one file."`
	// Severity is "major" for an error, "minor" for a warning.
	Severity string         `json:"severity" doc:"major for an error, minor for a warning."`
	Location GitLabLocation `json:"location" doc:"Where the finding is."`
}

// GitLabLocation is where a GitLabIssue is.
type GitLabLocation struct {
	// Path is the file, relative to the repository root as GitLab wants
	// it: the path given on the command line joined with the file's name,
	// forward slashes, no leading "./".
	Path  string      `json:"path" doc:"The file: the path given on the command line joined with the file's name; . for a finding about no file (such as a missing group block)."`
	Lines GitLabLines `json:"lines" doc:"The lines."`
}

// GitLabLines holds the first line of a GitLabIssue.
type GitLabLines struct {
	Begin int `json:"begin" doc:"The first line, from 1 (1 for a finding about a file as a whole, or about no file)."`
}

// writeGitLab renders a GitLab Code Quality report: a JSON array, [] when
// there is nothing to report.
//
// GitLab requires a location on every issue. A diagnostic about a file but
// no position in it (a file that cannot be read) is at line 1 of the file;
// one about no file (no configuration files, no group block) at line 1 of
// "." — the directory validate ran in — rather than dropped, so that the
// report is never emptier than the exit status.
func writeGitLab(w io.Writer, r *result) error {
	issues := make([]GitLabIssue, 0, len(r.diags))
	seen := fingerprints{}
	for _, d := range r.diags {
		path, line := ".", 1
		if f := diag.FileOf(d); f != "" {
			path = gitLabPath(f)
		}
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		code := string(sarifCode(d))
		fp := seen.next(code, path, d)
		issues = append(issues, GitLabIssue{
			Description: gitLabDescription(d),
			CheckName:   code,
			Fingerprint: fp,
			Severity:    gitLabSeverity(d.Severity),
			Location:    GitLabLocation{Path: path, Lines: GitLabLines{Begin: line}},
		})
	}
	return encodeJSON(w, issues)
}

func gitLabSeverity(s hcl.DiagnosticSeverity) string {
	if s == hcl.DiagWarning {
		return "minor"
	}
	return "major"
}

// gitLabPath is filename as GitLab matches it against the repository:
// slashes, cleaned, without "./".
func gitLabPath(filename string) string {
	p := filepath.ToSlash(filepath.Clean(filename))
	return strings.TrimPrefix(p, "./")
}

// gitLabDescription is "SUMMARY: DETAIL" on one line: the widget shows
// the description as a line of a list.
func gitLabDescription(d *hcl.Diagnostic) string {
	detail := strings.Join(strings.Fields(d.Detail), " ")
	if detail == "" {
		return d.Summary
	}
	return d.Summary + ": " + detail
}

// sourcePosition matches an hcl.Range as a detail quotes it ("declared at
// hosts.hcl:12,3-15" or "hosts.hcl:12,3-14,4"): the position part.
var sourcePosition = regexp.MustCompile(`:\d+,\d+-\d+(,\d+)?`)

// findingFingerprint is the hex SHA-256 of the code, the path and the
// message with every quoted source position removed, and extra: nothing
// that changes when unrelated lines are added or removed, so GitLab and
// code scanning do not report a finding as fixed and new again.
func findingFingerprint(code, path string, d *hcl.Diagnostic, extra ...string) string {
	h := sha256.New()
	for _, s := range append([]string{code, path, d.Summary, sourcePosition.ReplaceAllString(d.Detail, ":#")}, extra...) {
		io.WriteString(h, s)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fingerprints gives a report's findings their fingerprints
// (findingFingerprint), counting them: identical findings in one file
// (the same syntax error twice) would share one, and GitLab or code
// scanning would show one, so the n-th of them, in source order, gets n
// in its hash too.
type fingerprints map[string]int

// next is the fingerprint of d, the next finding of the report.
func (s fingerprints) next(code, path string, d *hcl.Diagnostic) string {
	fp := findingFingerprint(code, path, d)
	s[fp]++
	if n := s[fp]; n > 1 {
		fp = findingFingerprint(code, path, d, strconv.Itoa(n))
	}
	return fp
}
