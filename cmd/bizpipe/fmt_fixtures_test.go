package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/rogpeppe/go-internal/txtar"
)

// TestFmtFixtures runs fmt over every *.hcl file of the repository (the
// examples, the fixtures of testdata, those of the test scripts) that
// parses: what it writes parses, keeps every token of the file (strings,
// heredocs, templates and comments as they were: only the space between
// tokens changes), and is formatted already, so that fmt of fmt's output
// changes nothing.
func TestFmtFixtures(t *testing.T) {
	srcs := map[string][]byte{}
	err := filepath.WalkDir(filepath.Join("..", ".."), func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case strings.HasSuffix(path, ".hcl") && d.Type().IsRegular():
			b, err := os.ReadFile(path)
			srcs[path] = b
			return err
		case strings.HasSuffix(path, ".txtar"):
			a, err := txtar.ParseFile(path)
			if err != nil {
				return err
			}
			for _, f := range a.Files {
				if strings.HasSuffix(f.Name, ".hcl") {
					srcs[path+":"+f.Name] = f.Data
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) < 100 {
		t.Fatalf("found %d files, want the examples and the fixtures", len(srcs))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "a.hcl")
	for name, src := range srcs {
		if _, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos); diags.HasErrors() {
			continue // refused: see fmt.txtar
		}
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{"fmt", path}, &stdout, &stderr, noEnv); code != exitOK {
			t.Errorf("%s: fmt: exit %d, stderr:\n%s", name, code, &stderr)
			continue
		}
		out, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, diags := hclsyntax.ParseConfig(out, name, hcl.InitialPos); diags.HasErrors() {
			t.Errorf("%s: formatted, it does not parse: %s\n%s", name, diags, out)
			continue
		}
		if a, b := fmtTokens(src), fmtTokens(out); a != b {
			t.Errorf("%s: formatting changed its tokens:\n%s\nformatted:\n%s", name, src, out)
		}
		stdout.Reset()
		if code := run([]string{"fmt", "--check", path}, &stdout, &stderr, noEnv); code != exitOK || stdout.Len() > 0 {
			t.Errorf("%s: fmt --check of fmt's output: exit %d, stdout %q; want 0 and nothing:\n%s", name, code, &stdout, out)
		}
	}
}

// fmtTokens returns the tokens of src but newlines, one a line, a
// comment's without the space and newline that end it.
func fmtTokens(src []byte) string {
	tokens, _ := hclsyntax.LexConfig(src, "", hcl.InitialPos)
	var b strings.Builder
	for _, tok := range tokens {
		text := tok.Bytes
		switch tok.Type {
		case hclsyntax.TokenNewline:
			continue
		case hclsyntax.TokenComment:
			text = bytes.TrimRight(text, " \t\r\n")
		}
		fmt.Fprintf(&b, "%s %q\n", tok.Type, text)
	}
	return b.String()
}
