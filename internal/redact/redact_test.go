package redact

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestReplacer(t *testing.T) {
	r := New("s3cret", "", "s3cret-longer").With("Tok1")
	for _, tt := range []struct{ in, want string }{
		{"password s3cret here", "password (sensitive value) here"},
		{"S3CRET-LONGER whole", "(sensitive value) whole"},
		{"a tok1 b", "a (sensitive value) b"},
		{"nothing", "nothing"},
	} {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var zero Replacer
	if !zero.Empty() || zero.String("s3cret") != "s3cret" || r.Empty() {
		t.Error("the zero Replacer replaces something, or r nothing")
	}
	d := hcl.Diagnostics{{Summary: "bad s3cret", Detail: "see s3cret"}}
	got := r.Diagnostics(d)
	if got[0].Summary != "bad (sensitive value)" || got[0].Detail != "see (sensitive value)" || d[0].Summary != "bad s3cret" {
		t.Errorf("Diagnostics = %+v (original %+v)", got[0], d[0])
	}
	if l := Long([]string{"on", "1", "long enough", "four"}); len(l) != 2 || l[0] != "long enough" || l[1] != "four" {
		t.Errorf("Long = %q", l)
	}
}

// TestStringQuickPath: String's quick pass over ASCII text (none) lets
// through only text the regexp finds no value in, whatever the letter case
// and Unicode's case folding (the Kelvin sign K matches k, the long s ſ
// matches s): String's output is the regexp's on every text.
func TestStringQuickPath(t *testing.T) {
	r := New("s3cret", "Tok1", "\u212Aey9", "ſalt", "ΣΑΣΑ", "a.b*")
	// The ASCII forms: Σ's orbit has no ASCII rune, so ΣΑΣΑ has none.
	var forms []string
	for _, f := range r.ascii {
		forms = append(forms, string(f))
	}
	slices.Sort(forms)
	if want := []string{"a.b*", "key9", "s3cret", "salt", "tok1"}; !slices.Equal(forms, want) {
		t.Errorf("ASCII forms %q, want %q", forms, want)
	}
	for _, tt := range []struct {
		in   string
		none bool
	}{
		{"message received", true},
		{"a plain line naming nothing", true},
		{"the KEY9 is here", false},       // the Kelvin sign's k
		{"SALT and pepper", false},        // the long s's s
		{"S3CrEt", false},                 // any letter case
		{"axb", true},                     // a.b* is literal
		{"A.B*", false},                   // and matched as such
		{"s3cre", true},                   // a part is not a value
		{"σασα, non-ASCII", false},        // left to the regexp
		{strings.Repeat("x", 300), false}, // long: left to the regexp
	} {
		if got := r.none(tt.in); got != tt.none {
			t.Errorf("none(%q) = %v, want %v", tt.in, got, tt.none)
		}
		if got, want := r.String(tt.in), r.re.ReplaceAllLiteralString(tt.in, Shown); got != want {
			t.Errorf("String(%q) = %q, want the regexp's %q", tt.in, got, want)
		}
	}
	// Random texts of pieces of the values in random letter case, their
	// case-folding kin, and other runes.
	pieces := []string{"s3c", "ret", "S3", "CRET", "tok", "TOK1", "1", "k", "K", "\u212A", "ey9", "EY9", "ſ", "s", "S",
		"alt", "ALT", "σ", "Σ", "ς", "α", "a", ".", "b*", "B", "x", " ", "=", "\""}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		want := r.re.ReplaceAllLiteralString(s, Shown)
		if r.none(s) && want != s {
			t.Fatalf("none(%q) while the regexp replaces a value in it: %q", s, want)
		}
		if got := r.String(s); got != want {
			t.Fatalf("String(%q) = %q, want the regexp's %q", s, got, want)
		}
	}
}

// TestOverlappingValues: values that overlap in a text, or start together,
// are replaced as one, so that no part of any is shown: replaced one at a
// time, left to right, the first left the rest of the other in clear.
func TestOverlappingValues(t *testing.T) {
	for _, tt := range []struct {
		values   []string
		in, want string
	}{
		{[]string{"abcd", "cdef"}, "x abcdef y", "x (sensitive value) y"},
		{[]string{"hunter22", "xhun"}, "xhunter22", "(sensitive value)"},                           // the first found is the shorter
		{[]string{"ſſſſ", "sssssx"}, "sssssx", "(sensitive value)"},                                // the longer value, the shorter text
		{[]string{"abcd", "cdef", "efgh"}, "abcdefgh-abcd", "(sensitive value)-(sensitive value)"}, // a chain
		{[]string{"abcd"}, "abcdabcd", "(sensitive value)(sensitive value)"},                       // adjacent values stay apart
		{[]string{"aaaa"}, "aaaaaa", "(sensitive value)"},                                          // a value overlapping itself
		{[]string{"\u212Akkk", "KKKs"}, "kkKKs-", "(sensitive value)-"},                            // case folding
	} {
		if got := New(tt.values...).String(tt.in); got != tt.want {
			t.Errorf("%q: String(%q) = %q, want %q", tt.values, tt.in, got, tt.want)
		}
	}
	// Random texts: what Spans covers is exactly the bytes that some value
	// covers, each value found by an anchored match at every offset.
	values := []string{"abcd", "cdef", "bcdefgh", "ſſſs", "ßß", "\U00010400\U00010401", "aba"}
	r := New(values...)
	var anchored []*regexp.Regexp
	for _, v := range values {
		anchored = append(anchored, regexp.MustCompile(`^(?i:`+regexp.QuoteMeta(v)+`)`))
	}
	pieces := []string{"a", "b", "c", "d", "e", "f", "g", "h", "s", "S", "ſ", "ß", "ẞ", "\U00010400", "\U00010428", "\U00010401", "\U00010429", "-"}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(20) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		want := make([]bool, len(s))
		for i := range s {
			for _, re := range anchored {
				if l := re.FindStringIndex(s[i:]); l != nil {
					for k := i; k < i+l[1]; k++ {
						want[k] = true
					}
				}
			}
		}
		got := make([]bool, len(s))
		prev := -1
		for _, sp := range r.Spans(s) {
			if sp[0] < prev || sp[0] >= sp[1] {
				t.Fatalf("Spans(%q) = %v: not in order, or empty", s, r.Spans(s))
			}
			prev = sp[1]
			for k := sp[0]; k < sp[1]; k++ {
				got[k] = true
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Spans(%q) = %v, covering %v; the values cover %v", s, r.Spans(s), got, want)
		}
	}
}

// A value need not be UTF-8 (a --var or BIZPIPE_VAR_ value is bytes): the
// regexp of such a value did not compile, and the panic quoted every
// value. It is replaced where a text holds it, byte for byte.
func TestValuesNotUTF8(t *testing.T) {
	values := SourceForms([]string{"\xffpin\xfe\xfd", "s\u00e9cret-\xc3"})
	var r Replacer
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("New panicked: %.60v…", p)
			}
		}()
		r = New(values...)
	}()
	for _, tt := range []struct{ in, want string }{
		{"a \xffpin\xfe\xfd b", "a (sensitive value) b"},
		{"a \xffPIN\xfe\xfd b", "a (sensitive value) b"},
		{`pin = "\xffpin\xfe\xfd"`, `pin = "(sensitive value)"`}, // %q's form
		{"x S\u00c9CRET-\xc3 y", "x (sensitive value) y"},
	} {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
