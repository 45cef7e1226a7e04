package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

func noEnv(string) (string, bool) { return "", false }

// expectRe matches "# expect: BP1001" (the diagnostic is on this line) or
// "# expect: BP1003 @ 0" (explicit line; 0 means no source range).
var expectRe = regexp.MustCompile(`# expect: (BP\d{4})(?: @ (\d+))?`)

// wantDiags reads the expectations written in a fixture file.
func wantDiags(t *testing.T, path string) []string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, line := range strings.Split(string(src), "\n") {
		for _, m := range expectRe.FindAllStringSubmatch(line, -1) {
			n := i + 1
			if m[2] != "" {
				n, _ = strconv.Atoi(m[2])
			}
			want = append(want, fmt.Sprintf("%s@%d", m[1], n))
		}
	}
	sort.Strings(want)
	return want
}

func gotDiags(diags hcl.Diagnostics) []string {
	var got []string
	for _, d := range diags {
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		got = append(got, fmt.Sprintf("%s@%d", diag.CodeOf(d), line))
	}
	sort.Strings(got)
	return got
}

// TestInvalidFiles checks that every fixture under testdata/invalid-files
// produces exactly the diagnostics its "# expect:" comments name, on those lines.
func TestInvalidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-files/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := wantDiags(t, f)
			if len(want) == 0 {
				t.Fatal("fixture has no # expect: comment")
			}
			_, diags := Load([]string{f}, Options{LookupEnv: noEnv})
			got := gotDiags(diags)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("diagnostics\n got: %v\nwant: %v\n%s", got, want, diags.Error())
			}
			for _, d := range diags {
				if diag.CodeOf(d) == "" {
					t.Errorf("diagnostic without a code: %s", d.Error())
				}
				if d.Detail == "" && diag.CodeOf(d) != diag.CodeSyntax {
					t.Errorf("diagnostic without detail: %s", d.Error())
				}
			}
		})
	}
}

// TestValidFiles checks that the fixtures under testdata/valid-files decode
// with no diagnostics and that every attribute reaches the model.
func TestValidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/valid-files/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, diags := Load([]string{f}, Options{LookupEnv: noEnv})
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%s", diags.Error())
			}
			if cfg.Group == nil {
				t.Fatal("no group decoded")
			}
		})
	}
}

// TestExtraneousLabelsDecoded: a block that takes no labels, given one, is
// decoded as if it had none (HCL reports the label): the host keeps its
// instance, which the rules would otherwise find missing (BP3006, and
// BP5002 for its server and service account), and the retry block counts.
func TestExtraneousLabelsDecoded(t *testing.T) {
	cfg, _ := Load([]string{"testdata/invalid-files/extraneous-labels.hcl"}, Options{LookupEnv: noEnv})
	if len(cfg.Hosts) != 1 || len(cfg.Hosts[0].Instances) != 1 || cfg.Hosts[0].Instances[0].ServerRef.Name != "srv" {
		t.Errorf("hosts %+v, want h with its instance on srv", cfg.Hosts)
	}
	if len(cfg.SendPorts) != 1 || cfg.SendPorts[0].Retry.Attempts.V != 1 {
		t.Errorf("send ports %+v, want p with 1 retry attempt", cfg.SendPorts)
	}
	if len(cfg.Locals) != 1 || cfg.Locals[0].Name != "a" {
		t.Errorf("locals %+v, want a", cfg.Locals)
	}
}

// TestMislabeledJSON: in a JSON file, a block whose labels are missing (its
// attributes written where its name goes) is one error, HCL's, as in a
// native file (mislabeled.hcl): not also "No group block" (BP1003), a
// "Missing transport block" for a location that has one; and the send port
// left out counts as skipped (model.Config.Skipped), so that the routing
// rules do not warn (BP1007) that no send port takes the location's messages.
func TestMislabeledJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mislabeled.hcl.json")
	writeTestFile(t, path, `{
  "group": {"signing_certificate": "9F1C3A2200000000000000000000000000000001"},
  "server": {"srv": {}},
  "host": {"h": {}},
  "receive_location": {"r": {
    "host": "host.h",
    "transport": {"path": "in"}
  }},
  "send_port": {"host": "host.h"}
}
`)
	cfg, diags := Load([]string{path}, Options{LookupEnv: noEnv})
	want := []string{"BP1004@2", "BP1004@7", "BP1004@9"}
	if got := gotDiags(diags); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("diagnostics\n got: %v\nwant: %v\n%s", got, want, diags.Error())
	}
	if !cfg.Skipped["group"] || !cfg.Skipped["send_port"] {
		t.Errorf("skipped %v, want group and send_port", cfg.Skipped)
	}
}
