package file

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// A glob is a pattern of filepath.Match as a sequence of tokens, each
// matching one character (a literal, ?, a class) or, for *, any run of
// them. File names never hold a separator, so ? and * match any
// character here.
type glob []globToken

type globToken struct {
	star bool
	// The characters the token matches: those in ranges, or with neg
	// those not in them (? is neg with no ranges).
	neg    bool
	ranges [][2]rune
}

// parseGlob reads pattern as filepath.Match does on Unix; false when it
// is malformed (filepath.Match's ErrBadPattern).
func parseGlob(pattern string) (glob, bool) {
	var g glob
	p := pattern
	next := func() (rune, bool) { // one character, \ escaping the next
		if p == "" {
			return 0, false
		}
		if p[0] == '\\' {
			p = p[1:]
			if p == "" {
				return 0, false
			}
		}
		r, n := utf8.DecodeRuneInString(p)
		p = p[n:]
		return r, true
	}
	for p != "" {
		switch p[0] {
		case '*':
			p = p[1:]
			if len(g) == 0 || !g[len(g)-1].star { // ** is *
				g = append(g, globToken{star: true, neg: true})
			}
		case '?':
			p = p[1:]
			g = append(g, globToken{neg: true})
		case '[':
			p = p[1:]
			t := globToken{}
			if p != "" && p[0] == '^' {
				t.neg = true
				p = p[1:]
			}
			for {
				if p != "" && p[0] == ']' && len(t.ranges) > 0 {
					p = p[1:]
					break
				}
				if p == "" || p[0] == '-' || p[0] == ']' {
					return nil, false
				}
				lo, ok := next()
				if !ok {
					return nil, false
				}
				hi := lo
				if p != "" && p[0] == '-' {
					p = p[1:]
					if p == "" || p[0] == '-' || p[0] == ']' {
						return nil, false
					}
					if hi, ok = next(); !ok {
						return nil, false
					}
				}
				t.ranges = append(t.ranges, [2]rune{lo, hi})
			}
			g = append(g, t)
		default:
			r, ok := next()
			if !ok {
				return nil, false
			}
			g = append(g, globToken{ranges: [][2]rune{{r, r}}})
		}
	}
	return g, true
}

// matches reports whether t matches r.
func (t globToken) matches(r rune) bool {
	in := slices.ContainsFunc(t.ranges, func(rg [2]rune) bool { return rg[0] <= r && r <= rg[1] })
	return in != t.neg
}

// both returns the characters to try where t and u both take one: each
// they both match, other than the separator, among enough candidates to
// hold the least of every kind globsOverlap tells apart (one of ".tmp" in
// either case, or another). What both match is an intersection of ranges
// and of complements of ranges, less the separator and those characters:
// each of its stretches starts at a range's low bound, just past a
// range's high bound or past one of the characters left out, or at the
// first character after the surrogates (which are no characters); and
// ends at a high bound, or just before a low bound or a character left
// out. So the bounds, the characters just outside them, and the characters
// left out and their neighbours are enough.
func (t globToken) both(u globToken) []rune {
	cand := []rune{'a', 0xD7FF, 0xE000}
	for _, r := range ".tmpTMP/" {
		cand = append(cand, r-1, r, r+1)
	}
	for _, x := range [2]globToken{t, u} {
		for _, rg := range x.ranges {
			cand = append(cand, rg[0]-1, rg[0], rg[1], rg[1]+1)
		}
	}
	var out []rune
	for _, r := range cand {
		if r > 0 && r != '/' && utf8.ValidRune(r) && t.matches(r) && u.matches(r) && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// taken follows what a name's characters so far say about whether a
// location takes it (see takes): started once it has one, and how much
// of ".tmp" (any case) it ends with, 4 for all of it.
type taken struct {
	started bool
	tmp     int
}

// next is the state after r; false when no name going on so can be taken
// (a hidden file).
func (k taken) next(r rune) (taken, bool) {
	if !k.started && r == '.' {
		return k, false
	}
	k.started = true
	switch {
	case k.tmp < 4 && unicode.ToLower(r) == rune(".tmp"[k.tmp]):
		k.tmp++
	case r == '.':
		k.tmp = 1
	default:
		k.tmp = 0
	}
	return k, true
}

// globsOverlap reports whether a location with pattern a and one with
// pattern b can both take one file (see takes), and returns the name of
// such a file; false also when either pattern is malformed (not judged).
// It walks the states of the two patterns' automata and of taken
// together, a character at a time.
func globsOverlap(a, b string) (string, bool) {
	ga, ok := parseGlob(a)
	if !ok {
		return "", false
	}
	gb, ok := parseGlob(b)
	if !ok {
		return "", false
	}
	type state struct {
		i, j int
		k    taken
	}
	seen := map[state]bool{}
	var name []rune
	var walk func(s state) bool
	walk = func(s state) bool {
		if seen[s] {
			return false
		}
		seen[s] = true
		i, j := s.i, s.j
		if i == len(ga) && j == len(gb) && s.k.started && s.k.tmp < 4 {
			return true
		}
		if i < len(ga) && ga[i].star && walk(state{i + 1, j, s.k}) {
			return true
		}
		if j < len(gb) && gb[j].star && walk(state{i, j + 1, s.k}) {
			return true
		}
		if i == len(ga) || j == len(gb) {
			return false
		}
		ni, nj := i+1, j+1
		if ga[i].star {
			ni = i
		}
		if gb[j].star {
			nj = j
		}
		for _, r := range ga[i].both(gb[j]) {
			k, ok := s.k.next(r)
			if !ok {
				continue
			}
			name = append(name, r)
			if walk(state{ni, nj, k}) {
				return true
			}
			name = name[:len(name)-1]
		}
		return false
	}
	if !walk(state{}) {
		return "", false
	}
	return string(name), true
}
