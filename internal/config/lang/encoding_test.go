package lang

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// utf16Text encodes s as UTF-16 with a byte order mark, little or big
// endian: what Notepad's "Unicode" and PowerShell 5's > and Out-File write.
func utf16Text(s string, bigEndian bool) string {
	var b []byte
	put := func(u uint16) {
		if bigEndian {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	put(0xfeff)
	for _, u := range utf16.Encode([]rune(s)) {
		put(u)
	}
	return string(b)
}

// TestFileEncodings: configuration files and variables files are UTF-8. A
// UTF-8 byte order mark, which Windows editors and PowerShell's
// -Encoding utf8 write, is ignored in JSON files as in native ones, and
// the positions of diagnostics stay those of the file's bytes. A UTF-16
// file (a byte order mark FF FE or FE FF) is one BP1000 naming the file and
// its encoding, without a snippet of its bytes, rather than an error for
// each of its first characters.
func TestFileEncodings(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	group := "group \"g\" {}\n"
	jsonGroup := `{"group": {"g": {}}}`
	tests := []struct {
		name  string
		files map[string]string
		vars  map[string]string // --var-file files
		want  string            // the one diagnostic's detail, "" for none
		v     string            // the value of variable v, when vars are given
	}{
		{name: "native file with a UTF-8 BOM", files: map[string]string{"a.hcl": bom + group}},
		{name: "JSON file with a UTF-8 BOM", files: map[string]string{"a.hcl.json": bom + jsonGroup}},
		{name: "HCL and JSON variables files with a UTF-8 BOM",
			files: map[string]string{"a.hcl": group + "variable \"v\" {}\nvariable \"w\" {}\n"},
			vars:  map[string]string{"v.hclvars": bom + "v = \"hcl\"\n", "w.json": bom + `{"w": "json"}`}, v: "hcl"},
		{name: "native file in UTF-16 LE", files: map[string]string{"a.hcl": utf16Text(group, false)},
			want: "a.hcl is encoded in UTF-16 (it starts with a UTF-16 byte order mark); bizpipe reads configuration files as UTF-8"},
		{name: "JSON file in UTF-16 BE", files: map[string]string{"a.hcl.json": utf16Text(jsonGroup, true)},
			want: "a.hcl.json is encoded in UTF-16 (it starts with a UTF-16 byte order mark); bizpipe reads configuration files as UTF-8"},
		{name: "variables file in UTF-16 LE",
			files: map[string]string{"a.hcl": group + "variable \"v\" {\n  default = \"default\"\n}\n"},
			vars:  map[string]string{"v.hclvars": utf16Text("v = \"hcl\"\n", false)},
			want:  "v.hclvars is encoded in UTF-16 (it starts with a UTF-16 byte order mark); bizpipe reads variables files as UTF-8", v: "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths, varFiles []string
			for name, text := range tt.files {
				writeTestFile(t, filepath.Join(dir, name), text)
				paths = append(paths, filepath.Join(dir, name))
			}
			for name, text := range tt.vars {
				writeTestFile(t, filepath.Join(dir, name), text)
				varFiles = append(varFiles, filepath.Join(dir, name))
			}
			cfg, diags := Load(paths, Options{LookupEnv: noEnv, VarFiles: varFiles})
			if tt.want == "" {
				if len(diags) > 0 {
					t.Fatalf("diagnostics: %s", diags.Error())
				}
				if cfg.Group == nil || cfg.Group.Name != "g" {
					t.Errorf("group %+v, want g", cfg.Group)
				}
			} else {
				if len(diags) != 1 {
					t.Fatalf("%d diagnostics, want 1: %s", len(diags), diags.Error())
				}
				d := diags[0]
				if diag.CodeOf(d) != diag.CodeSyntax || d.Subject != nil || !strings.Contains(d.Detail, tt.want) {
					t.Errorf("diagnostic %s %q (subject %v), want BP1000 without a subject saying %q", diag.CodeOf(d), d.Detail, d.Subject, tt.want)
				}
				if f := diag.FileOf(d); filepath.Base(f) != strings.Fields(tt.want)[0] {
					t.Errorf("diagnostic about file %q, want %s", f, strings.Fields(tt.want)[0])
				}
			}
			for _, v := range cfg.Variables {
				if want := map[string]string{"v": tt.v, "w": "json"}[v.Name]; want != "" && (!v.Value.IsKnown() || v.Value.AsString() != want) {
					t.Errorf("variable %s = %#v, want %q", v.Name, v.Value, want)
				}
			}
		})
	}

	// A diagnostic in a JSON file with a BOM is where it is in the file.
	dir := t.TempDir()
	p := filepath.Join(dir, "a.hcl.json")
	src := bom + `{"group": {"g": {"colour": "blue"}}}`
	writeTestFile(t, p, src)
	_, diags := Load([]string{p}, Options{LookupEnv: noEnv})
	var unsupported *hcl.Diagnostic
	for _, d := range diags {
		if strings.Contains(d.Detail, `"colour"`) {
			unsupported = d
		}
	}
	if unsupported == nil || unsupported.Subject == nil {
		t.Fatalf("diagnostics %v, want one about colour", diags)
	}
	if s := unsupported.Subject; src[s.Start.Byte:s.End.Byte] != `"colour"` {
		t.Errorf("the diagnostic's subject is %q in the file, want \"colour\"", src[s.Start.Byte:s.End.Byte])
	}
}

// TestFileFunctionBOM: file() reads UTF-8 text; a byte order mark at its
// start, which Notepad writes, is no part of the text: a password or
// thumbprint kept in a file saved on Windows reads without it (with it, a
// store's password would just be wrong, BP2003, with nothing to show
// why). Anywhere else U+FEFF is text, kept.
func TestFileFunctionBOM(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "bom.txt"), "\xef\xbb\xbfs3cr3t\r\n")
	writeTestFile(t, filepath.Join(dir, "inner.txt"), "a\ufeffb")
	writeTestFile(t, filepath.Join(dir, "only.txt"), "\xef\xbb\xbf")
	p := filepath.Join(dir, "main.hcl")
	writeTestFile(t, p, nestingGroup+`
locals {
  bom   = trimspace(file("bom.txt"))
  inner = file("inner.txt")
  only  = file("only.txt")
}
`)
	cfg, diags := Load([]string{p}, Options{LookupEnv: noEnv})
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %s", diags.Error())
	}
	got := map[string]string{}
	for _, l := range cfg.Locals {
		got[l.Name] = l.Value.AsString()
	}
	want := map[string]string{"bom": "s3cr3t", "inner": "a\ufeffb", "only": ""}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("local %s = %q, want %q", name, got[name], w)
		}
	}
}
