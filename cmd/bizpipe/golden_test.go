package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/diff"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden (go test ./cmd/bizpipe -update)")

// TestGolden compares validate's text, JSON and SARIF reports byte for byte
// with testdata/golden/NAME.FORMAT.golden. Each case runs in-process from the
// directory that holds its configuration, so every path in the output is the
// relative one a user would type, the same on every machine.
func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		dir  string // working directory, relative to this package
		args []string
		code int
	}{
		// A clean configuration: the quickstart example.
		{"quickstart", examplesDir, []string{"quickstart"}, exitOK},
		// The misconfigured example: BP3002 on srv2's instance.
		{"misconfigured", examplesDir, []string{"misconfigured"}, exitFindings},
		// Errors and warnings across two files (testdata/golden/multi).
		{"multi", "testdata/golden", []string{"multi"}, exitFindings},
		// Files named directly, one of them a .hcl.json file, one with a
		// syntax error: only the syntax errors are reported.
		{"syntax", "testdata/golden", []string{"syntax/group.hcl", "syntax/servers.hcl.json"}, exitFindings},
	}
	for _, c := range cases {
		for _, format := range []string{"text", "json", "sarif"} {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				golden, err := filepath.Abs(filepath.Join("testdata", "golden", c.name+"."+format+".golden"))
				if err != nil {
					t.Fatal(err)
				}
				t.Chdir(c.dir)
				var stdout, stderr bytes.Buffer
				args := append([]string{"validate", "--format", format}, c.args...)
				code := run(args, &stdout, &stderr, noEnv)
				if code != c.code {
					t.Errorf("exit status %d, want %d", code, c.code)
				}
				if stderr.Len() > 0 {
					t.Errorf("stderr is not empty:\n%s", &stderr)
				}
				got := normaliseVersion(stdout.Bytes())
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./cmd/bizpipe -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s output differs from %s (run go test ./cmd/bizpipe -update if the change is intended):\n%s",
						format, golden, diff.Diff("want", want, "got", got))
				}
				if format != "text" {
					if err := singleJSON(got); err != nil {
						t.Error(err)
					}
				}
				if strings.Contains(string(got), "\x1b[") {
					t.Error("colour codes in output to a non-terminal")
				}
			})
		}
	}
}

// noEnv is an empty environment, so that no BIZPIPE_VAR_* or NO_COLOR of the
// developer's shell changes the output.
func noEnv(string) (string, bool) { return "", false }

// normaliseVersion replaces the bizpipe version in a SARIF report, which
// depends on how the test binary was built, with a fixed placeholder.
func normaliseVersion(out []byte) []byte {
	const uri = `"informationUri": "https://github.com/bizpipe/bizpipe",`
	old := uri + "\n          \"version\": \"" + version() + "\","
	return bytes.ReplaceAll(out, []byte(old), []byte(uri+"\n          \"version\": \"VERSION\","))
}
