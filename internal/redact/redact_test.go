package redact

import (
	"math/rand/v2"
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
