package lang

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNeedMessageBox: with Options.NeedMessageBox, a message_box backend
// that depends on a variable or env() without a value is an error naming
// each of them (through locals too), as ModeRun names them, and no other
// variable without a value is; without it, validate's unknown value is
// no error.
func TestNeedMessageBox(t *testing.T) {
	const src = nestingGroup + `
variable "boxdir" {
  type = string
}
variable "password" {
  type      = string
  sensitive = true
}
variable "given" {
  type = string
}
locals {
  dir = "${var.boxdir}/${env("BOX_SUB")}"
}
message_box {
  sqlite { path = "${local.dir}/${var.given}/${env("BOX_SUB")}/box.db" }
}
`
	path := filepath.Join(t.TempDir(), "main.hcl")
	writeTestFile(t, path, src)
	env := func(name string) (string, bool) {
		if name == "BIZPIPE_VAR_given" {
			return "g", true
		}
		return "", false
	}

	if _, diags := Load([]string{path}, Options{LookupEnv: env}); diags.HasErrors() {
		t.Fatalf("without NeedMessageBox: %s", diags)
	}

	cfg, diags := Load([]string{path}, Options{LookupEnv: env, NeedMessageBox: true})
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary+": "+d.Detail)
	}
	want := []string{
		`No value for required variable: Variable "boxdir"`,
		`Environment variable not set: env("BOX_SUB") reads the environment variable BOX_SUB`,
		`Value not known: The path attribute of sqlite of message_box`,
	}
	if len(got) != len(want) {
		t.Fatalf("diagnostics:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("no diagnostic %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if mb := cfg.MessageBox; mb == nil || mb.SQLitePath == nil || mb.SQLitePath.Usable() {
		t.Errorf("the sqlite path is usable: %+v", mb)
	}

	// Every value given: no error, and the path known.
	all := func(name string) (string, bool) {
		switch name {
		case "BIZPIPE_VAR_given", "BIZPIPE_VAR_boxdir", "BOX_SUB":
			return "v", true
		}
		return "", false
	}
	cfg, diags = Load([]string{path}, Options{LookupEnv: all, NeedMessageBox: true})
	if diags.HasErrors() {
		t.Fatalf("every value given: %s", diags)
	}
	if p := cfg.MessageBox.SQLitePath; !p.Usable() || !strings.HasSuffix(p.V, filepath.FromSlash("v/v/v/v/box.db")) {
		t.Errorf("sqlite path %+v", p)
	}
}
