//go:build unix

package lsp

import (
	"os"
	"path/filepath"
	"testing"
)

// TestVarFileDocumentElsewhere: a --var-file the editor names by another
// path (through a symbolic link, a hard link) is the var-file all the
// same, also once it was replaced by a new file of its name (an editor's
// or git's atomic save): opened, its directory is not checked as a
// configuration; changed on disk, every configuration is checked again.
func TestVarFileDocumentElsewhere(t *testing.T) {
	for _, tt := range []struct {
		name string
		// other returns the var-file's other path; replace, when true,
		// then replaces the var-file by a new file.
		other   func(t *testing.T, varFile string) string
		replace bool
	}{
		{name: "symbolic link to its directory", other: linkedDir},
		{name: "symbolic link to its directory, replaced", other: linkedDir, replace: true},
		{name: "symbolic link to it", other: func(t *testing.T, varFile string) string {
			p := filepath.Join(t.TempDir(), "dev.hcl")
			if err := os.Symlink(varFile, p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "hard link", other: func(t *testing.T, varFile string) string {
			p := filepath.Join(t.TempDir(), "dev.hcl")
			if err := os.Link(varFile, p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const values = "p12_password = \"demo-only\"\n"
			v := newVarFileSession(t, values)
			dir, text, s, checked := v.dir, v.text, v.s, v.checked
			defer s.stop()
			// Named another way after the server's start, as the server
			// cannot know every name a file has.
			other := tt.other(t, v.varFile)
			if tt.replace {
				tmp := v.varFile + ".tmp"
				if err := os.WriteFile(tmp, []byte(values), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, v.varFile); err != nil {
					t.Fatal(err)
				}
			}
			s.open(pathToURI(filepath.Join(dir, "bizpipe.hcl")), 1, text)
			otherURI := pathToURI(other)
			s.open(otherURI, 1, []byte(values))
			s.wg.Wait()
			if n := checked[filepath.Dir(other)]; n != 0 || s.dirs[filepath.Dir(other)] != nil {
				t.Errorf("the var-file's directory, as the editor names it, was checked as a configuration (%d checks)", n)
			}
			if checked[dir] != 1 {
				t.Fatalf("%d checks of the configuration, want 1", checked[dir])
			}
			s.filesChanged(didChangeWatchedFilesParams{Changes: []struct {
				URI string `json:"uri"`
			}{{URI: otherURI}}})
			s.wg.Wait()
			if checked[dir] != 2 {
				t.Errorf("after the var-file changed on disk: %d checks of the configuration, want a second", checked[dir])
			}
		})
	}
}

// linkedDir returns varFile's path through a symbolic link to its
// directory.
func linkedDir(t *testing.T, varFile string) string {
	link := filepath.Join(t.TempDir(), "linked")
	if err := os.Symlink(filepath.Dir(varFile), link); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(link, filepath.Base(varFile))
}
