package lsp

import (
	"runtime"
	"testing"
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
