package lang

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

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
