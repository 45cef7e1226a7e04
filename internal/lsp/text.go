package lsp

import (
	"bytes"
	"errors"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/lang"
)

// uriToPath returns the file path of a file: URI. Other schemes (an
// editor's unsaved "untitled:" buffer) have no path: such a document belongs
// to no configuration.
func uriToPath(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	if u.Scheme != "file" {
		return "", errors.New("not a file: URI")
	}
	p := u.Path
	// file:///C:/dir/x.hcl on Windows.
	if len(p) >= 3 && p[0] == '/' && p[2] == ':' {
		p = p[1:]
	}
	if p == "" {
		return "", errors.New("file: URI without a path")
	}
	return filepath.Clean(filepath.FromSlash(p)), nil
}

// pathToURI is the inverse of uriToPath.
func pathToURI(p string) string {
	s := filepath.ToSlash(p)
	if !strings.HasPrefix(s, "/") {
		s = "/" + s
	}
	return (&url.URL{Scheme: "file", Path: s}).String()
}

// offsetOf converts an LSP position in src to a byte offset, clamped to the
// line's end and the text's end.
func offsetOf(src []byte, pos Position) int {
	off := 0
	for line := 0; line < pos.Line; line++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return len(src)
		}
		off += i + 1
	}
	units := 0
	for off < len(src) && units < pos.Character {
		r, size := utf8.DecodeRune(src[off:])
		if r == '\n' {
			break
		}
		n := utf16.RuneLen(r)
		if n < 0 { // an invalid byte counts as one unit
			n = 1
		}
		units += n
		off += size
	}
	return off
}

// lineIndex converts byte offsets of one text to LSP positions: the start
// of every line, found once, so that converting the ranges of many
// diagnostics does not scan the text each time; and, every markEvery bytes
// of a long line, how many UTF-16 units precede that byte in its line, so
// that it does not scan the line each time either (a minified JSON file is
// one line of megabytes, with a finding for each of thousands of blocks).
type lineIndex struct {
	src    []byte
	starts []int
	marks  []mark // by offset
	// read counts the bytes position has decoded, which tests bound.
	read int
}

// mark is a rune boundary of a long line, and the UTF-16 units of its line
// before it.
type mark struct{ off, units int }

// markEvery is the most bytes position decodes for one offset.
const markEvery = 1 << 10

func newLineIndex(src []byte) *lineIndex {
	return newLineIndexFrom(src, 0)
}

// newLineIndexFrom is newLineIndex for a text whose first line starts at
// first.
func newLineIndexFrom(src []byte, first int) *lineIndex {
	li := &lineIndex{src: src, starts: []int{first}}
	units, next := 0, first+markEvery
	for i := first; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			i++
			li.starts = append(li.starts, i)
			units, next = 0, i+markEvery
			continue
		case i >= next:
			li.marks = append(li.marks, mark{off: i, units: units})
			next = i + markEvery
		}
		if c < utf8.RuneSelf {
			units++
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		units += utf16Len(r)
		i += size
	}
	return li
}

// utf16Len is the UTF-16 units of r; an invalid byte counts as one.
func utf16Len(r rune) int {
	if n := utf16.RuneLen(r); n > 0 {
		return n
	}
	return 1
}

// newDiskLineIndex is newLineIndex for the text of a file as read from
// disk, not as an editor sent it: a UTF-8 byte order mark at its start
// (Notepad's) is the file's encoding to an editor, which leaves it out of
// the line whose characters positions count.
func newDiskLineIndex(src []byte) *lineIndex {
	if bytes.HasPrefix(src, []byte(lang.UTF8BOM)) {
		return newLineIndexFrom(src, len(lang.UTF8BOM))
	}
	return newLineIndex(src)
}

// position converts a byte offset to an LSP position.
func (li *lineIndex) position(off int) Position {
	off = min(max(off, 0), len(li.src))
	line := max(sort.SearchInts(li.starts, off+1)-1, 0) // 0 within a byte order mark
	p := Position{Line: line}
	i := li.starts[line]
	// From the last mark of the line at or before off, if any.
	if k := sort.Search(len(li.marks), func(k int) bool { return li.marks[k].off > off }) - 1; k >= 0 && li.marks[k].off >= i {
		i, p.Character = li.marks[k].off, li.marks[k].units
	}
	for i < off {
		r, size := utf8.DecodeRune(li.src[i:])
		p.Character += utf16Len(r)
		i += size
		li.read += size
	}
	return p
}

// toRange converts an HCL range to an LSP one, exactly through the byte
// offsets when the source is at hand; HCL's columns count characters, the
// protocol's UTF-16 units.
func toRange(r hcl.Range, li *lineIndex) Range {
	if li != nil && r.End.Byte >= r.Start.Byte && r.End.Byte <= len(li.src) {
		return Range{Start: li.position(r.Start.Byte), End: li.position(r.End.Byte)}
	}
	at := func(p hcl.Pos) Position {
		return Position{Line: max(p.Line-1, 0), Character: max(p.Column-1, 0)}
	}
	return Range{Start: at(r.Start), End: at(r.End)}
}

// readable reports whether text, an open buffer at path or the part of it
// before the cursor, may be given to HCL's lexer and parser to answer a
// request: only what the loader would parse (lang.CheckNesting). Parsing a
// buffer nested too deeply overflows the stack, a fatal error that ends the
// server, and lexing unclosed /* comments or millions of tokens takes
// minutes, during which no other message is read. A JSON file must pass
// both checks: requests lex it as HCL, and definition parses it as JSON,
// whose nesting HCL's lexer does not see (brackets after a "${" string
// are, to it, in a template's string).
func readable(text []byte, path string) bool {
	if lang.CheckNesting(text, "") != nil {
		return false
	}
	return !isJSON(path) || lang.CheckNesting(text, path) == nil
}
