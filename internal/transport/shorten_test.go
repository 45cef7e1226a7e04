package transport

import (
	"testing"
	"unicode/utf8"
)

// TestShortenKeepsCharactersWhole: a long value cut for an error is cut
// between characters. Before, a name of "é"s cut in the middle of one, and
// the file transport's error quoted a byte the name does not hold
// ("ééé\xc3...").
func TestShortenKeepsCharactersWhole(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc..."},
		{"aéb", 2, "a..."},  // é is 2 bytes: cut before it
		{"aéb", 3, "aé..."}, // after it
		{"a€b", 2, "a..."},  // € is 3 bytes
		{"a€b", 3, "a..."},  // still inside it
		{"a😀b", 4, "a..."},  // 😀 is 4 bytes
		{"a😀b", 5, "a😀..."},
		{"ab\x80\x80\x80\x80\x80\x80\x80c", 8, "ab\x80\x80\x80..."}, // not UTF-8: backs up 3 bytes at most
	} {
		got := Shorten(tc.s, tc.n)
		if got != tc.want {
			t.Errorf("Shorten(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
		if utf8.ValidString(tc.s) && !utf8.ValidString(got) {
			t.Errorf("Shorten(%q, %d) = %q: not UTF-8", tc.s, tc.n, got)
		}
	}
}
