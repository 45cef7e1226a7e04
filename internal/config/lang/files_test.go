package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestFindFilesSameFileOnce: a configuration is a set of files (language
// §2), so a file named twice on the command line, under two spellings of
// its path, is read once and its blocks are no duplicates of themselves
// (BP1002); the name it keeps is the first in lexical order, whatever the
// order of the paths. Two files with the same text are still two files.
func TestFindFilesSameFileOnce(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	conf := filepath.Join(root, "conf")
	other := filepath.Join(root, "other")
	for _, d := range []string{conf, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	group := []byte("group \"g\" {}\nserver \"srv1\" {}\n")
	for _, f := range []string{filepath.Join(conf, "a.hcl"), filepath.Join(other, "copy.hcl")} {
		if err := os.WriteFile(f, group, 0o644); err != nil {
			t.Fatal(err)
		}
		// The same modification time, so that only the file's identity
		// tells them apart.
		if err := os.Chtimes(f, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	links := os.Symlink("conf", filepath.Join(root, "link")) == nil &&
		os.Symlink(filepath.Join("conf", "a.hcl"), filepath.Join(root, "a-link.hcl")) == nil

	tests := []struct {
		name  string
		paths []string
		links bool
		want  []string
	}{
		{name: "relative and absolute directory", paths: []string{"conf", conf}, want: []string{conf + "/a.hcl"}},
		{name: "absolute first", paths: []string{conf, "conf"}, want: []string{conf + "/a.hcl"}},
		{name: "directory and the file in it", paths: []string{"conf", "./conf/../conf/a.hcl"}, want: []string{"conf/a.hcl"}},
		{name: "directory and a symbolic link to it", paths: []string{"link", "conf"}, links: true, want: []string{"conf/a.hcl"}},
		{name: "symbolic link to the directory first", paths: []string{"conf", "link"}, links: true, want: []string{"conf/a.hcl"}},
		{name: "file and a symbolic link to it", paths: []string{"conf/a.hcl", "a-link.hcl"}, links: true, want: []string{"a-link.hcl"}},
		{name: "two files with the same text", paths: []string{"conf", "other"}, want: []string{"conf/a.hcl", "other/copy.hcl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.links && !links {
				t.Skip("no symbolic links here")
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = filepath.FromSlash(w)
			}
			files, err := FindFiles(tt.paths)
			if err != nil || !slices.Equal(files, want) {
				t.Fatalf("FindFiles(%q) = %q, %v; want %q", tt.paths, files, err, want)
			}
			_, diags := Load(files, Options{LookupEnv: noEnv})
			dup := slices.ContainsFunc(diags, func(d *hcl.Diagnostic) bool { return diag.CodeOf(d) == diag.CodeDuplicate })
			if wantDup := len(want) > 1; dup != wantDup {
				t.Errorf("BP1002 reported: %v, want %v:\n%s", dup, wantDup, diags.Error())
			}
		})
	}
}

// TestFindFiles: the files of a configuration (language §2) are every
// *.hcl and *.hcl.json directly in each directory named, not those of its
// subdirectories, nor dot files or other names, plus the files named
// directly whatever their names; no path means the current directory; the
// result is in lexical order whatever the order of the paths. A path that
// does not exist, or directories without a configuration file, are errors.
func TestFindFiles(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	for _, name := range []string{
		"a.hcl", "b.hcl.json", "z.hcl",
		".hidden.hcl", "a.hcl.bak", "a.json", "notes.txt", "hcl",
		"sub/nested.hcl", "other/c.hcl", "other/A.hcl", "empty/readme.md",
	} {
		p := filepath.FromSlash(name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		paths []string
		want  []string
		err   string // the error, "" for none
	}{
		{name: "no path is the current directory", want: []string{"a.hcl", "b.hcl.json", "z.hcl"}},
		{name: "a directory, not recursively", paths: []string{"."}, want: []string{"a.hcl", "b.hcl.json", "z.hcl"}},
		{name: "files named directly whatever their names", paths: []string{"notes.txt", ".hidden.hcl", "sub/nested.hcl"},
			want: []string{".hidden.hcl", "notes.txt", "sub/nested.hcl"}},
		{name: "lexical order whatever the order of the paths", paths: []string{"other", "sub", "a.json"},
			want: []string{"a.json", "other/A.hcl", "other/c.hcl", "sub/nested.hcl"}},
		{name: "a path that does not exist", paths: []string{".", "missing"}, err: "configuration path missing: "},
		{name: "no configuration file in the directories", paths: []string{"empty"},
			err: "no configuration files (*.hcl, *.hcl.json) in empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := FindFiles(tt.paths)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("FindFiles(%q) = %q, %v; want an error saying %q", tt.paths, files, err, tt.err)
				}
				return
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = filepath.FromSlash(w)
			}
			if err != nil || !slices.Equal(files, want) {
				t.Fatalf("FindFiles(%q) = %q, %v; want %q", tt.paths, files, err, want)
			}
		})
	}
}

// TestRelativePaths: a relative path inside a file (a store's path, the
// message box's, file()'s) resolves against the directory of the file that
// contains it (language §2), not the working directory nor the directory of
// another file: a local reading file() reads beside the file that declares
// the local, wherever it is used, and a store path taken from such a local
// is resolved beside the store's own file. JSON files alike; an absolute
// path is kept.
func TestRelativePaths(t *testing.T) {
	root := t.TempDir()
	cwd := filepath.Join(root, "cwd")
	files := map[string]string{
		"cwd/token.txt": "cwd",
		"a/token.txt":   "a",
		"b/token.txt":   "b",
		"c/token.txt":   "c",
		"a/main.hcl": nestingGroup + `
locals {
  from_a    = file("token.txt")
  store_dir = "stores"
}
certificate_store "in_a" { path = "stores" }
certificate_store "abs" { path = "` + filepath.ToSlash(filepath.Join(root, "abs")) + `" }
`,
		"b/other.hcl": `
locals {
  from_b        = file("token.txt")
  a_through_b   = local.from_a
  b_through_a   = "${local.from_b}"
}
certificate_store "in_b" { path = local.store_dir }
message_box {
  sqlite { path = "box/messagebox.db" }
}
`,
		"c/more.hcl.json": `{"locals": {"from_c": "${file(\"token.txt\")}"}}`,
	}
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, p, text)
	}
	t.Chdir(cwd)
	paths, err := FindFiles([]string{"../a", "../b", "../c"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := Load(paths, Options{LookupEnv: noEnv})
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %s", diags.Error())
	}
	locals := map[string]string{}
	for _, l := range cfg.Locals {
		if l.Value.IsKnown() && l.Value.Type() == cty.String {
			locals[l.Name] = l.Value.AsString()
		}
	}
	wantLocals := map[string]string{"from_a": "a", "from_b": "b", "from_c": "c", "a_through_b": "a", "b_through_a": "b", "store_dir": "stores"}
	if fmt.Sprint(locals) != fmt.Sprint(wantLocals) {
		t.Errorf("locals %v, want %v", locals, wantLocals)
	}
	stores := map[string]string{}
	for _, s := range cfg.Stores {
		stores[s.Name] = s.Path.V
	}
	wantStores := map[string]string{
		"in_a": filepath.Join("..", "a", "stores"),
		"in_b": filepath.Join("..", "b", "stores"),
		"abs":  filepath.Join(root, "abs"),
	}
	if fmt.Sprint(stores) != fmt.Sprint(wantStores) {
		t.Errorf("store paths %v, want %v", stores, wantStores)
	}
	if mb := cfg.MessageBox; mb == nil || mb.SQLitePath == nil || mb.SQLitePath.V != filepath.Join("..", "b", "box", "messagebox.db") {
		t.Errorf("message box %+v, want its sqlite path beside b/other.hcl", mb)
	}
}
