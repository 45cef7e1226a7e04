package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fmtSkipMarker, on the line just before a ```hcl fence, exempts that block
// from TestDocsHCLFormatted: <!-- fmt-check: skip REASON -->. The reason is
// required, so that no block goes unchecked without saying why (a snippet
// that shows a syntax error, say).
var fmtSkipMarker = regexp.MustCompile(`^\s*<!--\s*fmt-check:\s*skip\b(.*?)-->\s*$`)

// fence matches the line that opens or closes a fenced code block: its
// indentation, its fence (``` or ~~~, three or more) and its info string.
var fence = regexp.MustCompile("^( *)(`{3,}|~{3,})(.*)$")

// hclBlock is one ```hcl fenced block of a Markdown page.
type hclBlock struct {
	line int    // the line of the opening fence, from 1
	src  string // the block's lines, the fence's indentation removed
	skip string // the reason of a fmt-check: skip marker; "" without one
}

// hclBlocks returns the ```hcl blocks of a Markdown page (info string
// "hcl", in any case, maybe followed by more words). It fails on what would
// leave a block unchecked: an unterminated fence, or a skip marker without
// a reason or before something else than an hcl block.
func hclBlocks(page string) ([]hclBlock, error) {
	lines := strings.Split(page, "\n")
	var blocks []hclBlock
	for i := 0; i < len(lines); i++ {
		if m := fmtSkipMarker.FindStringSubmatch(lines[i]); m != nil {
			next := ""
			if i+1 < len(lines) {
				next = lines[i+1]
			}
			if !isHCLFence(next) {
				return nil, fmt.Errorf("line %d: a fmt-check: skip marker must be on the line just before a ```hcl fence", i+1)
			}
			if strings.TrimSpace(m[1]) == "" {
				return nil, fmt.Errorf("line %d: a fmt-check: skip marker must say why the block cannot be checked", i+1)
			}
			continue
		}
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, marks, info := m[1], m[2], strings.TrimSpace(m[3])
		// The closing fence: the same character, at least as long, no
		// info string (CommonMark).
		end := -1
		for j := i + 1; j < len(lines); j++ {
			c := fence.FindStringSubmatch(lines[j])
			if c != nil && c[2][0] == marks[0] && len(c[2]) >= len(marks) && strings.TrimSpace(c[3]) == "" {
				end = j
				break
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("line %d: the fenced block is never closed", i+1)
		}
		if isHCLInfo(info) {
			b := hclBlock{line: i + 1}
			if i > 0 {
				if sm := fmtSkipMarker.FindStringSubmatch(lines[i-1]); sm != nil {
					b.skip = strings.TrimSpace(sm[1])
				}
			}
			var src strings.Builder
			for _, l := range lines[i+1 : end] {
				// Lines of a fence inside a list item are indented as the
				// fence is; the block's own indentation starts after it.
				src.WriteString(strings.TrimPrefix(l, indent))
				src.WriteByte('\n')
			}
			b.src = src.String()
			blocks = append(blocks, b)
		}
		i = end
	}
	return blocks, nil
}

// isHCLInfo reports whether a fence's info string marks an HCL block.
func isHCLInfo(info string) bool {
	word, _, _ := strings.Cut(info, " ")
	return strings.EqualFold(word, "hcl")
}

// isHCLFence reports whether line opens an hcl block.
func isHCLFence(line string) bool {
	m := fence.FindStringSubmatch(line)
	return m != nil && isHCLInfo(strings.TrimSpace(m[3]))
}

// TestDocsHCLFormatted checks that every ```hcl block of README.md and of
// docs/*.md is what `bizpipe fmt` makes of it: each block, as a file of its
// own, passes `bizpipe fmt --check` (run in process, as the command runs).
// A fragment (an attribute, a nested block) is a configuration body as it
// stands, and is checked as one. A block that cannot be checked must say so
// with <!-- fmt-check: skip REASON --> on the line before its fence; a
// marker on a block that passes is stale, and fails too.
func TestDocsHCLFormatted(t *testing.T) {
	root := filepath.Join("..", "..")
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{filepath.Join(root, "README.md")}, pages...)
	dir := t.TempDir()
	checked := 0
	for _, page := range pages {
		rel, _ := filepath.Rel(root, page)
		src, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := hclBlocks(string(src))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		for _, b := range blocks {
			file := filepath.Join(dir, fmt.Sprintf("%s-%d.hcl", strings.ReplaceAll(rel, string(filepath.Separator), "_"), b.line))
			if err := os.WriteFile(file, []byte(b.src), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"fmt", "--check", "--diff", file}, &stdout, &stderr, noEnv)
			switch {
			case b.skip != "" && code == exitOK:
				t.Errorf("%s:%d: the hcl block is marked fmt-check: skip (%s), but bizpipe fmt --check passes it: remove the marker", rel, b.line, b.skip)
			case b.skip != "":
				t.Logf("%s:%d: hcl block not checked: %s", rel, b.line, b.skip)
			case code == exitFmtCheck:
				t.Errorf("%s:%d: the hcl block is not formatted as bizpipe fmt formats it; the change it makes:\n%s", rel, b.line, &stdout)
			case code != exitOK:
				t.Errorf("%s:%d: bizpipe fmt --check cannot check the hcl block (exit %d): make it a configuration body, or put <!-- fmt-check: skip REASON --> on the line before its fence:\n%s",
					rel, b.line, code, &stderr)
			default:
				checked++
			}
		}
	}
	if checked == 0 {
		t.Error("no hcl block was checked: has the README lost its examples, or the test its way to find them?")
	}
}

// TestHCLBlocks checks how hclBlocks finds the blocks, and that it refuses
// what would leave one unchecked.
func TestHCLBlocks(t *testing.T) {
	page := strings.Join([]string{
		"# Title",
		"```hcl",
		"a = 1",
		"```",
		"```sh",
		"echo '```hcl'",
		"```",
		"* In a list:",
		"",
		"  ```HCL",
		"  b {",
		"    c = 2",
		"  }",
		"  ```",
		"<!-- fmt-check: skip shows a syntax error -->",
		"~~~~hcl title",
		"d = ",
		"```",
		"~~~~",
		"",
	}, "\n")
	blocks, err := hclBlocks(page)
	if err != nil {
		t.Fatal(err)
	}
	want := []hclBlock{
		{line: 2, src: "a = 1\n"},
		{line: 10, src: "b {\n  c = 2\n}\n"},
		{line: 16, src: "d = \n```\n", skip: "shows a syntax error"},
	}
	if !slices.Equal(blocks, want) {
		t.Errorf("hclBlocks:\n got %+v\nwant %+v", blocks, want)
	}
	for name, bad := range map[string]string{
		"unterminated":        "```hcl\na = 1\n",
		"marker, no reason":   "<!-- fmt-check: skip -->\n```hcl\na = 1\n```\n",
		"marker, not on hcl":  "<!-- fmt-check: skip because -->\n```sh\nls\n```\n",
		"marker, blank after": "<!-- fmt-check: skip because -->\n\n```hcl\na = 1\n```\n",
	} {
		if _, err := hclBlocks(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
