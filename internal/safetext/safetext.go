// Package safetext makes strings that come from outside (file names,
// certificate subjects, partners' error texts) safe to print to a
// terminal. A file name with an escape sequence could otherwise recolour
// or clear the screen, rewrite what was printed before, or, with a
// newline, forge a row of a table or a line of a report. Printable
// Unicode is left alone: only what a terminal would act on, or could not
// show, is escaped, the way strconv.Quote (and %q in log lines) does.
//
// Machine-readable output (JSON, SARIF) needs none of this: encoders
// escape control characters, and the values stay exact.
package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Field returns s unchanged when it is valid UTF-8, every rune of it is
// printable (strconv.IsPrint: letters, marks, numbers, punctuation,
// symbols and the ASCII space) and it does not start with a double quote;
// else strconv.Quote(s). So a field never spans lines or holds a control
// character, and a quoted field is never mistaken for a plain one: a
// plain one never starts with a quote.
func Field(s string) string {
	if plain(s) {
		return s
	}
	return strconv.Quote(s)
}

func plain(s string) bool {
	if strings.HasPrefix(s, `"`) || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// Prose escapes, in place and without adding quotes, each rune of s that
// Field would not let through, except the newline: for text of several
// lines built from fields that were escaped with Field, as a last line of
// defence. An invalid byte becomes \xNN, another rune its strconv escape
// (\t, \x1b, \u202e).
func Prose(s string) string {
	return escapeBut(s, '\n')
}

// Source is Prose for a line of a configuration file shown as a snippet:
// the tabs that indent it are kept too, while an escape sequence a hostile
// file holds (one that sets the window title or writes the clipboard) is
// shown escaped rather than acted on.
func Source(s string) string {
	return escapeBut(s, '\t')
}

// escapeBut is Prose, keeping keep and the newline.
func escapeBut(s string, keep rune) string {
	if plainBut(s, keep) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case r == '\n' || r == keep || strconv.IsPrint(r):
			b.WriteString(s[i : i+w])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += w
	}
	return b.String()
}

func plainBut(s string, keep rune) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != '\n' && r != keep && !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// Width is the number of columns a terminal gives s, a string Field or
// Prose made printable, for aligning it: a rune of East Asian wide or
// fullwidth text takes two, a combining mark none (it joins the rune
// before it), any other rune one. Rune counts misalign a table holding
// a Japanese file name.
func Width(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me):
		case isWide(r):
			n += 2
		default:
			n++
		}
	}
	return n
}

func isWide(r rune) bool {
	k := width.LookupRune(r).Kind()
	return k == width.EastAsianWide || k == width.EastAsianFullwidth
}
