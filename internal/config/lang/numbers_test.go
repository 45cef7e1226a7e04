package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestDecimalExponent: the magnitude a number out of range is reported
// with is its exponent in scientific notation. It was the binary exponent
// times 0.301, which made 1e999999 "about 10^999899" and 1e100000 "about
// 10^99990".
func TestDecimalExponent(t *testing.T) {
	tests := []struct {
		number string
		want   int
	}{
		{"1", 0},
		{"9", 0},
		{"10", 1},
		{"123", 2},
		{"0.5", -1},
		{"0.001", -3},
		{"-250", 2},
		{"1e100000", 100000},
		{"1e999999", 999999},
		{"5e999999", 999999},
		{"9.99e4999", 4999},
		{"-1e5000", 5000},
		{"1e-999999", -999999},
		{"2.5e-5000", -5000},
		{"1e300000000", 300000000},
		{"1e-300000000", -300000000},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			if got := decimalExponent(cty.MustParseNumberVal(tt.number).AsBigFloat()); got != tt.want {
				t.Errorf("decimalExponent(%s) = %d, want %d", tt.number, got, tt.want)
			}
		})
	}
	if maxDecimalExponent != 4932 || maxNumberDigits != 4933 { // 2^16384 is about 1.19e4932
		t.Errorf("bounds 10^%d, %d digits; want 10^4932, 4933 digits", maxDecimalExponent, maxNumberDigits)
	}
}

// TestNumberOutOfRangeMessage: the BP1004 of a number literal out of range
// states its magnitude and the bounds as they are.
func TestNumberOutOfRangeMessage(t *testing.T) {
	tests := []struct{ literal, want string }{
		{"1e999999", "This number is about 10^999999;"},
		{"1e100000", "This number is about 10^100000;"},
		{"-3e5000", "This number is about 10^5000;"},
		{"1e-999999", "This number is about 10^-999999;"},
	}
	for _, tt := range tests {
		t.Run(tt.literal, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "main.hcl")
			src := "group \"g\" {}\nlocals {\n  a = " + tt.literal + "\n}\n"
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, diags := Load([]string{path}, Options{LookupEnv: noEnv})
			if len(diags) != 1 || diag.CodeOf(diags[0]) != diag.CodeInvalidValue {
				t.Fatalf("diagnostics %v, want one BP1004", diags)
			}
			if d := diags[0].Detail; !strings.Contains(d, tt.want) || !strings.Contains(d, "between about 10^-4932 and 10^4932") {
				t.Errorf("detail %q, want %q and the bounds 10^-4932 and 10^4932", d, tt.want)
			}
		})
	}
}

// TestJSONNumbers: a number in a *.hcl.json file is checked as a native
// literal is: one out of range is BP1004 and unknown (1e999999 validated,
// and 1e300000000 took minutes to print once it became text), in a value
// or in a string's template alike; and one of more characters than a
// number may have is refused before HCL reads it (a million digits took it
// seconds, a file of them minutes).
func TestJSONNumbers(t *testing.T) {
	const group = `"group": {"g": {"signing_certificate": "4E077EB5555B50DCBCBF3D7261281954D2A1999D"}}`
	tests := []struct {
		name    string
		locals  string // the members of the locals object
		code    diag.Code
		summary string
	}{
		{"value", `"a": 1e999999`, diag.CodeInvalidValue, "Number out of range"},
		{"huge value printed", `"a": 1e300000000, "b": "x${local.a}"`, diag.CodeInvalidValue, "Number out of range"},
		{"tiny value", `"a": -1e-999999`, diag.CodeInvalidValue, "Number out of range"},
		{"nested", `"a": [{"b": [1, 1e999999]}]`, diag.CodeInvalidValue, "Number out of range"},
		{"template", `"a": "x${1e300000000}"`, diag.CodeInvalidValue, "Number out of range"},
		{"template arithmetic", `"a": 1e3000, "b": "x${local.a * local.a}"`, diag.CodeInvalidValue, "Operation failed"},
		{"long literal", `"a": ` + strings.Repeat("9", maxNumberChars+1), diag.CodeSyntax, "Number too long"},
		{"long literal in a template", `"a": "${` + strings.Repeat("9", maxNumberChars+1) + `}"`, diag.CodeSyntax, "Number too long"},
		{"within", `"a": 1e4000, "b": -2.5e-4000, "c": "x${1e300}"`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "main.hcl.json")
			if err := os.WriteFile(path, []byte(`{`+group+`, "locals": {`+tt.locals+`}}`), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, diags := Load([]string{path}, Options{LookupEnv: noEnv})
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("Load took %s", d)
			}
			if tt.summary == "" {
				if len(diags) > 0 {
					t.Fatalf("unexpected diagnostics: %s", diags.Error())
				}
				return
			}
			if len(diags) != 1 || diag.CodeOf(diags[0]) != tt.code || diags[0].Summary != tt.summary {
				t.Fatalf("diagnostics %v, want one %s %q", diags, tt.code, tt.summary)
			}
		})
	}
}

// TestVariableNumbers: a number out of range given to a variable (in a
// variables file of either syntax, on the command line, in the
// environment) is refused too: none of them is a configuration file, whose
// literals are checked as they are parsed.
func TestVariableNumbers(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "main.hcl")
	writeTestFile(t, main, nestingGroup+`variable "n" {
  type = number
}
variable "s" {
  type    = string
  default = "x"
}
locals {
  s = "x${var.n}"
}
`)
	hclVars := filepath.Join(dir, "vars.hclvars")
	writeTestFile(t, hclVars, "n = 1e300000000\n")
	jsonVars := filepath.Join(dir, "vars.json")
	writeTestFile(t, jsonVars, `{"n": 1e300000000}`)
	env := func(k string) (string, bool) { return "1e300000000", k == "BIZPIPE_VAR_n" }
	tests := []struct {
		name   string
		opts   Options
		detail string
	}{
		{"hcl var file", Options{VarFiles: []string{hclVars}, LookupEnv: noEnv}, "This number is about 10^300000000"},
		{"json var file", Options{VarFiles: []string{jsonVars}, LookupEnv: noEnv}, "This number is about 10^300000000"},
		{"--var", Options{Vars: []string{"n=1e300000000"}, LookupEnv: noEnv}, "The value of --var n has a number out of range"},
		{"environment", Options{LookupEnv: env}, "The value of BIZPIPE_VAR_n has a number out of range"},
		{"--var digits", Options{Vars: []string{"n=" + strings.Repeat("9", maxNumberChars+1)}, LookupEnv: noEnv}, "has a number of more than 5,000 characters"},
		{"--var digits as a string", Options{Vars: []string{"s=" + strings.Repeat("9", maxNumberChars+1)}, LookupEnv: noEnv}, "would be read as a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, diags := Load([]string{main}, tt.opts)
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("Load took %s", d)
			}
			if len(diags) != 1 || diag.CodeOf(diags[0]) != diag.CodeInvalidValue || !strings.Contains(diags[0].Detail, tt.detail) {
				t.Fatalf("diagnostics %v, want one BP1004 saying %q", diags, tt.detail)
			}
		})
	}
}

// TestLongNumberLiterals: a number literal longer than any number is
// refused before HCL reads it (a million digits took 6 s, in time that
// grows with their square), in either syntax, and in a string's template.
func TestLongNumberLiterals(t *testing.T) {
	digits := strings.Repeat("9", 1_000_000)
	tests := []struct{ name, file, src string }{
		{"native", "main.hcl", nestingGroup + "locals {\n  a = " + digits + "\n}\n"},
		{"native template", "main.hcl", nestingGroup + "locals {\n  a = \"${" + digits + "}\"\n}\n"},
		{"native exponent", "main.hcl", nestingGroup + "locals {\n  a = 1e" + digits + "\n}\n"},
		{"json", "main.hcl.json", `{"locals": {"a": ` + digits + `}}`},
		{"json template", "main.hcl.json", `{"locals": {"a": "${` + digits + `}"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			writeTestFile(t, path, tt.src)
			start := time.Now()
			_, diags := Load([]string{path}, Options{LookupEnv: noEnv})
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Load took %s", d)
			}
			if len(diags) != 1 || diag.CodeOf(diags[0]) != diag.CodeSyntax || diags[0].Summary != "Number too long" {
				t.Fatalf("diagnostics %v, want one BP1000 \"Number too long\"", diags)
			}
		})
	}
}
