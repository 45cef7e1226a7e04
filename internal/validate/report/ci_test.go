package report

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestGitHubEscaping: the Actions toolkit's escapeData and escapeProperty
// (packages/core/src/command.ts), character for character.
func TestGitHubEscaping(t *testing.T) {
	for _, tc := range []struct{ in, data, prop string }{
		{"plain text", "plain text", "plain text"},
		{"100%", "100%25", "100%25"},
		{"%0A is not a newline", "%250A is not a newline", "%250A is not a newline"},
		{"a\nb", "a%0Ab", "a%0Ab"},
		{"a\r\nb", "a%0D%0Ab", "a%0D%0Ab"},
		{"k: v, w", "k: v, w", "k%3A v%2C w"},
		{"C:\\conf\\a,b.hcl", "C:\\conf\\a,b.hcl", "C%3A\\conf\\a%2Cb.hcl"},
		{"::error::forged", "::error::forged", "%3A%3Aerror%3A%3Aforged"},
		{"x=y", "x=y", "x=y"}, // the runner splits a property at its first "="
	} {
		if got := escapeData(tc.in); got != tc.data {
			t.Errorf("escapeData(%q) = %q, want %q", tc.in, got, tc.data)
		}
		if got := escapeProperty(tc.in); got != tc.prop {
			t.Errorf("escapeProperty(%q) = %q, want %q", tc.in, got, tc.prop)
		}
	}
}

// TestGitHubCommands: one command per diagnostic, each on one line, with
// the properties of §13, columns only on a one-line range, and the summary
// line last; hostile text cannot start a command of its own.
func TestGitHubCommands(t *testing.T) {
	one := hcl.Range{Filename: "conf/a,b:c.hcl", Start: hcl.Pos{Line: 3, Column: 5, Byte: 20}, End: hcl.Pos{Line: 3, Column: 9, Byte: 24}}
	multi := hcl.Range{Filename: "conf/hosts.hcl", Start: hcl.Pos{Line: 6, Column: 1, Byte: 40}, End: hcl.Pos{Line: 11, Column: 2, Byte: 90}}
	diags := hcl.Diagnostics{
		diag.Errorf(diag.CodeSignCertMissing, multi, "Signing certificate not in personal store", "Line one.\n\nLine 100%% two."),
		diag.Warningf(diag.CodeWeakAlgorithm, one, "Weak digest, algorithm: sha1", "Subject \"CN=x\r\n::error::forged\" and \x1b[31mred."),
		diag.New(hcl.DiagError, diag.CodeGroupCount, hcl.Range{}, "No group block", ""),
		diag.Errorf(diag.CodeUnused, hcl.Range{Filename: "z\x1b[2J\n.hcl", Start: hcl.InitialPos, End: hcl.InitialPos}, "Unused", "Unused."),
	}
	out := string(render(t, FormatGitHub, diags, Options{}))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{
		"::error title=BP1003 No group block::No group block",
		`::warning file=conf/a%2Cb%3Ac.hcl,line=3,endLine=3,col=5,endColumn=9,title=BP5001 Weak digest%2C algorithm%3A sha1::Subject "CN=x\r%0A::error::forged" and \x1b[31mred.`,
		"::error file=conf/hosts.hcl,line=6,endLine=11,title=BP3001 Signing certificate not in personal store::Line one.%0A%0ALine 100%25 two.",
		`::error file=z\x1b[2J%0A.hcl,line=1,endLine=1,col=1,endColumn=1,title=BP5002 Unused::Unused.`,
		"3 errors, 1 warning.",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, lines[i], want[i])
		}
	}
	if strings.ContainsRune(out, '\x1b') || strings.ContainsRune(out, '\r') {
		t.Errorf("control character in output: %q", out)
	}
	if got := string(render(t, FormatGitHub, nil, Options{})); got != "Success! The configuration is valid.\n" {
		t.Errorf("no diagnostics: %q", got)
	}
}

func decodeGitLab(t *testing.T, b []byte) []GitLabIssue {
	t.Helper()
	var issues []GitLabIssue
	if err := json.Unmarshal(b, &issues); err != nil {
		t.Fatalf("not a JSON array of issues: %v\n%s", err, b)
	}
	return issues
}

// TestGitLabReport: the fields GitLab requires on every issue, severity
// mapping, the path as GitLab wants it, [] for no findings.
func TestGitLabReport(t *testing.T) {
	files := sources(t)
	diags := fixture(t, files)
	issues := decodeGitLab(t, render(t, FormatGitLab, diags, Options{Files: files}))
	if len(issues) != len(diags) {
		t.Fatalf("%d issues for %d diagnostics", len(issues), len(diags))
	}
	fps := map[string]bool{}
	for _, is := range issues {
		if is.Description == "" || is.CheckName == "" || len(is.Fingerprint) != 64 || is.Location.Path == "" || is.Location.Lines.Begin < 1 {
			t.Errorf("incomplete issue %+v", is)
		}
		if strings.Contains(is.Description, "\n") {
			t.Errorf("description spans lines: %q", is.Description)
		}
		if fps[is.Fingerprint] {
			t.Errorf("fingerprint %s twice", is.Fingerprint)
		}
		fps[is.Fingerprint] = true
		want := map[string]string{"BP5001": "minor"}[is.CheckName]
		if want == "" {
			want = "major"
		}
		if is.Severity != want {
			t.Errorf("%s: severity %q, want %q", is.CheckName, is.Severity, want)
		}
	}
	var sawNoRange bool
	for _, is := range issues {
		if is.CheckName == "BP1003" {
			sawNoRange = is.Location.Path == "." && is.Location.Lines.Begin == 1
		}
	}
	if !sawNoRange {
		t.Errorf("diagnostic without a range not at . line 1: %+v", issues)
	}
	if got := string(render(t, FormatGitLab, nil, Options{})); got != "[]\n" {
		t.Errorf("no diagnostics: %q, want []", got)
	}
	for in, want := range map[string]string{"./conf/a.hcl": "conf/a.hcl", "conf//b/../a.hcl": "conf/a.hcl", "a.hcl": "a.hcl"} {
		if got := gitLabPath(in); got != want {
			t.Errorf("gitLabPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// movedBody declares a host whose findings the fingerprint tests move
// down by putting movedAbove, unrelated lines, before it.
const (
	movedBody  = "host \"send_host\" {\n  instance {}\n}\n"
	movedAbove = "# a comment\n\nservice_account \"x\" {\n}\n\n"
)

// movableFindings are findings of the last host of src, as
// conf/hosts.hcl: a duplicate whose detail quotes declaredAt, and two
// identical ones about its instance.
func movableFindings(t *testing.T, src, declaredAt string) hcl.Diagnostics {
	t.Helper()
	f, ds := hclsyntax.ParseConfig([]byte(src), "conf/hosts.hcl", hcl.InitialPos)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	blocks := f.Body.(*hclsyntax.Body).Blocks
	host := blocks[len(blocks)-1]
	inst := host.Body.Blocks[0].DefRange()
	return hcl.Diagnostics{
		diag.Errorf(diag.CodeDuplicate, host.DefRange(), "Duplicate host", "A host named %q was already declared at %s.", "send_host", declaredAt),
		diag.Errorf(diag.CodeSignCertMissing, inst, "Signing certificate not in personal store", "Instance of host %q.", "send_host"),
		diag.Errorf(diag.CodeSignCertMissing, inst, "Signing certificate not in personal store", "Instance of host %q.", "send_host"),
	}
}

// TestGitLabFingerprintStable: moving a finding by adding unrelated lines
// above it, or moving the declaration its detail quotes, keeps its
// fingerprint; another file, code or object changes it; identical
// findings get distinct fingerprints.
func TestGitLabFingerprintStable(t *testing.T) {
	findings := func(src, declaredAt string) []GitLabIssue {
		diags := movableFindings(t, src, declaredAt)
		return decodeGitLab(t, render(t, FormatGitLab, diags, Options{Files: map[string][]byte{"conf/hosts.hcl": []byte(src)}}))
	}
	before := findings(movedBody, "conf/other.hcl:1,1-17")
	after := findings(movedAbove+movedBody, "conf/other.hcl:12,1-14,2")
	for i := range before {
		if before[i].Location.Lines.Begin == after[i].Location.Lines.Begin {
			t.Fatalf("the finding did not move: %+v", after[i])
		}
		if before[i].Fingerprint != after[i].Fingerprint {
			t.Errorf("%s: fingerprint changed when unrelated lines moved it: %s, %s", before[i].CheckName, before[i].Fingerprint, after[i].Fingerprint)
		}
	}
	if before[1].Fingerprint == before[2].Fingerprint {
		t.Error("identical findings share a fingerprint")
	}
	d := diag.Errorf(diag.CodeSignCertMissing, hcl.Range{}, "S", "Instance of host %q.", "send_host")
	base := findingFingerprint("BP3001", "conf/hosts.hcl", d)
	other := diag.Errorf(diag.CodeSignCertMissing, hcl.Range{}, "S", "Instance of host %q.", "recv_host")
	for name, fp := range map[string]string{
		"file":   findingFingerprint("BP3001", "conf/other.hcl", d),
		"code":   findingFingerprint("BP3002", "conf/hosts.hcl", d),
		"object": findingFingerprint("BP3001", "conf/hosts.hcl", other),
	} {
		if fp == base {
			t.Errorf("another %s, same fingerprint", name)
		}
	}
	if again := findingFingerprint("BP3001", "conf/hosts.hcl", d); again != base {
		t.Error("fingerprint not deterministic")
	}
}

// TestSARIFFingerprintStable: as in the GitLab report, a SARIF result's
// partial fingerprint is the same when unrelated lines move the finding or
// the declaration its detail quotes, and identical findings in one file get
// distinct ones (code scanning shows one alert per fingerprint).
func TestSARIFFingerprintStable(t *testing.T) {
	resultFingerprints := func(src, declaredAt string) []string {
		diags := movableFindings(t, src, declaredAt)
		var log struct {
			Runs []struct {
				Results []struct {
					RuleID              string            `json:"ruleId"`
					PartialFingerprints map[string]string `json:"partialFingerprints"`
				} `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(render(t, FormatSARIF, diags, Options{Files: map[string][]byte{"conf/hosts.hcl": []byte(src)}}), &log); err != nil {
			t.Fatal(err)
		}
		var fps []string
		for _, r := range log.Runs[0].Results {
			fps = append(fps, r.RuleID+" "+r.PartialFingerprints[FingerprintKey])
		}
		return fps
	}
	before := resultFingerprints(movedBody, "conf/other.hcl:1,1-17")
	after := resultFingerprints(movedAbove+movedBody, "conf/other.hcl:12,1-14,2")
	if len(before) != 3 || !slices.Equal(before, after) {
		t.Errorf("fingerprints changed when unrelated lines moved the findings:\n%q\n%q", before, after)
	}
	if len(before) == 3 && before[1] == before[2] {
		t.Error("identical findings share a fingerprint")
	}
}

// TestFindingsWithoutRange: a finding without a source range is reported
// by every CI format, where its file is when it is about one: a SARIF
// result (not only a notification, which code scanning does not show)
// with the file and no region, or "." when it is about no file; GitHub's
// file= and GitLab's path name the file. Only a diagnostic without a code
// (validate could not run) is a SARIF notification, and no result.
func TestFindingsWithoutRange(t *testing.T) {
	tests := []struct {
		name   string
		d      *hcl.Diagnostic
		uri    string // the SARIF result's artifact URI; "" for none
		github string // GitHub's properties before title=
		gitlab string // GitLab's location path
	}{
		{"a file that cannot be read", diag.AboutFile(diag.CodeSyntax, "conf/fifo.hcl", "Cannot read configuration file", "Reading conf/fifo.hcl: a named pipe."),
			"conf/fifo.hcl", "file=conf/fifo.hcl,", "conf/fifo.hcl"},
		{"no file", diag.New(hcl.DiagError, diag.CodeGroupCount, hcl.Range{}, "No group block", "None declares one."),
			".", "", "."},
		{"validate could not run", &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot validate", Detail: "No configuration files."},
			"", "", "."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diags := hcl.Diagnostics{tt.d}
			var sarif struct {
				Runs []struct {
					Invocations []struct {
						ExecutionSuccessful        bool              `json:"executionSuccessful"`
						ToolExecutionNotifications []json.RawMessage `json:"toolExecutionNotifications"`
					} `json:"invocations"`
					Results []struct {
						RuleID    string `json:"ruleId"`
						Locations []struct {
							PhysicalLocation map[string]json.RawMessage `json:"physicalLocation"`
						} `json:"locations"`
					} `json:"results"`
				} `json:"runs"`
			}
			if err := json.Unmarshal(render(t, FormatSARIF, diags, Options{}), &sarif); err != nil {
				t.Fatal(err)
			}
			run := sarif.Runs[0]
			inv := run.Invocations[0]
			if tt.uri == "" {
				if len(run.Results) != 0 || len(inv.ToolExecutionNotifications) != 1 || inv.ExecutionSuccessful {
					t.Errorf("SARIF: %d results, %d notifications, executionSuccessful %v; want none, one, false", len(run.Results), len(inv.ToolExecutionNotifications), inv.ExecutionSuccessful)
				}
			} else {
				if len(run.Results) != 1 || len(inv.ToolExecutionNotifications) != 0 || !inv.ExecutionSuccessful {
					t.Fatalf("SARIF: %d results, %d notifications, executionSuccessful %v; want one, none, true", len(run.Results), len(inv.ToolExecutionNotifications), inv.ExecutionSuccessful)
				}
				res := run.Results[0]
				if res.RuleID != string(diag.CodeOf(tt.d)) || len(res.Locations) != 1 {
					t.Fatalf("SARIF result %+v", res)
				}
				pl := res.Locations[0].PhysicalLocation
				var loc struct{ URI string }
				if err := json.Unmarshal(pl["artifactLocation"], &loc); err != nil || loc.URI != tt.uri {
					t.Errorf("SARIF artifactLocation %s, want uri %q", pl["artifactLocation"], tt.uri)
				}
				if r, ok := pl["region"]; ok {
					t.Errorf("SARIF region %s, want none: there is no position", r)
				}
			}
			gh := string(render(t, FormatGitHub, diags, Options{}))
			if want := "::error " + tt.github + "title="; !strings.HasPrefix(gh, want) {
				t.Errorf("GitHub: %q, want it to start with %q", gh, want)
			}
			var gl []GitLabIssue
			if err := json.Unmarshal(render(t, FormatGitLab, diags, Options{}), &gl); err != nil {
				t.Fatal(err)
			}
			if len(gl) != 1 || gl[0].Location.Path != tt.gitlab || gl[0].Location.Lines.Begin != 1 {
				t.Errorf("GitLab: %+v, want one issue at line 1 of %q", gl, tt.gitlab)
			}
		})
	}
}
