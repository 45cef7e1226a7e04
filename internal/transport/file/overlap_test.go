package file

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// TestGlobsOverlap: globsOverlap finds a file that locations with two
// patterns both take exactly when there is one: each name it gives both
// take (takes: the pattern matches, and the file is neither hidden nor
// .tmp), and where it finds none, no name of up to four characters over
// the patterns' alphabet (and characters beyond it) is taken by both.
func TestGlobsOverlap(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"*", "*.xml", true},
		{"*.xml", "*.edi", false},
		{"*.xml", "order-*", true},
		{"a*", "b*", false},
		{"*a", "*b", false},
		{"*a*", "*b*", true},
		{"[0-9]*.xml", "[a-z]*.xml", false},
		{"[^0-9]*", "[a-z]*", true},
		{"[!0-9]*", "[0-9]*", true}, // filepath.Match's negation is ^; ! is a character
		{"?", "??", false},
		{"\\*", "[*]", true},
		{"\\*", "a", false},
		{"[/-0]", "?", true},
		{"x[", "*", false}, // malformed: not judged
		{"*", ".*", false}, // hidden files are never taken
		{"*.tmp", "*", false},
		{"*.TmP", "*", false},
		{"*.tmp*", "*", true},
		{"*", "*", true},
		{"?", "[.]", false},
		{"x[^!-\U0010FFFF]", "x?", true},                    // only characters below '!': found below the lowest bound
		{"[\uD000-\uE0FF]", "[^\uD000-\uD7FF\uE0FF]", true}, // only past the surrogates, at no bound
	} {
		name, got := globsOverlap(tt.a, tt.b)
		if got != tt.want {
			t.Errorf("globsOverlap(%q, %q) = %q, %v; want %v", tt.a, tt.b, name, got, tt.want)
		}
		checkOverlap(t, tt.a, tt.b, name, got)
	}
	atoms := []string{"a", "b", "*", "?", "[ab]", "[^a]", "[a-c]", "\\*", "[*]", ".", "t", "[m-p]", "[^.]"}
	rnd := rand.New(rand.NewPCG(1, 2))
	pattern := func() string {
		s := ""
		for range 1 + rnd.IntN(4) {
			s += atoms[rnd.IntN(len(atoms))]
		}
		return s
	}
	for range 2000 {
		a, b := pattern(), pattern()
		name, ok := globsOverlap(a, b)
		checkOverlap(t, a, b, name, ok)
	}
}

// checkOverlap checks what globsOverlap(a, b) returned: a name both match,
// or, when none, that no short name matches both.
func checkOverlap(t *testing.T, a, b, name string, ok bool) {
	t.Helper()
	if ok {
		if !takes(a, name) || !takes(b, name) {
			t.Errorf("globsOverlap(%q, %q) gave %q, which they do not both take (%v, %v)", a, b, name, takes(a, name), takes(b, name))
		}
		return
	}
	if _, err := filepath.Match(a, ""); err != nil {
		return
	}
	if _, err := filepath.Match(b, ""); err != nil {
		return
	}
	var try func(prefix string, left int)
	try = func(prefix string, left int) {
		if takes(a, prefix) && takes(b, prefix) {
			t.Errorf("globsOverlap(%q, %q) found no name, but both take %q", a, b, prefix)
			return
		}
		if left == 0 {
			return
		}
		for _, c := range []string{"a", "b", "c", "*", ".", "t", "m", "p", "P"} {
			try(prefix+c, left-1)
		}
	}
	try("", 4)
}

// TestTakesFoldCase: on Windows a location matches names with its pattern
// folded (foldPattern), which takes a name in any letter case, ranges
// included, and no name that differs otherwise; the hidden and .tmp rules
// hold either way. A folded pair of patterns overlaps where the names
// differ only in case.
func TestTakesFoldCase(t *testing.T) {
	cases := []struct {
		pattern, name string
		exact, fold   bool
	}{
		{"*.xml", "order.xml", true, true},
		{"*.xml", "ORDER.XML", false, true},
		{"*.XML", "order.xml", false, true},
		{"Order-?.edi", "oRDER-1.EDI", false, true},
		{"[A-C]*", "beta", false, true},
		{"[a-c]*", "Beta", false, true},
		{"[^a-c]*", "Beta", true, false},
		{"[^B]", "b", true, false},
		{"[^B]", "c", true, true},
		{"[Z-a]*", "Zx", true, true},
		{"[Z-a]*", "zx", false, true},
		{"[A-z]*", "_x.xml", true, true},
		{"[0-Z]*", "_x", false, false},
		{"k*", "\u212Ax", false, false}, // the Kelvin sign is not a k on Windows
		{"i*", "\u0130x", false, false},
		{"*.xml", "order.json", false, false},
		{"*", ".Hidden", false, false},
		{"*", "ORDER.TMP", false, false},
	}
	for _, tt := range cases {
		if got := takes(tt.pattern, tt.name); got != tt.exact {
			t.Errorf("takes(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.exact)
		}
		if got := takes(foldPattern(tt.pattern), tt.name); got != tt.fold {
			t.Errorf("takes(foldPattern(%q) = %q, %q) = %v, want %v", tt.pattern, foldPattern(tt.pattern), tt.name, got, tt.fold)
		}
	}
	if _, shared := globsOverlap("*.xml", "*.XML"); shared {
		t.Error(`globsOverlap("*.xml", "*.XML"): shared, want exclusive as written`)
	}
	if name, shared := globsOverlap(foldPattern("*.xml"), foldPattern("*.XML")); !shared || !takes(foldPattern("*.XML"), name) {
		t.Errorf(`folded "*.xml" and "*.XML" = %q, %v; want a name both take`, name, shared)
	}
}

// TestFoldPatternAgainstVariants: for random patterns (without negated
// classes) and names over a few letters, digits and punctuation, the
// folded pattern takes a name exactly when the pattern takes one of the
// name's letter-case variants.
func TestFoldPatternAgainstVariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	// No negated class: "[^B]" folded refuses b as well as B, which no
	// variant-wise oracle says (TestTakesFoldCase has those).
	atoms := []string{"a", "B", "z", "Z", "_", "1", "?", "*", "[a-c]", "[A-z]", "[Z-a]", "[0-Z]", "[xY]", "[_-b]"}
	letters := []rune("aAbBzZ_1y")
	for range 3000 {
		var p strings.Builder
		for range 1 + rng.IntN(3) {
			p.WriteString(atoms[rng.IntN(len(atoms))])
		}
		pattern := p.String()
		if _, err := filepath.Match(pattern, "x"); err != nil {
			t.Fatalf("test pattern %q: %v", pattern, err)
		}
		folded := foldPattern(pattern)
		if _, err := filepath.Match(folded, "x"); err != nil {
			t.Fatalf("foldPattern(%q) = %q: %v", pattern, folded, err)
		}
		name := make([]rune, 1+rng.IntN(3))
		for i := range name {
			name[i] = letters[rng.IntN(len(letters))]
		}
		want := false
		for v := range 1 << len(name) { // each letter upper or lower
			variant := make([]rune, len(name))
			for i, r := range name {
				variant[i] = unicode.ToLower(r)
				if v&(1<<i) != 0 {
					variant[i] = unicode.ToUpper(r)
				}
			}
			if ok, _ := filepath.Match(pattern, string(variant)); ok {
				want = true
			}
		}
		if got, _ := filepath.Match(folded, string(name)); got != want {
			t.Fatalf("foldPattern(%q) = %q takes %q: %v, want %v", pattern, folded, string(name), got, want)
		}
	}
}
