package lang

import (
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/testfs"
)

// TestFindFilesOverlay: FindFiles finds the *.hcl and *.hcl.json entries
// of a directory, whatever they are (dangling links and FIFOs too: Load
// reports them, see TestUnusableConfigFiles; dot files and other names left
// out), sorted; the overlay adds its unsaved files of the directories named,
// even of a directory not created yet, and files named directly, but not dot
// files, other names or other directories' files.
func TestFindFilesOverlay(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "config")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	for _, name := range []string{"a.hcl", "c.hcl.json", ".hidden.hcl", "notes.txt"} {
		if err := os.WriteFile(at(name), []byte("# "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "target.hcl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	links := true
	if err := os.Symlink(filepath.Join(root, "target.hcl"), at("link.hcl")); err != nil {
		links = false // Windows without the privilege
	} else if err := os.Symlink(filepath.Join(root, "missing.hcl"), at("dangling.hcl")); err != nil {
		t.Fatal(err)
	}
	fifo := runtime.GOOS != "windows"
	if fifo {
		testfs.MakeFIFO(t, at("fifo.hcl"))
	}

	want := []string{at("a.hcl"), at("c.hcl.json")}
	if links {
		want = append(want, at("dangling.hcl"))
	}
	if fifo {
		want = append(want, at("fifo.hcl"))
	}
	if links {
		want = append(want, at("link.hcl"))
	}
	files, err := FindFiles([]string{dir})
	if err != nil || !slices.Equal(files, want) {
		t.Errorf("FindFiles = %q, %v; want %q", files, err, want)
	}

	overlay := map[string][]byte{
		at("a.hcl"):                              []byte("# over a.hcl"),
		at("b.hcl"):                              nil, // an empty unsaved buffer
		filepath.Join(dir, "sub", "..", "d.hcl"): []byte(""),
		at(".unsaved.hcl"):                       nil,
		at("x.txt"):                              nil,
		at("fifo.hcl"):                           nil,
		at("dangling.hcl"):                       nil, // saving creates the link's target
		filepath.Join(root, "other", "z.hcl"):    nil,
	}
	want = []string{at("a.hcl"), at("b.hcl"), at("c.hcl.json"), at("d.hcl")}
	if links {
		want = append(want, at("dangling.hcl"))
	}
	if fifo {
		want = append(want, at("fifo.hcl"))
	}
	if links {
		want = append(want, at("link.hcl"))
	}
	files, err = FindFilesOverlay([]string{dir}, overlay)
	if err != nil || !slices.Equal(files, want) {
		t.Errorf("FindFilesOverlay = %q, %v; want %q", files, err, want)
	}

	// Not on disk: a directory of unsaved files, a file named directly.
	newDir := filepath.Join(root, "new")
	unsaved := map[string][]byte{filepath.Join(newDir, "n.hcl"): nil, at("e.hcl"): nil}
	files, err = FindFilesOverlay([]string{newDir, at("e.hcl")}, unsaved)
	if want := []string{at("e.hcl"), filepath.Join(newDir, "n.hcl")}; err != nil || !slices.Equal(files, want) {
		t.Errorf("FindFilesOverlay of paths not on disk = %q, %v; want %q", files, err, want)
	}
	// A file on disk the overlay takes for a directory.
	if files, err := FindFilesOverlay([]string{at("a.hcl")}, map[string][]byte{filepath.Join(at("a.hcl"), "f.hcl"): nil}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("FindFilesOverlay of a file holding unsaved files = %q, %v; want an error", files, err)
	}
	for _, paths := range [][]string{{newDir}, {at("e.hcl")}} {
		if files, err := FindFiles(paths); err == nil {
			t.Errorf("FindFiles(%q) without the overlay = %q, want an error", paths, files)
		}
	}
}

// TestOverlay: Options.Overlay supplies the files' text in place of the
// disk (the language server's unsaved buffers), for files that do not exist
// on disk too, under unclean paths too; relative paths still resolve
// against the file's directory; the files not in it are read from disk;
// read errors and oversized texts are BP1000 naming the file;
// Config.Sources holds every text read, that of a file refused before
// parsing too.
func TestOverlay(t *testing.T) {
	dir := t.TempDir()
	a, b, disk := filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl"), filepath.Join(dir, "disk.hcl")
	if err := os.WriteFile(a, []byte("this is not HCL {"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(disk, []byte(`server "srv" {}`), 0o644); err != nil {
		t.Fatal(err)
	}
	overlay := map[string][]byte{
		a:                                []byte(`group "g" {}` + "\n" + `certificate_store "s" { path = "stores" }`),
		filepath.Join(dir, ".", "b.hcl"): []byte(`service_account "x" { personal_store = certificate_store.s }`),
	}
	cfg, diags := Load([]string{a, b, disk}, Options{LookupEnv: noEnv, Overlay: overlay})
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	if len(cfg.Accounts) != 1 || cfg.Accounts[0].PersonalStore == nil || len(cfg.Stores) != 1 || len(cfg.Servers) != 1 {
		t.Fatalf("the files were not read through the overlay and from disk: %+v", cfg)
	}
	if got := cfg.Stores[0].Path.V; got != filepath.Join(dir, "stores") {
		t.Errorf("store path %q, want it relative to the file's directory", got)
	}
	if string(cfg.Sources[a]) != string(overlay[a]) || string(cfg.Sources[disk]) != `server "srv" {}` || len(cfg.Sources) != 3 {
		t.Errorf("Sources = %q, want the texts read", cfg.Sources)
	}

	deep := strings.Repeat("[", maxNesting+1)
	for _, tc := range []struct {
		name, text, want string
		inOverlay        bool
	}{
		{"read error", "", "no such file or directory", false},
		{"too large", strings.Repeat("#", maxConfigFileSize+1), "larger than 4 MiB", true},
		{"refused before parsing", "x = " + deep, "nested", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := filepath.Join(dir, "c.hcl")
			ov := maps.Clone(overlay)
			if tc.inOverlay {
				ov[c] = []byte(tc.text)
			}
			cfg, diags := Load([]string{a, c}, Options{LookupEnv: noEnv, Overlay: ov})
			found := false
			for _, d := range diags {
				if diag.CodeOf(d) == diag.CodeSyntax && (strings.Contains(d.Detail, c) || d.Subject != nil && d.Subject.Filename == c) &&
					strings.Contains(d.Summary+d.Detail, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("diagnostics %v, want BP1000 about %s: %s", diags, c, tc.want)
			}
			_, read := cfg.Sources[c]
			if wantRead := tc.name == "refused before parsing"; read != wantRead || cfg.Files[c] != nil {
				t.Errorf("Sources has c.hcl: %v, want %v; Files has it: %v", read, wantRead, cfg.Files[c] != nil)
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
	texts := map[string][]byte{
		a: []byte(`group "g" {}`),
		b: []byte(`server "s" {`), // unterminated: BP1000
	}
	cache := NewParseCache()
	load := func(files ...string) (map[string]*hcl.File, hcl.Diagnostics) {
		cfg, diags := Load(files, Options{LookupEnv: noEnv, Overlay: texts, ParseCache: cache})
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
	texts[b] = []byte(`server "s" {}`)
	files3, diags3 := load(a, b)
	if files3[b] == files2[b] || files3[a] != files1[a] || syntax(diags3) != 0 {
		t.Errorf("a changed file was not parsed again: %v", diags3)
	}
	load(a)
	if _, kept := cache.entries[b]; kept {
		t.Errorf("the cache keeps a file no longer loaded")
	}
}
