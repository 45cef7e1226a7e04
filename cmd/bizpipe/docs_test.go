package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/diff"

	"github.com/bizpipe/bizpipe/internal/docgen"
	"github.com/bizpipe/bizpipe/internal/registry"
	"github.com/bizpipe/bizpipe/internal/validate/report"
)

// referenceCLI describes the command line for the reference: the command
// tree, and the JSON documents commands print, each with a sample made by
// the code that prints it.
func referenceCLI(t *testing.T) *docgen.CLI {
	t.Helper()
	e := &env{stdout: io.Discard, stderr: io.Discard, lookupEnv: noEnv}
	detail := sampleMessageDetail()
	return &docgen.CLI{
		Root: newRootCmd(e),
		JSON: []docgen.JSONDoc{
			{
				Command: "bizpipe validate --format json",
				Doc: "Terraform's `validate -json` shape, plus each diagnostic's `code`. It is one\n" +
					"document whatever happens, even for a syntax error or a usage error (exit 2,\n" +
					"one diagnostic without a code or range). The example is what validate prints\n" +
					"for `examples/misconfigured`.",
				Sample: validateSample(t),
			},
			{
				Command: "bizpipe validate --format sarif",
				Doc: "A [SARIF 2.1.0](https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html)\n" +
					"log for code-scanning tools (GitHub code scanning, GitLab): one run whose tool\n" +
					"lists every [diagnostic code](diagnostics.md) as a rule, and one result per\n" +
					"diagnostic with `ruleId` = the code. A result's location is its file and region;\n" +
					"for a finding about a file but no position in it (a file that cannot be read),\n" +
					"the file without a region; for one about no file (such as a missing group\n" +
					"block), `.`, the directory validate ran in, without a region. A usage error\n" +
					"(exit 2), which is no finding, is a tool execution notification instead, with\n" +
					"`executionSuccessful` false.",
			},
			{
				Command: "bizpipe validate --format gitlab",
				Doc: "A [GitLab Code Quality](https://docs.gitlab.com/ci/testing/code_quality/)\n" +
					"report: an array with one object per diagnostic, [] when there are none. The\n" +
					"example is what validate prints for `examples/misconfigured`.",
				Sample: gitlabSample(t),
			},
			{
				Command: "bizpipe messages list --format json",
				Doc:     "The messages of the box that match `--status`, `--location`, `--port`, `--party` and `--since`, newest first.",
				Sample:  jsonMessageList{Messages: []jsonMessage{toJSONMessage(detail.Message)}},
			},
			{
				Command: "bizpipe messages show --format json",
				Doc:     "One message with its deliveries, their attempts and its history.",
				Sample:  toJSONDetail(detail),
			},
			{
				Command: "bizpipe messages resume --format json",
				Doc: "`resume ID` prints `{\"resumed\": [\"ID\"]}`. With `--all-suspended`, `\"resumed\"` lists\n" +
					"every message resumed, oldest first, and `\"skipped\"` those left alone, each with\n" +
					"its `\"id\"` and the `\"reason\"` (both `[]` when there are none):\n\n" +
					"```json\n{\"resumed\": [\"01m8djzxdf3m4vr2at1vy2kb3t\"], \"skipped\": [{\"id\": \"01m8dk0q9c7v2b8x5w3n4r6t1a\", \"reason\": \"...\"}]}\n```",
			},
			{
				Command: "bizpipe messages terminate --format json",
				Doc:     "As for `resume`, with the key `\"terminated\"`: `{\"terminated\": [\"ID\"]}`, and with\n`--all-suspended` also `\"skipped\"`.",
			},
			{
				Command: "bizpipe messages resume --all-suspended --dry-run --format json",
				Doc: "What a bulk resume would do, doing nothing: `\"would_resume\"` lists the messages,\n" +
					"oldest first, and `\"skipped\"` those it would leave alone, with the reason, as\n" +
					"above. So for `terminate`, with the key `\"would_terminate\"`.",
			},
			{
				Command: "bizpipe messages resubmit --format json",
				Doc:     "The copy a resubmission stored, and where it went.",
				Sample:  jsonResubmitted{ID: "01m8dk0q9c7v2b8x5w3n4r6t1a", From: "01m8djzxdf3m4vr2at1vy2kb3t", Port: "fabrikam"},
			},
			{
				Command: "bizpipe messages purge --format json",
				Doc:     "How many messages the purge deleted.",
				Sample:  jsonPurged{Purged: 42},
			},
			{
				Command: "bizpipe messages purge --dry-run --format json",
				Doc:     "How many messages the purge would delete; it deletes none.",
				Sample:  jsonPurgeable{WouldPurge: 42},
			},
			{
				Command: "bizpipe route --format json",
				Doc: "Where a message would go: every send port with whether its filter matches and,\n" +
					"for those that do, the target or why the delivery would be suspended. The\n" +
					"example is the quickstart's first sample order.",
				Sample: routeSample(t),
			},
			{
				Command: "bizpipe certs --format json",
				Doc: "Every store's certificates. The example is the first certificate of the first\n" +
					"store of `examples/quickstart`.",
				Sample: certsSample(t),
			},
			{
				Command: "bizpipe certs --expiring-within DURATION --format json",
				Doc: "The certificates in use that expire within DURATION, and those not found\n" +
					"where they are needed. The example is `examples/inbound` with DURATION 36500d.",
				Sample: expiringSample(t),
			},
		},
	}
}

// messageIDPattern matches a message id (msgbox.ValidID's form).
var messageIDPattern = regexp.MustCompile(`\b[0-9a-z]{26}\b`)

// routeSample is what route --format json prints for the quickstart's
// first sample order. It runs in the repository's root (see TestDocs).
func routeSample(t *testing.T) routeDocument {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := []string{"route", "--format", "json", "--location", "orders_in", "--file", "examples/quickstart/samples/order-1001.xml", "examples/quickstart"}
	if code := run(args, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("route: exit %d\n%s", code, &stderr)
	}
	var doc routeDocument
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("route --format json: %v\n%s", err, &stdout)
	}
	// The quickstart names its output after the message id, new in every
	// route: the sample's own keeps the reference the same from run to run.
	for i := range doc.SendPorts {
		doc.SendPorts[i].Target = messageIDPattern.ReplaceAllString(doc.SendPorts[i].Target, "01m8djzxdf3m4vr2at1vy2kb3t")
	}
	return doc
}

// validateSample is what validate --format json prints for the
// misconfigured example. It runs in the repository's root (see TestDocs).
func validateSample(t *testing.T) report.JSONDocument {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", "--format", "json", "examples/misconfigured"}, &stdout, &stderr, noEnv); code != exitFindings {
		t.Fatalf("validate examples/misconfigured: exit %d, want %d\n%s", code, exitFindings, &stderr)
	}
	var doc report.JSONDocument
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// gitlabSample is what validate --format gitlab prints for the
// misconfigured example. It runs in the repository's root (see TestDocs).
func gitlabSample(t *testing.T) []report.GitLabIssue {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", "--format", "gitlab", "examples/misconfigured"}, &stdout, &stderr, noEnv); code != exitFindings {
		t.Fatalf("validate --format gitlab examples/misconfigured: exit %d, want %d\n%s", code, exitFindings, &stderr)
	}
	var issues []report.GitLabIssue
	if err := json.Unmarshal(stdout.Bytes(), &issues); err != nil {
		t.Fatal(err)
	}
	return issues
}

// certsSample is what certs --format json prints for the quickstart
// example, cut to the first certificate of the first store. It runs in the
// repository's root (see TestDocs).
func certsSample(t *testing.T) certsDocument {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"certs", "--format", "json", "examples/quickstart"}, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("certs examples/quickstart: exit %d\n%s", code, &stderr)
	}
	var doc certsDocument
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Stores) == 0 || len(doc.Stores[0].Certificates) == 0 {
		t.Fatalf("certs listed no certificate:\n%s", &stdout)
	}
	doc.Stores = doc.Stores[:1]
	doc.Stores[0].Certificates = doc.Stores[0].Certificates[:1]
	return doc
}

// expiringSample is what certs --expiring-within 36500d --format json
// prints for the inbound example (its demo certificates expire in 2079).
func expiringSample(t *testing.T) expiringDocument {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"certs", "--expiring-within", "36500d", "--format", "json", "examples/inbound"}, &stdout, &stderr, noEnv); code != exitFindings {
		t.Fatalf("certs --expiring-within examples/inbound: exit %d\n%s", code, &stderr)
	}
	var doc expiringDocument
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestDocs checks that docs/ is the reference the code generates: the
// language's blocks, the registered components, the diagnostic codes and
// this command tree. go test ./cmd/bizpipe -run TestDocs -update rewrites it.
func TestDocs(t *testing.T) {
	// The samples run commands on the examples as a user in the
	// repository's root would, so that the paths they show are those.
	t.Chdir("../..")
	const docsDir = "docs"
	files, err := docgen.Generate(registry.Builtin(), referenceCLI(t))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := filepath.Glob(filepath.Join(docsDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll(docsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range committed {
			if _, ok := files[filepath.Base(p)]; !ok && !docgen.IsGuide(filepath.Base(p)) {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(docsDir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for _, p := range committed {
		if _, ok := files[filepath.Base(p)]; !ok && !docgen.IsGuide(filepath.Base(p)) {
			t.Errorf("%s is not generated any more, nor a guide of docgen.Guides (go test ./cmd/bizpipe -run TestDocs -update removes it)", p)
		}
	}
	for _, g := range docgen.Guides {
		if _, err := os.Stat(filepath.Join(docsDir, g.File)); err != nil {
			t.Errorf("docgen.Guides lists %s, a hand-written page of docs/: %v", g.File, err)
		}
	}
	for name, want := range files {
		p := filepath.Join(docsDir, name)
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v (go test ./cmd/bizpipe -run TestDocs -update writes it)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the code generates (go test ./cmd/bizpipe -run TestDocs -update rewrites it):\n%s",
				p, diff.Diff(p, got, "generated", want))
		}
	}
}

// Markers of the README's exit code table, which TestREADMEExitCodes keeps
// equal to the reference's.
const (
	exitCodesBegin = "<!-- exit-codes:begin (generated from the commands; TestREADMEExitCodes checks it) -->\n"
	exitCodesEnd   = "<!-- exit-codes:end -->\n"
)

// TestREADMEExitCodes checks that the README's exit code table is the one
// the commands declare (the one docs/cli.md shows); -update rewrites it.
func TestREADMEExitCodes(t *testing.T) {
	const path = "../../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(readme, []byte(exitCodesBegin))
	j := bytes.Index(readme, []byte(exitCodesEnd))
	if i < 0 || j < i {
		t.Fatalf("README.md has no exit code table between %q and %q", exitCodesBegin, exitCodesEnd)
	}
	e := &env{stdout: io.Discard, stderr: io.Discard, lookupEnv: noEnv}
	want := docgen.ExitCodesTable(newRootCmd(e))
	got := string(readme[i+len(exitCodesBegin) : j])
	if got == want {
		return
	}
	if *update {
		out := slices.Concat(readme[:i+len(exitCodesBegin)], []byte(want), readme[j:])
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's exit code table differs from the commands' (go test ./cmd/bizpipe -run TestREADMEExitCodes -update rewrites it):\n%s",
		diff.Diff("README.md", []byte(got), "generated", []byte(want)))
}

// mdLink matches the target of a Markdown link or image: ](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocLinks checks the links of the README and of docs/: a relative link
// names a file of the repository (none outside it), and an anchor a heading
// of its file.
func TestDocLinks(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, filepath.Join(root, "README.md"))
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := headingAnchors(t, path)
		anchors[path] = a
		return a
	}
	for _, page := range pages {
		src, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, page)
		for _, m := range mdLink.FindAllStringSubmatch(stripCode(string(src)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			dest := page
			if file != "" {
				dest = filepath.Join(filepath.Dir(page), filepath.FromSlash(file))
				if r, err := filepath.Rel(root, dest); err != nil || strings.HasPrefix(r, "..") {
					t.Errorf("%s: link %q leaves the repository", rel, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %q: %v", rel, target, err)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(dest, ".md") && !anchorsOf(dest)[anchor] {
				t.Errorf("%s: link %q: no heading with that anchor", rel, target)
			}
		}
	}
}

// headingAnchors returns the anchors of a Markdown file's headings, with
// GitHub's -1, -2 suffixes for repeated ones.
func headingAnchors(t *testing.T, path string) map[string]bool {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	count := map[string]int{}
	for _, line := range strings.Split(stripCode(string(src)), "\n") {
		h := strings.TrimLeft(line, "#")
		if h == line || !strings.HasPrefix(h, " ") {
			continue
		}
		a := docgen.Anchor(strings.TrimSpace(strings.ReplaceAll(h, "`", "")))
		if n := count[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		count[a]++
	}
	return out
}

// stripCode blanks fenced code blocks, whose lines are neither headings nor
// links.
func stripCode(s string) string {
	lines := strings.Split(s, "\n")
	in := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			lines[i] = ""
			continue
		}
		if in {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}
