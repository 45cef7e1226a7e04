package lang

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestReadFileOverlay: Options.ReadFile supplies the files' text in place of
// the disk (the language server's unsaved buffers), for files that do not
// exist on disk too; relative paths still resolve against the file's
// directory; its errors and oversized results are BP1000 naming the file.
func TestReadFileOverlay(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")
	texts := map[string]string{
		a: `group "g" {}` + "\n" + `certificate_store "s" { path = "stores" }`,
		b: `service_account "x" { personal_store = certificate_store.s }`,
	}
	read := func(name string) ([]byte, error) {
		if s, ok := texts[name]; ok {
			return []byte(s), nil
		}
		return nil, errors.New("no such buffer")
	}
	cfg, diags := Load([]string{a, b}, Options{LookupEnv: noEnv, ReadFile: read})
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	if len(cfg.Accounts) != 1 || cfg.Accounts[0].PersonalStore == nil || len(cfg.Stores) != 1 {
		t.Fatalf("the files were not read through ReadFile: %+v", cfg)
	}
	if got := cfg.Stores[0].Path.V; got != filepath.Join(dir, "stores") {
		t.Errorf("store path %q, want it relative to the file's directory", got)
	}

	for _, tc := range []struct {
		name, text, want string
	}{
		{"read error", "", "no such buffer"},
		{"too large", strings.Repeat("#", maxConfigFileSize+1), "larger than 4 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := filepath.Join(dir, "c.hcl")
			if tc.text != "" {
				texts[c] = tc.text
			} else {
				delete(texts, c)
			}
			_, diags := Load([]string{a, c}, Options{LookupEnv: noEnv, ReadFile: read})
			found := false
			for _, d := range diags {
				if diag.CodeOf(d) == diag.CodeSyntax && strings.Contains(d.Detail, c) && strings.Contains(d.Detail, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("diagnostics %v, want BP1000 naming %s: %s", diags, c, tc.want)
			}
		})
	}
}

// TestParseCache: with a ParseCache, a file whose text is unchanged is not
// parsed again (the same *hcl.File), a changed one is, the syntax errors of
// a cached file are reported on every Load, and files no longer loaded are
// forgotten.
func TestParseCache(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")
	texts := map[string]string{
		a: `group "g" {}`,
		b: `server "s" {`, // unterminated: BP1000
	}
	read := func(name string) ([]byte, error) { return []byte(texts[name]), nil }
	cache := NewParseCache()
	load := func(files ...string) (map[string]*hcl.File, hcl.Diagnostics) {
		cfg, diags := Load(files, Options{LookupEnv: noEnv, ReadFile: read, ParseCache: cache})
		return cfg.Files, diags
	}
	syntax := func(diags hcl.Diagnostics) int {
		n := 0
		for _, d := range diags {
			if diag.CodeOf(d) == diag.CodeSyntax && d.Subject != nil && d.Subject.Filename == b {
				n++
			}
		}
		return n
	}
	files1, diags1 := load(a, b)
	files2, diags2 := load(a, b)
	if files1[a] == nil || files2[a] != files1[a] || files2[b] != files1[b] {
		t.Errorf("unchanged files were parsed again")
	}
	if syntax(diags1) == 0 || syntax(diags2) != syntax(diags1) {
		t.Errorf("syntax errors of b: %d then %d", syntax(diags1), syntax(diags2))
	}
	texts[b] = `server "s" {}`
	files3, diags3 := load(a, b)
	if files3[b] == files2[b] || files3[a] != files1[a] || syntax(diags3) != 0 {
		t.Errorf("a changed file was not parsed again: %v", diags3)
	}
	load(a)
	if _, kept := cache.entries[b]; kept {
		t.Errorf("the cache keeps a file no longer loaded")
	}
}
