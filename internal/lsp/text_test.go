package lsp

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// TestPositions: LSP positions count UTF-16 units, HCL's byte offsets
// bytes; both conversions agree on ASCII, two-byte, three-byte and
// four-byte (surrogate pair) characters, and clamp what is out of range.
func TestPositions(t *testing.T) {
	src := []byte("ab\né = \"€😀x\"\n\nlast")
	tests := []struct {
		off int
		pos Position
	}{
		{0, Position{0, 0}},
		{2, Position{0, 2}},        // end of the first line
		{3, Position{1, 0}},        // é
		{5, Position{1, 1}},        // after é (2 bytes, 1 unit)
		{12, Position{1, 6}},       // after € (3 bytes, 1 unit)
		{16, Position{1, 8}},       // after 😀 (4 bytes, 2 units)
		{19, Position{2, 0}},       // the empty line
		{20, Position{3, 0}},       // last
		{len(src), Position{3, 4}}, // the end
	}
	li := newLineIndex(src)
	for _, tt := range tests {
		if got := li.position(tt.off); got != tt.pos {
			t.Errorf("position(%d) = %+v, want %+v", tt.off, got, tt.pos)
		}
		if got := offsetOf(src, tt.pos); got != tt.off {
			t.Errorf("offsetOf(%+v) = %d, want %d", tt.pos, got, tt.off)
		}
	}
	// Out of range: clamped to the line's end, the text's end; inside a
	// surrogate pair: after the character.
	for _, tt := range []struct {
		pos Position
		off int
	}{{Position{0, 99}, 2}, {Position{99, 0}, len(src)}, {Position{1, 7}, 16}} {
		if got := offsetOf(src, tt.pos); got != tt.off {
			t.Errorf("offsetOf(%+v) = %d, want %d", tt.pos, got, tt.off)
		}
	}
	if got := li.position(-5); got != (Position{0, 0}) {
		t.Errorf("position(-5) = %+v", got)
	}
}

// TestLongLinePositions: the positions of many offsets in a long line
// (a minified JSON file, with a finding for each of thousands of blocks)
// are those of counting the line's UTF-16 units, and converting each reads
// a bounded part of the line, not the line up to it: the diagnostics of a
// 776 KB line with 3,000 findings took seconds to convert, under the lock
// every request takes, and a 4 MiB one minutes.
func TestLongLinePositions(t *testing.T) {
	long := strings.Repeat("ab\"é€😀", 20_000) // 240 KB on one line
	for _, tt := range []struct {
		name string
		src  string
		disk bool
	}{
		{"one long line", long, false},
		{"after short lines", "x\n\ny = 1\n" + long + "\nz", false},
		{"byte order mark", "\ufeff" + long, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(tt.src)
			li := newLineIndex(src)
			if tt.disk {
				li = newDiskLineIndex(src)
			}
			const n = 1000
			for k := range n {
				off := len(src) * k / n
				for off < len(src) && !utf8.RuneStart(src[off]) {
					off-- // HCL's offsets are at characters
				}
				if got, want := li.position(off), countedPosition(src, off, tt.disk); got != want {
					t.Fatalf("position(%d) = %+v, want %+v", off, got, want)
				}
			}
			if limit := n * (markEvery + 4); li.read > limit {
				t.Errorf("%d positions read %d bytes, want at most %d", n, li.read, limit)
			}
		})
	}
}

// countedPosition is the position of off in src, counted from the start.
func countedPosition(src []byte, off int, disk bool) Position {
	start := 0
	if disk && bytes.HasPrefix(src, []byte("\ufeff")) {
		start = 3
	}
	line := bytes.Count(src[:off], []byte("\n"))
	if line > 0 {
		start = bytes.LastIndexByte(src[:off], '\n') + 1
	}
	units := 0
	for _, r := range string(src[min(start, off):off]) {
		units += max(utf16.RuneLen(r), 1)
	}
	return Position{Line: line, Character: units}
}

// TestURIs: file: URIs to paths and back, percent-encoding included;
// other schemes have no path.
func TestURIs(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the paths below are Unix paths; uriToPath handles drive letters on Windows")
	}
	for _, tt := range []struct{ uri, path string }{
		{"file:///etc/bizpipe/a.hcl", "/etc/bizpipe/a.hcl"},
		{"file:///tmp/with%20space/b%23.hcl", "/tmp/with space/b#.hcl"},
	} {
		p, err := uriToPath(tt.uri)
		if err != nil || p != tt.path {
			t.Errorf("uriToPath(%q) = %q, %v; want %q", tt.uri, p, err, tt.path)
		}
		if back := pathToURI(p); back != tt.uri {
			t.Errorf("pathToURI(%q) = %q, want %q", p, back, tt.uri)
		}
	}
	for _, uri := range []string{"untitled:Untitled-1", "https://example.com/a.hcl", "file://"} {
		if p, err := uriToPath(uri); err == nil {
			t.Errorf("uriToPath(%q) = %q, want an error", uri, p)
		}
	}
}
