package main

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// TestListAlignsWideText: messages list's text columns line up on a
// terminal when a name holds wide text (CJK, two columns a character),
// combining marks (none), or characters escaped (shown as \t, \x1b): each
// column starts at the same display column in every row, the header's
// included, not at the same count of characters.
func TestListAlignsWideText(t *testing.T) {
	box := filledBox(t, []msgbox.Incoming{
		{ReceiveLocation: "受信", FileName: "日本語の注文.edi", ContentType: "text/plain"},
		{ReceiveLocation: "in", FileName: "e\u0301te\u0301.edi", ContentType: "text/plain"},
		{ReceiveLocation: "in", FileName: "tab\there\x1b[2J.edi", ContentType: "text/plain"},
		{ReceiveLocation: "a-longer-location", FileName: "plain-name.edi", ContentType: "text/plain"},
	})
	var out bytes.Buffer
	if err := listMessages(t.Context(), &env{stdout: &out}, box, nil, messagesFlags{format: "text"}, msgbox.Filter{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want a header and 4 rows:\n%s", len(lines), &out)
	}
	// Cells are separated by 2 spaces or more; none of these names holds
	// two spaces. ID, STATUS, RECEIVED, LOCATION, FILE, SIZE.
	gap := regexp.MustCompile(`  +`)
	var want []int
	for i, line := range lines {
		var starts []int
		for _, loc := range gap.FindAllStringIndex(line, -1) {
			starts = append(starts, columns(line[:loc[1]]))
		}
		if len(starts) < 5 {
			t.Fatalf("line %q has %d cells", line, len(starts)+1)
		}
		starts = starts[:5]
		if i == 0 {
			want = starts
		} else if !slices.Equal(starts, want) {
			t.Errorf("columns start at %v in %q, at %v in the header:\n%s", starts, line, want, &out)
		}
	}
}

// columns is the display width of s, for the characters this test uses:
// CJK two columns, combining marks none, others one.
func columns(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r):
			n += 2
		default:
			n++
		}
	}
	return n
}
