package file

import (
	"strings"
	"unicode"
)

// foldPattern rewrites a valid pattern (filepath.Match's syntax, without
// escapes, as on Windows) into one that matches the same names in any
// letter case, compared as they are: a letter becomes a class of its
// upper- and lower-case forms ("*.xml" is "*.[xX][mM][lL]"), and a class
// gains the other case of its letters ("[a-c]" is "[a-cA-C]", "[^a-c]"
// "[^a-cA-C]"). Lower-casing pattern and name instead would change what a
// range takes ("[A-z]" takes "_", "[a-z]" does not) and make letters of
// other scripts equal that Windows keeps apart (the Kelvin sign and "k").
// Ranges fold their ASCII letters only.
func foldPattern(pattern string) string {
	var b strings.Builder
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if r != '[' {
			if o := otherCases(r); o != "" {
				b.WriteString("[" + string(r) + o + "]")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		// A class: '[' ['^'] ranges ']', its first range right after.
		b.WriteRune('[')
		i++
		if i < len(rs) && rs[i] == '^' {
			b.WriteRune('^')
			i++
		}
		var more strings.Builder // the other cases, added before ']'
		for first := true; i < len(rs) && (first || rs[i] != ']'); first = false {
			lo, hi := rs[i], rs[i]
			if i+2 < len(rs) && rs[i+1] == '-' && rs[i+2] != ']' {
				hi = rs[i+2]
				b.WriteString(string(lo) + "-" + string(hi))
				i += 3
			} else {
				b.WriteRune(lo)
				i++
			}
			if lo == hi {
				more.WriteString(otherCases(lo))
				continue
			}
			more.WriteString(shiftedRange(lo, hi, 'A', 'Z', 'a'-'A'))
			more.WriteString(shiftedRange(lo, hi, 'a', 'z', 'A'-'a'))
		}
		b.WriteString(more.String())
		if i < len(rs) {
			b.WriteRune(']')
		}
	}
	return b.String()
}

// otherCases is r's upper- and lower-case forms other than r itself.
func otherCases(r rune) string {
	var out []rune
	for _, c := range []rune{unicode.ToUpper(r), unicode.ToLower(r)} {
		if c != r && !strings.ContainsRune(string(out), c) {
			out = append(out, c)
		}
	}
	return string(out)
}

// shiftedRange is the part of lo-hi within from-to, shifted by d, as a
// class range ("" when they do not meet).
func shiftedRange(lo, hi, from, to, d rune) string {
	lo, hi = max(lo, from), min(hi, to)
	if lo > hi {
		return ""
	}
	return string(lo+d) + "-" + string(hi+d)
}
