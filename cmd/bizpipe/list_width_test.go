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

// TestRouteAndShowAlignWideText: route's send port table and show's
// deliveries line their columns up on a terminal when a port is named in
// wide text, as the list does (pad); a rune count would shift the columns
// after each such name.
func TestRouteAndShowAlignWideText(t *testing.T) {
	ports := []string{"注文の送信", "orders", "a-longer-port"}
	var route bytes.Buffer
	doc := routeDocument{RoutedTo: []string{"orders"}}
	for i, name := range ports {
		doc.SendPorts = append(doc.SendPorts, routePort{Name: name, Matches: i == 1, Target: "file out"})
	}
	writeRoute(&env{stdout: &route}, doc)
	var show bytes.Buffer
	d := &msgbox.Detail{Message: msgbox.Message{ID: "m1"}}
	for _, name := range ports {
		d.Deliveries = append(d.Deliveries, msgbox.Delivery{Port: name, State: msgbox.DeliveryDelivered})
	}
	if err := showMessage(&show, d, "text"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		out    *bytes.Buffer
		prefix string // of the lines to check
		next   string // what the column after the name starts with
	}{
		{&route, "send port ", "matches|no match"},
		{&show, "  ", "delivered"},
	} {
		want := -1
		n := 0
		for line := range strings.Lines(tc.out.String()) {
			name := slices.IndexFunc(ports, func(p string) bool { return strings.HasPrefix(line, tc.prefix+p+" ") })
			if name < 0 {
				continue
			}
			n++
			loc := regexp.MustCompile(tc.next).FindStringIndex(line)
			if loc == nil {
				t.Fatalf("line %q lacks %q", line, tc.next)
			}
			if col := columns(line[:loc[0]]); want < 0 {
				want = col
			} else if col != want {
				t.Errorf("%q starts at column %d in %q, at %d in the first line:\n%s", tc.next, col, line, want, tc.out)
			}
		}
		if n != len(ports) {
			t.Errorf("%d lines name a port, want %d:\n%s", n, len(ports), tc.out)
		}
	}
}
