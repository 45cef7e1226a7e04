package report

import (
	"bytes"
	"sort"
	"unicode/utf8"
)

// A lineIndex finds the line around a byte offset of a source, and the
// offset's column in code points, without scanning the source back to
// the line's start: a minified file is one line, and each of thousands of
// findings on a line of megabytes scanned it (3,000 on a 3 MB line: 4 s
// a format). It is built once per source and rendering, in one pass.
type lineIndex struct {
	src      []byte
	newlines []int // offsets of the '\n's, in order
	// marks are offsets at a rune's start every markEvery bytes or so of
	// a long line, and columns their offset from the line's start in
	// code points: a column is counted from the last mark before it.
	marks, columns []int
	// scanned counts the bytes the index examined, building and
	// answering: what a test checks stays proportional to the source.
	scanned int
}

// markEvery is the distance between marks of a long line.
const markEvery = 1 << 10

func newLineIndex(src []byte) *lineIndex {
	li := &lineIndex{src: src, scanned: len(src)}
	for pos := 0; pos <= len(src); {
		end := len(src)
		if i := bytes.IndexByte(src[pos:], '\n'); i >= 0 {
			end = pos + i
			li.newlines = append(li.newlines, end)
		}
		col, prev := 0, pos
		for m := pos + markEvery; m < end; m += markEvery {
			for m > prev && !utf8.RuneStart(src[m]) {
				m--
			}
			col += utf8.RuneCount(src[prev:m])
			li.marks, li.columns = append(li.marks, m), append(li.columns, col)
			prev = m
		}
		pos = end + 1
	}
	return li
}

// lineStart is the offset where the line holding offset p starts (the
// byte after the last '\n' before p).
func (li *lineIndex) lineStart(p int) int {
	i := sort.SearchInts(li.newlines, p) // the first '\n' at p or after
	if i == 0 {
		return 0
	}
	return li.newlines[i-1] + 1
}

// lineEnd is the offset of the first '\n' at p or after, or the source's
// length.
func (li *lineIndex) lineEnd(p int) int {
	if i := sort.SearchInts(li.newlines, p); i < len(li.newlines) {
		return li.newlines[i]
	}
	return len(li.src)
}

// column is p's column in code points, from 1.
func (li *lineIndex) column(p int) int {
	from, col := li.lineStart(p), 0
	if i := sort.SearchInts(li.marks, p+1) - 1; i >= 0 && li.marks[i] >= from {
		from, col = li.marks[i], li.columns[i]
	}
	li.scanned += p - from
	return col + utf8.RuneCount(li.src[from:p]) + 1
}
