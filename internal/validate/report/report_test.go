package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Fixture filenames, as the CLI would name them: the directory given on the
// command line joined with the file's name. One contains a space, to exercise
// SARIF URI encoding.
const (
	fileHosts  = "conf/hosts.hcl"
	filePorts  = "conf/send ports.hcl"
	fileBroken = "conf/broken.hcl"
)

// sources reads the fixture sources.
func sources(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for name, src := range map[string]string{
		fileHosts:  "hosts.hcl",
		filePorts:  "send ports.hcl",
		fileBroken: "broken.hcl",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "src", src))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	return files
}

func parse(t *testing.T, files map[string][]byte, name string) (*hclsyntax.Body, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(files[name], name, hcl.InitialPos)
	return f.Body.(*hclsyntax.Body), diags
}

// fixture builds a realistic set of diagnostics over the fixture sources,
// with ranges taken from the parsed files: errors and warnings, one without
// a subject, one with a multi-line detail, one with a context range, and
// HCL's own syntax errors tagged BP1000.
func fixture(t *testing.T, files map[string][]byte) hcl.Diagnostics {
	t.Helper()
	hosts, d := parse(t, files, fileHosts)
	if d.HasErrors() {
		t.Fatal(d)
	}
	ports, d := parse(t, files, filePorts)
	if d.HasErrors() {
		t.Fatal(d)
	}
	_, syntax := parse(t, files, fileBroken)
	if !syntax.HasErrors() {
		t.Fatal("broken.hcl parsed without errors")
	}

	instance := hosts.Blocks[1].Body.Blocks[0]
	digest := ports.Blocks[0].Body.Blocks[0].Body.Attributes["digest"]
	sendPort := ports.Blocks[1]

	var diags hcl.Diagnostics
	diags = append(diags, diag.Errorf(diag.CodeSignCertMissing, instance.Range(),
		"Signing certificate not in personal store",
		"Send port %q signs (pipeline %q) and runs on host %q.\n"+
			"The instance of host %q on server %q runs as service account %q, whose personal store %q (%s) has no certificate with the group signing thumbprint %s.\n"+
			"\n"+
			"Import the certificate and its private key into %s.",
		"fabrikam", "sign_encrypt", "send_host",
		"send_host", "srv1", "svc_send", "svc_send_personal", "stores/svc_send",
		"9F1C3A22B7D04E5A8C6F1B2D3E4F5A6B7C8D9E0F", "stores/svc_send"))
	diags = append(diags, diag.Warningf(diag.CodeWeakAlgorithm, digest.Expr.Range(),
		"Weak digest algorithm",
		"Pipeline %q uses digest \"sha1\" in its smime encoder. Use \"sha256\" or stronger.", "sign_encrypt"))
	enc := diag.Errorf(diag.CodeEncCertRequired, sendPort.DefRange(),
		"Encrypting send port has no encryption certificate",
		"Send port %q runs pipeline %q, which encrypts, but sets no encryption_certificate.", "fabrikam", "sign_encrypt")
	ctx := sendPort.Range()
	enc.Context = &ctx
	diags = append(diags, enc)
	diags = append(diags, diag.New(hcl.DiagError, diag.CodeGroupCount, hcl.Range{},
		"No group block",
		"The configuration has no group block; exactly one is required."))
	diags = append(diags, diag.Tag(syntax, diag.CodeSyntax)...)
	return diags
}

// cases are the golden scenarios.
func cases(t *testing.T) []struct {
	name  string
	diags hcl.Diagnostics
} {
	files := sources(t)
	all := fixture(t, files)
	var warnings hcl.Diagnostics
	for _, d := range all {
		if d.Severity == hcl.DiagWarning {
			warnings = append(warnings, d)
		}
	}
	return []struct {
		name  string
		diags hcl.Diagnostics
	}{
		{"mixed", all},
		{"warnings", warnings},
		{"valid", nil},
	}
}

func render(t *testing.T, f Format, diags hcl.Diagnostics, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, f, diags, opts); err != nil {
		t.Fatalf("Write(%s): %v", f, err)
	}
	return buf.Bytes()
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (go test -update to accept):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestGolden(t *testing.T) {
	files := sources(t)
	variants := []struct {
		suffix string
		format Format
		opts   Options
	}{
		{"text", FormatText, Options{Files: files}},
		{"text-color", FormatText, Options{Files: files, Color: true}},
		{"json", FormatJSON, Options{Files: files}},
		{"sarif", FormatSARIF, Options{Files: files, ToolVersion: "1.2.3"}},
		{"github", FormatGitHub, Options{Files: files}},
		{"gitlab", FormatGitLab, Options{Files: files}},
	}
	for _, c := range cases(t) {
		for _, v := range variants {
			t.Run(c.name+"."+v.suffix, func(t *testing.T) {
				checkGolden(t, c.name+"."+v.suffix, render(t, v.format, c.diags, v.opts))
			})
		}
	}
}

func TestGoldenNoSource(t *testing.T) {
	diags := fixture(t, sources(t))
	for _, f := range []Format{FormatText, FormatJSON} {
		t.Run(string(f), func(t *testing.T) {
			checkGolden(t, "nosource."+string(f), render(t, f, diags, Options{Width: -1}))
		})
	}
}

func TestRulesMarkdownGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteRulesMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "rules.md", buf.Bytes())
}

// TestJSONShape checks the exact §8 shape: keys and their order, counts,
// valid, diagnostics never null, range present iff the diagnostic has a
// subject.
func TestJSONShape(t *testing.T) {
	files := sources(t)
	for _, c := range cases(t) {
		t.Run(c.name, func(t *testing.T) {
			out := render(t, FormatJSON, c.diags, Options{Files: files})
			if !bytes.HasSuffix(out, []byte("}\n")) || bytes.Count(out, []byte("\n}\n")) != 1 {
				t.Errorf("not one newline-terminated document:\n%s", out)
			}

			if got, want := topLevelKeys(t, out), []string{"format_version", "valid", "error_count", "warning_count", "diagnostics"}; !slices.Equal(got, want) {
				t.Errorf("top-level keys = %v, want %v", got, want)
			}

			var doc struct {
				FormatVersion string            `json:"format_version"`
				Valid         bool              `json:"valid"`
				ErrorCount    int               `json:"error_count"`
				WarningCount  int               `json:"warning_count"`
				Diagnostics   []json.RawMessage `json:"diagnostics"`
			}
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatal(err)
			}
			errs, warns := diag.Counts(c.diags)
			if doc.FormatVersion != "1.0" || doc.ErrorCount != errs || doc.WarningCount != warns || doc.Valid != (errs == 0) {
				t.Errorf("header = %+v, want 1.0 valid=%v errors=%d warnings=%d", doc, errs == 0, errs, warns)
			}
			if doc.Diagnostics == nil {
				t.Fatal("diagnostics is null or missing, want an array")
			}
			if len(doc.Diagnostics) != len(c.diags) {
				t.Fatalf("%d diagnostics, want %d", len(doc.Diagnostics), len(c.diags))
			}

			sorted := slices.Clone(c.diags)
			diag.Sort(sorted)
			for i, raw := range doc.Diagnostics {
				d := sorted[i]
				keys := topLevelKeys(t, raw)
				want := []string{"severity", "code", "summary", "detail"}
				if d.Subject != nil {
					want = append(want, "range", "snippet")
				}
				if !slices.Equal(keys, want) {
					t.Errorf("diagnostic %d keys = %v, want %v", i, keys, want)
				}
				var jd JSONDiagnostic
				if err := json.Unmarshal(raw, &jd); err != nil {
					t.Fatal(err)
				}
				if jd.Code != string(diag.CodeOf(d)) || jd.Summary != d.Summary || jd.Detail != d.Detail {
					t.Errorf("diagnostic %d = %+v, want code %s summary %q", i, jd, diag.CodeOf(d), d.Summary)
				}
				if jd.Severity != map[hcl.DiagnosticSeverity]string{hcl.DiagError: "error", hcl.DiagWarning: "warning"}[d.Severity] {
					t.Errorf("diagnostic %d severity %q", i, jd.Severity)
				}
				if d.Subject == nil {
					continue
				}
				if got, want := topLevelKeys(t, mustField(t, raw, "range")), []string{"filename", "start", "end"}; !slices.Equal(got, want) {
					t.Errorf("range keys = %v, want %v", got, want)
				}
				if got, want := topLevelKeys(t, mustField(t, mustField(t, raw, "range"), "start")), []string{"line", "column", "byte"}; !slices.Equal(got, want) {
					t.Errorf("position keys = %v, want %v", got, want)
				}
				s := d.Subject
				wantRange := JSONRange{s.Filename, JSONPos{s.Start.Line, s.Start.Column, s.Start.Byte}, JSONPos{s.End.Line, s.End.Column, s.End.Byte}}
				if *jd.Range != wantRange {
					t.Errorf("range = %+v, want %+v", *jd.Range, wantRange)
				}
				// The highlight must select exactly the subject's text.
				sn := jd.Snippet
				if sn == nil || sn.Values == nil {
					t.Fatalf("snippet = %+v, want one with values []", sn)
				}
				if got, want := sn.Code[sn.HighlightStartOffset:sn.HighlightEndOffset], string(files[s.Filename][s.Start.Byte:s.End.Byte]); got != want && s.Start.Byte != s.End.Byte {
					t.Errorf("highlight = %q, want %q", got, want)
				}
			}
		})
	}
}

func topLevelKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func mustField(t *testing.T, raw []byte, key string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	v, ok := m[key]
	if !ok {
		t.Fatalf("no key %q in %s", key, raw)
	}
	return v
}

// TestJSONUsageError: validate's usage error (exit 2) is one diagnostic
// without a code or range, as docs/cli.md says: its JSON has neither
// member (no "code": "").
func TestJSONUsageError(t *testing.T) {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot validate", Detail: "Unknown flag: --nosuch."}
	out := render(t, FormatJSON, hcl.Diagnostics{d}, Options{})
	var doc struct {
		Diagnostics []json.RawMessage `json:"diagnostics"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || len(doc.Diagnostics) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	if got, want := topLevelKeys(t, doc.Diagnostics[0]), []string{"severity", "summary", "detail"}; !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v:\n%s", got, want, out)
	}
}

func TestJSONEmptyIsArray(t *testing.T) {
	for _, diags := range []hcl.Diagnostics{nil, {}} {
		out := render(t, FormatJSON, diags, Options{})
		if !bytes.Contains(out, []byte(`"diagnostics": []`)) {
			t.Errorf("got %s, want diagnostics: []", out)
		}
	}
}

// TestSARIFStructure checks the required SARIF structure against the input.
func TestSARIFStructure(t *testing.T) {
	files := sources(t)
	diags := fixture(t, files)
	out := render(t, FormatSARIF, diags, Options{Files: files, ToolVersion: "1.2.3"})

	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name           string `json:"name"`
					InformationURI string `json:"informationUri"`
					Version        string `json:"version"`
					Rules          []struct {
						ID               string `json:"id"`
						Name             string `json:"name"`
						ShortDescription struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Invocations []struct {
				ExecutionSuccessful        *bool `json:"executionSuccessful"`
				ToolExecutionNotifications []struct {
					Level          string `json:"level"`
					Message        struct{ Text string }
					AssociatedRule struct {
						ID    string `json:"id"`
						Index *int   `json:"index"`
					} `json:"associatedRule"`
				} `json:"toolExecutionNotifications"`
			} `json:"invocations"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex *int   `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine, StartColumn, EndLine, EndColumn int
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	if log.Schema != SARIFSchema || log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("schema %q version %q runs %d", log.Schema, log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	drv := run.Tool.Driver
	if drv.Name != "bizpipe" || drv.InformationURI == "" || drv.Version != "1.2.3" {
		t.Errorf("driver = %+v", drv)
	}
	if len(drv.Rules) != len(Rules()) {
		t.Errorf("%d rules, want %d", len(drv.Rules), len(Rules()))
	}
	for i, r := range drv.Rules {
		if r.ID != string(Rules()[i].Code) || r.Name == "" || r.ShortDescription.Text == "" {
			t.Errorf("rule %d = %+v", i, r)
		}
	}

	// Every finding is a result, also one without a range (no group
	// block); the fixture has no diagnostic without a code.
	located := slices.Clone(diags)
	diag.Sort(located)
	if len(run.Results) != len(located) {
		t.Fatalf("%d results, want %d", len(run.Results), len(located))
	}
	seen := map[string]bool{}
	for i, res := range run.Results {
		d := located[i]
		if res.RuleID != string(diag.CodeOf(d)) {
			t.Errorf("result %d ruleId %q, want %q", i, res.RuleID, diag.CodeOf(d))
		}
		if res.RuleIndex == nil || drv.Rules[*res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %d ruleIndex does not point at rule %s", i, res.RuleID)
		}
		if want := severityString(d.Severity); res.Level != want {
			t.Errorf("result %d level %q, want %q", i, res.Level, want)
		}
		if !strings.HasPrefix(res.Message.Text, d.Summary) || !strings.Contains(res.Message.Text, d.Detail) {
			t.Errorf("result %d message %q lacks summary or detail", i, res.Message.Text)
		}
		if len(res.Locations) != 1 {
			t.Fatalf("result %d has %d locations", i, len(res.Locations))
		}
		pl := res.Locations[0].PhysicalLocation
		if strings.ContainsAny(pl.ArtifactLocation.URI, ` \`) || pl.ArtifactLocation.URI == "" {
			t.Errorf("result %d uri %q is not an encoded relative URI", i, pl.ArtifactLocation.URI)
		}
		var want struct{ StartLine, StartColumn, EndLine, EndColumn int }
		if s := d.Subject; s != nil {
			want.StartLine, want.StartColumn, want.EndLine, want.EndColumn = s.Start.Line, s.Start.Column, s.End.Line, s.End.Column
		} else if pl.ArtifactLocation.URI != "." {
			t.Errorf("result %d about no file is at %q, want .", i, pl.ArtifactLocation.URI)
		}
		if pl.Region != want {
			t.Errorf("result %d region %+v, want %+v", i, pl.Region, want)
		}
		fp := res.PartialFingerprints[FingerprintKey]
		if len(fp) != 64 || seen[fp] {
			t.Errorf("result %d fingerprint %q missing or duplicate", i, fp)
		}
		seen[fp] = true
	}

	if len(run.Invocations) != 1 {
		t.Fatalf("%d invocations", len(run.Invocations))
	}
	inv := run.Invocations[0]
	if inv.ExecutionSuccessful == nil || !*inv.ExecutionSuccessful || len(inv.ToolExecutionNotifications) != 0 {
		t.Errorf("executionSuccessful = %v, notifications %+v; want true and none: validate ran", inv.ExecutionSuccessful, inv.ToolExecutionNotifications)
	}
}

// TestDeterministic renders each format twice, and once more from shuffled
// input: all must be byte-identical.
func TestDeterministic(t *testing.T) {
	files := sources(t)
	diags := fixture(t, files)
	rng := rand.New(rand.NewSource(1))
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			opts := Options{Files: files, ToolVersion: "1.2.3"}
			first := render(t, f, diags, opts)
			for i := 0; i < 5; i++ {
				shuffled := slices.Clone(diags)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if again := render(t, f, shuffled, opts); !bytes.Equal(first, again) {
					t.Fatalf("render %d differs:\n%s\n---\n%s", i, first, again)
				}
			}
		})
	}
}

func TestWriteDoesNotModifyInput(t *testing.T) {
	files := sources(t)
	diags := fixture(t, files)
	before := fmt.Sprintf("%#v", diags)
	order := slices.Clone(diags)
	for _, f := range Formats() {
		render(t, f, diags, Options{Files: files})
	}
	if !slices.Equal(order, diags) {
		t.Error("Write reordered its input")
	}
	if after := fmt.Sprintf("%#v", diags); after != before {
		t.Error("Write modified its input")
	}
	for _, d := range diags {
		if strings.HasPrefix(d.Summary, "[") {
			t.Errorf("summary modified: %q", d.Summary)
		}
	}
}

func TestTextColor(t *testing.T) {
	files := sources(t)
	diags := fixture(t, files)
	for _, tc := range []struct {
		color bool
		diags hcl.Diagnostics
	}{
		{false, diags},
		{true, diags},
		{false, nil},
		{true, nil},
	} {
		t.Run(fmt.Sprintf("color=%v/n=%d", tc.color, len(tc.diags)), func(t *testing.T) {
			out := render(t, FormatText, tc.diags, Options{Files: files, Color: tc.color})
			if got := bytes.IndexByte(out, 0x1b) >= 0; got != tc.color {
				t.Errorf("contains ESC = %v, want %v:\n%q", got, tc.color, out)
			}
		})
	}
	// Other formats never colour.
	for _, f := range []Format{FormatJSON, FormatSARIF, FormatGitHub, FormatGitLab} {
		if out := render(t, f, diags, Options{Files: files, Color: true}); bytes.IndexByte(out, 0x1b) >= 0 {
			t.Errorf("%s output contains ESC", f)
		}
	}
}

func TestTextSummaryCode(t *testing.T) {
	files := sources(t)
	diags := fixture(t, files)
	out := string(render(t, FormatText, diags, Options{Files: files}))
	syntax := 0
	for _, d := range diags {
		if diag.CodeOf(d) == diag.CodeSyntax {
			syntax++
		}
	}
	errs, warns := diag.Counts(diags)
	for _, want := range []string{
		"Error: [BP3001] Signing certificate not in personal store\n",
		"Warning: [BP5001] Weak digest algorithm\n",
		"Error: [BP1003] No group block\n\nThe configuration has no group block",
		`on conf/send ports.hcl line 9, in send_port "fabrikam":`,
		"\n\n" + summaryLine(errs, warns, false, false) + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "Error: [BP1000] "); n != syntax || n == 0 {
		t.Errorf("%d syntax errors in the text, want %d", n, syntax)
	}
	if !strings.HasSuffix(out, "\n\n4 errors, 1 warning.\n") {
		t.Errorf("text does not end with the summary line:\n%s", out)
	}
}

func TestSummaryLine(t *testing.T) {
	for _, tc := range []struct {
		errors, warnings int
		strict           bool
		want             string
	}{
		{0, 0, false, "Success! The configuration is valid."},
		{0, 1, false, "Success! The configuration is valid, with 1 warning."},
		{0, 3, false, "Success! The configuration is valid, with 3 warnings."},
		{1, 0, false, "1 error."},
		{2, 1, false, "2 errors, 1 warning."},
		{1, 2, false, "1 error, 2 warnings."},
		// --strict: warnings fail the command, so no "Success!".
		{0, 0, true, "Success! The configuration is valid."},
		{0, 1, true, "The configuration is valid, but --strict fails on 1 warning."},
		{0, 3, true, "The configuration is valid, but --strict fails on 3 warnings."},
		{2, 1, true, "2 errors, 1 warning."},
	} {
		if got := summaryLine(tc.errors, tc.warnings, tc.strict, false); got != tc.want {
			t.Errorf("summaryLine(%d, %d, strict %v) = %q, want %q", tc.errors, tc.warnings, tc.strict, got, tc.want)
		}
	}
}

// TestNoValuesPrinted: HCL's text writer prints "with var.x as ..." for a
// diagnostic with an expression and eval context; bizpipe must never print
// a value (sensitive variables).
func TestNoValuesPrinted(t *testing.T) {
	src := []byte("certificate_store \"s\" {\n  password = upper(var.p12_password)\n}\n")
	f, diags := hclsyntax.ParseConfig(src, "store.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	attr := f.Body.(*hclsyntax.Body).Blocks[0].Body.Attributes["password"]
	d := diag.Errorf(diag.CodeInvalidValue, attr.Expr.Range(), "Invalid value", "Bad password.")
	d.Expression = attr.Expr
	d.EvalContext = &hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{"p12_password": cty.StringVal("hunter2")}),
	}}
	for _, fm := range Formats() {
		out := render(t, fm, hcl.Diagnostics{d}, Options{Files: map[string][]byte{"store.hcl": src}})
		if bytes.Contains(out, []byte("hunter2")) {
			t.Errorf("%s output contains the variable's value:\n%s", fm, out)
		}
	}
}

// TestOddDiagnostics: no code, invalid severity, a subject without an end,
// a file that is not among the sources, an unknown code.
func TestOddDiagnostics(t *testing.T) {
	files := sources(t)
	off := bytes.Index(files[fileHosts], []byte(`host "send_host"`))
	noEnd := hcl.Range{Filename: fileHosts, Start: hcl.Pos{Line: 6, Column: 1, Byte: off}}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Uncoded", Subject: &noEnd},
		{Severity: hcl.DiagInvalid, Summary: "Invalid severity", Extra: diag.Extra{Code: diag.CodeUnused}},
		diag.Errorf("BP9999", hcl.Range{Filename: "elsewhere.hcl", Start: hcl.InitialPos, End: hcl.Pos{Line: 1, Column: 5, Byte: 4}}, "Future rule", ""),
		nil,
	}
	for _, f := range Formats() {
		out := render(t, f, diags, Options{Files: files})
		t.Logf("%s:\n%s", f, out)
		if f == FormatText && !strings.HasSuffix(string(out), "\n3 errors.\n") {
			t.Errorf("text summary wrong:\n%s", out)
		}
	}
	var doc JSONDocument
	if err := json.Unmarshal(render(t, FormatJSON, diags, Options{Files: files}), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Valid || doc.ErrorCount != 3 || doc.WarningCount != 0 {
		t.Errorf("header %+v, want 3 errors", doc)
	}
	for _, d := range doc.Diagnostics {
		if d.Range != nil && d.Range.End != d.Range.Start && d.Summary == "Uncoded" {
			t.Errorf("range without end not normalised: %+v", d.Range)
		}
		if d.Summary == "Future rule" && d.Snippet != nil {
			t.Errorf("snippet for a file without source: %+v", d.Snippet)
		}
	}
	sarif := string(render(t, FormatSARIF, diags, Options{Files: files}))
	for _, want := range []string{`"id": "BP9999"`, `"ruleId": "BP9999"`, `"id": "uncoded"`, `"ruleId": "uncoded"`} {
		if !strings.Contains(sarif, want) {
			t.Errorf("SARIF lacks %s:\n%s", want, sarif)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
		err  bool
	}{
		{"text", FormatText, false},
		{"json", FormatJSON, false},
		{"sarif", FormatSARIF, false},
		{" SARIF ", FormatSARIF, false},
		{"github", FormatGitHub, false},
		{"GitLab", FormatGitLab, false},
		{"", "", true},
		{"xml", "", true},
	} {
		got, err := ParseFormat(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseFormat(%q) = %q, %v", tc.in, got, err)
		}
	}
	var f Format
	if err := f.Set("json"); err != nil || f != FormatJSON || f.String() != "json" || f.Type() != "format" {
		t.Errorf("Set: %q %v", f, err)
	}
	if err := Write(&bytes.Buffer{}, "xml", nil, Options{}); err == nil {
		t.Error("Write accepted an unknown format")
	}
}

// TestSARIFColumnsAreCodePoints: SARIF regions count columns in Unicode
// code points, as the run's columnKind says, where HCL counts grapheme
// clusters (a letter and its combining accents, an emoji sequence are one
// column); without the source, HCL's columns are all there is.
func TestSARIFColumnsAreCodePoints(t *testing.T) {
	const name = "conf/hosts.hcl"
	for _, tc := range []struct {
		name, line string
		source     bool
		// startCol and endCol are the code point columns of "nosuch.x".
		startCol, endCol int
	}{
		{name: "ASCII", line: `  a = ["ee", nosuch.x]`, source: true, startCol: 14, endCol: 22},
		{name: "combining accents", line: "  a = [\"e\u0301e\u0301\", nosuch.x]", source: true, startCol: 16, endCol: 24},
		{name: "emoji sequence", line: "  a = [\"\U0001F469\u200D\U0001F4BB\", nosuch.x]", source: true, startCol: 15, endCol: 23},
		{name: "CJK", line: "  a = [\"\u6771\u4eac\", nosuch.x]", source: true, startCol: 14, endCol: 22},
		{name: "no source", line: "  a = [\"e\u0301e\u0301\", nosuch.x]", startCol: 14, endCol: 22},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := []byte("locals {\n" + tc.line + "\n}\n")
			f, ds := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			// HCL's range of the reference, as a diagnostic carries it.
			var rng hcl.Range
			for _, attr := range f.Body.(*hclsyntax.Body).Blocks[0].Body.Attributes {
				rng = attr.Expr.(*hclsyntax.TupleConsExpr).Exprs[1].Range()
			}
			d := diag.Errorf(diag.CodeUndeclared, rng, "Unknown name", "nosuch is not declared.")
			opts := Options{}
			if tc.source {
				opts.Files = map[string][]byte{name: src}
			}
			var log struct {
				Runs []struct {
					ColumnKind string
					Results    []struct {
						Locations []struct {
							PhysicalLocation struct {
								Region struct{ StartLine, StartColumn, EndLine, EndColumn int }
							}
						}
					}
				}
			}
			if err := json.Unmarshal(render(t, FormatSARIF, hcl.Diagnostics{d}, opts), &log); err != nil {
				t.Fatal(err)
			}
			if kind := log.Runs[0].ColumnKind; kind != "unicodeCodePoints" {
				t.Fatalf("columnKind %q", kind)
			}
			got := log.Runs[0].Results[0].Locations[0].PhysicalLocation.Region
			want := struct{ StartLine, StartColumn, EndLine, EndColumn int }{2, tc.startCol, 2, tc.endCol}
			if got != want {
				t.Errorf("region %+v, want %+v (HCL's columns %d-%d)", got, want, rng.Start.Column, rng.End.Column)
			}
		})
	}
}

func TestArtifactURI(t *testing.T) {
	for _, tc := range []struct{ in, uri, base string }{
		{"hosts.hcl", "hosts.hcl", "%SRCROOT%"},
		{"./conf/hosts.hcl", "conf/hosts.hcl", "%SRCROOT%"},
		{"conf/send ports.hcl", "conf/send%20ports.hcl", "%SRCROOT%"},
		{"conf/a#b?c%d.hcl", "conf/a%23b%3Fc%25d.hcl", "%SRCROOT%"},
		{"a:b.hcl", "a%3Ab.hcl", "%SRCROOT%"},
		{"../shared/x.hcl", "../shared/x.hcl", "%SRCROOT%"},
		{"conf/héllo.hcl", "conf/h%C3%A9llo.hcl", "%SRCROOT%"},
		{"/etc/bizpipe/main.hcl", "file:///etc/bizpipe/main.hcl", ""},
		{"/etc/biz pipe/main.hcl", "file:///etc/biz%20pipe/main.hcl", ""},
	} {
		uri, base := artifactURI(tc.in)
		if uri != tc.uri || base != tc.base {
			t.Errorf("artifactURI(%q) = %q, %q; want %q, %q", tc.in, uri, base, tc.uri, tc.base)
		}
	}
}

func TestWriteError(t *testing.T) {
	for _, f := range Formats() {
		if err := Write(failWriter{}, f, nil, Options{}); err == nil {
			t.Errorf("%s: write error not returned", f)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

// Guard against the JSON document type drifting from the documented key set.
func TestJSONDocumentFields(t *testing.T) {
	var names []string
	ty := reflect.TypeFor[JSONDiagnostic]()
	for i := range ty.NumField() {
		names = append(names, strings.Split(ty.Field(i).Tag.Get("json"), ",")[0])
	}
	if want := []string{"severity", "code", "summary", "detail", "range", "snippet"}; !slices.Equal(names, want) {
		t.Errorf("JSONDiagnostic fields %v, want %v", names, want)
	}
}

// The text format never writes a control character that came with a
// diagnostic (a file name or certificate subject in its detail, the name
// of a configuration file, or its source line: a configuration from a
// pull request), but the newlines between its own paragraphs and the
// tabs of source lines; the source snippet is still found under the
// escaped name.
// JSON keeps the text exact (its encoder escapes control characters).
func TestTextEscapesControlCharacters(t *testing.T) {
	const name = "conf/evil\x1b[2J\nError: forged.hcl"
	src := []byte("group \"g\" {\n\tx = \"\x1b]0;pwned\a\"\n}\n")
	rng := hcl.Range{Filename: name, Start: hcl.Pos{Line: 1, Column: 1, Byte: 0}, End: hcl.Pos{Line: 2, Column: 6, Byte: 17}}
	detail := "File stores/x\x1b]0;pwned\a.pem cannot be parsed.\n\nSecond \u202eparagraph\r."
	d := diag.Errorf(diag.CodeStoreFile, rng, "Store file \x1b[8mcannot be parsed", "%s", detail)
	var text bytes.Buffer
	if err := Write(&text, FormatText, hcl.Diagnostics{d}, Options{Files: map[string][]byte{name: src}}); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for i, r := range out {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || r == '\u202e' {
			t.Fatalf("control character %q at byte %d:\n%s", r, i, out)
		}
	}
	for _, want := range []string{
		`Error: [BP2002] Store file \x1b[8mcannot be parsed` + "\n",
		`  on "conf/evil\x1b[2J\nError: forged.hcl" line 1, in group "g":` + "\n",
		`   1: group "g" {` + "\n",
		"   2: \tx = " + `"\x1b]0;pwned\a"` + "\n",
		`File stores/x\x1b]0;pwned\a.pem cannot be parsed.` + "\n\nSecond " + `\u202eparagraph\r.` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	var js bytes.Buffer
	if err := Write(&js, FormatJSON, hcl.Diagnostics{d}, Options{Files: map[string][]byte{name: src}}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Diagnostics []struct {
			Detail string
			Range  struct{ Filename string }
		}
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Diagnostics) != 1 || doc.Diagnostics[0].Detail != detail || doc.Diagnostics[0].Range.Filename != name {
		t.Errorf("JSON changed the diagnostic: %+v", doc.Diagnostics)
	}
}
