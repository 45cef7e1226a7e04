package lang

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestVariableSources: a variable takes its value from --var, then
// --var-file, then BIZPIPE_VAR_NAME, then its default (language §3): each
// source wins over every later one; of several --var the last wins, of
// several --var-file the later file; the environment variable's name is
// the variable's exactly; and a variable with no value is unknown during
// validate (no diagnostic) and an error (BP1004) during run. The value given
// for a variable of another type than string is read as an expression.
func TestVariableSources(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "main.hcl"), nestingGroup+`
variable "v" {
  default = "default"
}
variable "n" {
  type    = number
  default = 1
}
variable "none" {}
`)
	first := filepath.Join(dir, "first.hclvars")
	writeTestFile(t, first, "v = \"first file\"\nn = 2\n")
	second := filepath.Join(dir, "second.hclvars")
	writeTestFile(t, second, "v = \"second file\"\n")
	jsonFile := filepath.Join(dir, "vars.json")
	writeTestFile(t, jsonFile, `{"v": "json file", "n": 3}`)
	env := func(kv ...string) func(string) (string, bool) {
		return func(name string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == name {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}

	tests := []struct {
		name     string
		opts     Options
		v        string
		n        int64
		noneSet  string // the value of none, "" when none is given
		runError bool   // ModeRun reports none without a value
	}{
		{name: "default", opts: Options{LookupEnv: noEnv}, v: "default", n: 1, runError: true},
		{name: "environment over default",
			opts: Options{LookupEnv: env("BIZPIPE_VAR_v", "env", "BIZPIPE_VAR_n", "7", "BIZPIPE_VAR_none", "x")},
			v:    "env", n: 7, noneSet: "x"},
		{name: "environment name is the variable's exactly",
			opts: Options{LookupEnv: env("BIZPIPE_VAR_V", "upper", "bizpipe_var_v", "lower", "BIZPIPE_VAR_NONE", "x")},
			v:    "default", n: 1, runError: true},
		{name: "var-file over environment",
			opts: Options{VarFiles: []string{first}, LookupEnv: env("BIZPIPE_VAR_v", "env", "BIZPIPE_VAR_n", "7")},
			v:    "first file", n: 2, runError: true},
		{name: "later var-file wins",
			opts: Options{VarFiles: []string{first, second}, LookupEnv: noEnv},
			v:    "second file", n: 2, runError: true},
		{name: "earlier var-file loses",
			opts: Options{VarFiles: []string{second, first}, LookupEnv: noEnv},
			v:    "first file", n: 2, runError: true},
		{name: "JSON var-file",
			opts: Options{VarFiles: []string{jsonFile}, LookupEnv: noEnv},
			v:    "json file", n: 3, runError: true},
		{name: "--var over var-file and environment",
			opts: Options{Vars: []string{"v=cli", "n=4+1"}, VarFiles: []string{first}, LookupEnv: env("BIZPIPE_VAR_v", "env")},
			v:    "cli", n: 5, runError: true},
		{name: "last --var wins",
			opts: Options{Vars: []string{"v=one", "v=two", "none=x=y"}, LookupEnv: noEnv},
			v:    "two", n: 1, noneSet: "x=y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []Mode{ModeValidate, ModeRun} {
				opts := tt.opts
				opts.Mode = mode
				cfg, diags := Load([]string{filepath.Join(dir, "main.hcl")}, opts)
				var errs hcl.Diagnostics
				for _, d := range diags {
					if d.Severity == hcl.DiagError {
						errs = append(errs, d)
					}
				}
				wantErr := mode == ModeRun && tt.runError
				switch {
				case wantErr && (len(errs) != 1 || diag.CodeOf(errs[0]) != diag.CodeInvalidValue ||
					!strings.Contains(errs[0].Detail, `Variable "none" has no default`)):
					t.Errorf("mode %d: errors %v, want one BP1004 saying none has no value", mode, errs)
				case !wantErr && len(errs) > 0:
					t.Errorf("mode %d: unexpected errors: %s", mode, errs.Error())
				}
				got := map[string]cty.Value{}
				for _, v := range cfg.Variables {
					got[v.Name] = v.Value
				}
				if v := got["v"]; !v.IsKnown() || v.AsString() != tt.v {
					t.Errorf("mode %d: v = %#v, want %q", mode, v, tt.v)
				}
				if n := got["n"]; !n.IsKnown() || n.Type() != cty.Number || !n.RawEquals(cty.NumberIntVal(tt.n)) {
					t.Errorf("mode %d: n = %#v, want %d", mode, n, tt.n)
				}
				switch none := got["none"]; {
				case tt.noneSet != "" && (!none.IsKnown() || none.AsString() != tt.noneSet):
					t.Errorf("mode %d: none = %#v, want %q", mode, none, tt.noneSet)
				case tt.noneSet == "" && none.IsKnown():
					t.Errorf("mode %d: none = %#v without a value, want it unknown", mode, none)
				}
			}
		})
	}
}

// TestVariableOptionalDefaults: a variable's type takes Terraform's
// optional(TYPE, DEFAULT), and the default fills an attribute the value
// leaves out (or sets to null), whichever source gives the value, at any
// depth; optional(TYPE) alone is null. optional(number, 3) was refused
// (BP1004 "Optional attribute modifier expects only one argument"), and
// every use of the attribute was another error.
func TestVariableOptionalDefaults(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "main.hcl"), nestingGroup+`
variable "p" {
  type = object({
    name    = string
    retries = optional(number, 3)
    tags    = optional(list(object({ k = optional(string, "dk") })), [])
    note    = optional(string)
  })
  default = { name = "default" }
}
locals {
  retries = var.p.retries + 1
}
`)
	hclFile := filepath.Join(dir, "vars.hclvars")
	writeTestFile(t, hclFile, `p = { name = "file", tags = [{}] }`)
	jsonFile := filepath.Join(dir, "vars.json")
	writeTestFile(t, jsonFile, `{"p": {"name": "json", "retries": null, "tags": [{"k": "jk"}]}}`)
	for _, tc := range []struct {
		name    string
		opts    Options
		want    string // name
		retries int64
		tags    []string
	}{
		{"default", Options{LookupEnv: noEnv}, "default", 3, nil},
		{"--var", Options{Vars: []string{`p={name = "cli", retries = 5}`}, LookupEnv: noEnv}, "cli", 5, nil},
		{"environment", Options{LookupEnv: func(n string) (string, bool) {
			return `{name = "env", tags = [{}, {k = "x"}]}`, n == "BIZPIPE_VAR_p"
		}}, "env", 3, []string{"dk", "x"}},
		{"var-file", Options{VarFiles: []string{hclFile}, LookupEnv: noEnv}, "file", 3, []string{"dk"}},
		{"JSON var-file, null attribute", Options{VarFiles: []string{jsonFile}, LookupEnv: noEnv}, "json", 3, []string{"jk"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := Load([]string{filepath.Join(dir, "main.hcl")}, tc.opts)
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %s", diags.Error())
			}
			p := cfg.Variables[0].Value
			if got := p.GetAttr("name").AsString(); got != tc.want {
				t.Errorf("name %q, want %q", got, tc.want)
			}
			if got := p.GetAttr("retries"); !got.RawEquals(cty.NumberIntVal(tc.retries)) {
				t.Errorf("retries %#v, want %d", got, tc.retries)
			}
			if !p.GetAttr("note").IsNull() {
				t.Errorf("note %#v, want null", p.GetAttr("note"))
			}
			var tags []string
			for _, tag := range p.GetAttr("tags").AsValueSlice() {
				tags = append(tags, tag.GetAttr("k").AsString())
			}
			if strings.Join(tags, " ") != strings.Join(tc.tags, " ") {
				t.Errorf("tags %q, want %q", tags, tc.tags)
			}
			if got := cfg.Locals[0].Value; !got.RawEquals(cty.NumberIntVal(tc.retries + 1)) {
				t.Errorf("local.retries %#v, want %d", got, tc.retries+1)
			}
		})
	}
}

// TestEnvFunction: env("NAME") reads the environment; a variable that is
// not set is unknown during validate (no diagnostic, and what derives from
// it unknown too) and an error naming it during run (language §3).
func TestEnvFunction(t *testing.T) {
	p := filepath.Join(t.TempDir(), "main.hcl")
	writeTestFile(t, p, nestingGroup+`
locals {
  set   = env("SET")
  unset = "${env("UNSET")}-suffix"
}
`)
	lookup := func(name string) (string, bool) {
		if name == "SET" {
			return "value", true
		}
		return "", false
	}
	for _, mode := range []Mode{ModeValidate, ModeRun} {
		cfg, diags := Load([]string{p}, Options{Mode: mode, LookupEnv: lookup})
		got := map[string]cty.Value{}
		for _, l := range cfg.Locals {
			got[l.Name] = l.Value
		}
		if v := got["set"]; !v.IsKnown() || v.AsString() != "value" {
			t.Errorf("mode %d: env(\"SET\") = %#v, want \"value\"", mode, v)
		}
		if mode == ModeValidate {
			if len(diags) > 0 {
				t.Errorf("validate: unexpected diagnostics: %s", diags.Error())
			}
			if v, ok := got["unset"]; !ok || v.IsKnown() || !v.Type().Equals(cty.String) {
				t.Errorf("validate: a value derived from an unset env() = %#v, want an unknown string", v)
			}
			continue
		}
		if !diags.HasErrors() || !strings.Contains(diags.Error(), `environment variable "UNSET" is not set`) {
			t.Errorf("run: diagnostics %v, want an error naming UNSET", diags)
		}
	}
}

// TestVarFileSourcesSecretPlaces: a variables file's value for a variable
// not marked sensitive is masked when it goes where a secret goes: all of
// it for a store's password (directly, or through a local), the password
// only for a postgres or a send transport's url; a credential header's
// (component.Credential) all of it. A value used elsewhere is shown. The snippet
// of a BP1004 on the line (a string for a number) printed it.
func TestVarFileSourcesSecretPlaces(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "main.hcl"), nestingGroup+`
variable "pw" {
  type = number
}
variable "part" {
  type = any
}
variable "db" {
  type = string
}
variable "dir" {
  type = number
}
locals {
  creds = { pw = var.part }
}
certificate_store "a" {
  path     = var.dir
  password = var.pw
}
certificate_store "b" {
  path     = "b"
  password = local.creds.pw
}
message_box {
  postgres {
    url = var.db
  }
}
variable "tok" {
  type = string
}
variable "u" {
  type = string
}
send_port "p" {
  transport "http" {
    url     = var.u
    headers = { Authorization = "Bearer ${var.tok}" }
  }
}
`)
	for _, tc := range []struct{ name, src, want string }{
		{"vars.tfvars",
			"pw = \"VARFILE-secret-1\"\npart = \"VARFILE-secret-2\"\ndb = \"postgres://u:DB-SECRET@db/box\"\ndir = \"shown\"\n" +
				"tok = \"VARFILE-token\"\nu = \"https://u:URL-SECRET@partner.example/\"\n",
			"pw = ******************\npart = ******************\ndb = \"postgres://u:*********@db/box\"\ndir = \"shown\"\n" +
				"tok = ***************\nu = \"https://u:**********@partner.example/\"\n"},
		{"vars.json",
			`{"pw": "VARFILE-secret-1", "db": "postgres://u:DB-SECRET@db/box", "dir": "shown"}`,
			`{"pw": ******************, "db": "postgres://u:*********@db/box", "dir": "shown"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			writeTestFile(t, path, tc.src)
			cfg, _ := Load([]string{filepath.Join(dir, "main.hcl")}, Options{VarFiles: []string{path}, LookupEnv: noEnv})
			if got := string(cfg.VarFileSources[path]); got != tc.want {
				t.Errorf("VarFileSources[%s] = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

// TestVarFileSources: the text of each --var-file that parsed is kept for
// snippets, with the values of sensitive and undeclared variables masked
// byte for byte (line ends kept), in HCL and JSON; a file with a block,
// which is no variables file, is not kept.
func TestVarFileSources(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "main.hcl"), nestingGroup+`
variable "plain" {
  type = list(string)
}
variable "secret" {
  sensitive = true
}
`)
	cases := []struct{ name, src, want string }{
		{"vars.hcl", "plain  = [\"p\"]\nsecret = <<EOT\nhunter2\nEOT\ntypo   = \"hunter3\"\n",
			"plain  = [\"p\"]\nsecret = *****\n*******\n***\ntypo   = *********\n"},
		{"vars.json", `{"plain": ["p"], "secret": "hunter2", "typo": 1}`,
			`{"plain": ["p"], "secret": *********, "typo": *}`},
		{"block.hcl", "secret = \"hunter2\"\nb {\n}\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			writeTestFile(t, path, tc.src)
			cfg, _ := Load([]string{filepath.Join(dir, "main.hcl")}, Options{VarFiles: []string{path}, LookupEnv: noEnv})
			got, kept := cfg.VarFileSources[path]
			if tc.want == "" {
				if kept {
					t.Errorf("kept %q, want nothing", got)
				}
				return
			}
			if string(got) != tc.want {
				t.Errorf("VarFileSources[%s] = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}
