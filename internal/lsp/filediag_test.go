package lsp_test

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
)

// notepadUTF16 returns text as Notepad's "Unicode" saves it: UTF-16LE
// after a byte order mark.
func notepadUTF16(text string) []byte {
	b := []byte{0xff, 0xfe}
	for _, u := range utf16.Encode([]rune(text)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// TestFindingPlacement: each finding is published for the file it is
// about, with two documents of the directory open: one about a file as a
// whole (a UTF-16 configuration file or --var-file, which has no position
// in it) at the top of that file only, and one about the configuration as
// a whole (no group block), or about an entry no editor can open (a
// directory named x.hcl), at the top of each open document. The first
// kind was shown at the top of every open document, none of which it was
// about, and never for its file.
func TestFindingPlacement(t *testing.T) {
	const opened = "# notes\n"
	for _, tt := range []struct {
		name string
		// files are written to the configuration directory besides the
		// open documents a.hcl and b.hcl.
		files map[string][]byte
		// dirs are made in the configuration directory.
		dirs []string
		// varFile, when set, is the server's --var-file's content.
		varFile []byte
		// The finding: its code and a part of its message.
		code, says string
		// at are the files it is published for ("var-file": the
		// --var-file), at start (the top when zero).
		at    []string
		start position
	}{
		{
			name:  "UTF-16 configuration file",
			files: map[string][]byte{"notepad.hcl": notepadUTF16(opened)},
			code:  "BP1000", says: "notepad.hcl is encoded in UTF-16",
			at: []string{"notepad.hcl"},
		},
		{
			name:    "UTF-16 var-file",
			varFile: notepadUTF16("name = \"x\"\n"),
			code:    "BP1000", says: "is encoded in UTF-16",
			at: []string{"var-file"},
		},
		{
			// A finding with a position on the first line, to compare.
			name:  "syntax error in a file not open",
			files: map[string][]byte{"broken.hcl": []byte("x = \n")},
			code:  "BP1000", says: "",
			at: []string{"broken.hcl"}, start: position{0, len("x = ")},
		},
		{
			// Saved by Notepad: an editor shows the byte order mark as
			// the file's encoding, not as a character of its first line.
			name:  "syntax error in a file not open, with a byte order mark",
			files: map[string][]byte{"broken.hcl": []byte("\ufeffx = \n")},
			code:  "BP1000", says: "",
			at: []string{"broken.hcl"}, start: position{0, len("x = ")},
		},
		{
			name: "directory named x.hcl",
			dirs: []string{"x.hcl"},
			code: "BP1000", says: "x.hcl: a directory",
			at: []string{"a.hcl", "b.hcl"},
		},
		{
			name: "no group block",
			code: "BP1003", says: "No group block",
			at: []string{"a.hcl", "b.hcl"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range tt.dirs {
				if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			var flags []string
			uriOf := func(name string) string { return fileURI(filepath.Join(dir, name)) }
			if tt.varFile != nil {
				varFile := filepath.Join(t.TempDir(), "dev.hcl")
				if err := os.WriteFile(varFile, tt.varFile, 0o600); err != nil {
					t.Fatal(err)
				}
				flags = []string{"--var-file", varFile}
				uriOf = func(name string) string {
					if name == "var-file" {
						return fileURI(varFile)
					}
					return fileURI(filepath.Join(dir, name))
				}
			}
			open := []string{uriOf("a.hcl"), uriOf("b.hcl")}
			var want []string
			for _, f := range tt.at {
				want = append(want, uriOf(f))
			}
			c := startWith(t, flags)
			c.initialize()
			for _, uri := range open {
				c.open(uri, opened)
			}
			// Read until the finding has come for each file it is about
			// and each open document has had its diagnostics published:
			// every run publishes those of each open document, so the
			// finding published for another file is seen by then.
			got, published := map[string]bool{}, map[string]bool{}
			for !containsAll(published, open) || !containsAll(got, want) {
				m := c.next()
				if m.Method != "textDocument/publishDiagnostics" {
					continue
				}
				var p publish
				if err := json.Unmarshal(m.Params, &p); err != nil {
					t.Fatal(err)
				}
				published[p.URI] = true
				for _, d := range p.Diagnostics {
					if d.Code != tt.code || !strings.Contains(d.Message, tt.says) {
						continue
					}
					if !slices.Contains(want, p.URI) {
						t.Fatalf("%s %q published for %s, want it for %v only", d.Code, d.Message, p.URI, want)
					}
					if d.Range.Start != tt.start {
						t.Errorf("%s in %s at %+v, want at %+v", d.Code, p.URI, d.Range, tt.start)
					}
					got[p.URI] = true
				}
			}
			c.shutdown()
		})
	}
}

// containsAll reports whether set has every one of keys.
func containsAll(set map[string]bool, keys []string) bool {
	for _, k := range keys {
		if !set[k] {
			return false
		}
	}
	return true
}
