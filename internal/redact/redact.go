// Package redact replaces sensitive values (those of sensitive variables,
// and what derives from them) in text bizpipe shows: diagnostics, log
// lines, errors, stored reasons. It is the last line of defence behind
// the marks that keep such values out of what the code writes.
package redact

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Shown is what output shows instead of a sensitive value.
const Shown = "(sensitive value)"

// MinLen is the length below which a variable's value is not replaced:
// replacing every "on" or "1" would make the output unreadable and
// protect nothing.
const MinLen = 4

// Long returns the values of vs at least MinLen long.
func Long(vs []string) []string {
	var out []string
	for _, v := range vs {
		if len(v) >= MinLen {
			out = append(out, v)
		}
	}
	return out
}

// Replacer replaces a set of values, in any letter case, with Shown. The
// zero Replacer replaces nothing.
type Replacer struct {
	values []string
	re     *regexp.Regexp // nil: none
	// anchored is re matching at the start of a text only (Spans).
	anchored *regexp.Regexp
	// ascii are the values that a text of ASCII only can hold, each as
	// the ASCII letters and signs it matches there, lower case (see
	// asciiForm): what lets String pass such a text that holds none of
	// them without the regexp, many times quicker.
	ascii [][]byte
	// maxLen bounds the bytes a replaced value spans in a text (MaxLen).
	maxLen int
}

// New returns a Replacer of vs (empty ones left out).
func New(vs ...string) Replacer { return Replacer{}.With(vs...) }

// With returns r plus vs (empty ones left out).
func (r Replacer) With(vs ...string) Replacer {
	all := slices.Concat(r.values, vs)
	all = slices.DeleteFunc(all, func(v string) bool { return v == "" })
	if len(all) == len(r.values) {
		return r
	}
	// Longest first, so that a value containing another is replaced whole.
	slices.SortFunc(all, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	all = slices.Compact(all)
	quoted := make([]string, len(all))
	for i, v := range all {
		quoted[i] = regexp.QuoteMeta(runeWise(v))
	}
	var ascii [][]byte
	for _, v := range all {
		if f, ok := asciiForm(v); ok {
			ascii = append(ascii, f)
		}
	}
	maxLen := 0
	for _, v := range all {
		// In any letter case a character may take up to 4 bytes.
		maxLen = max(maxLen, 4*utf8.RuneCountInString(v))
	}
	re := regexp.MustCompile(`(?i)` + strings.Join(quoted, "|"))
	anchored := regexp.MustCompile(`^(?i:` + strings.Join(quoted, "|") + `)`)
	// The longest value found where values start together: a value whose
	// text is longer, but the value shorter (ſ is two bytes, s one), would
	// otherwise leave its end shown.
	re.Longest()
	anchored.Longest()
	return Replacer{values: all, re: re, anchored: anchored, ascii: ascii, maxLen: maxLen}
}

// MaxLen bounds the length in bytes of a value r replaces in a text (a
// range of Spans may join several): a value that covers a byte of a text
// lies within MaxLen bytes of it, so a window that far around it finds
// the value whole. 0 when r is empty.
func (r Replacer) MaxLen() int { return r.maxLen }

// Values are the values r replaces, longest first.
func (r Replacer) Values() []string { return r.values }

// Empty reports whether r replaces nothing.
func (r Replacer) Empty() bool { return r.re == nil }

// String returns s with every value replaced by Shown, values that
// overlap as one (see Spans).
func (r Replacer) String(s string) string {
	if r.re == nil || r.none(s) {
		return s
	}
	spans := r.Spans(s)
	if spans == nil {
		return s
	}
	var b strings.Builder
	at := 0
	for _, sp := range spans {
		b.WriteString(s[at:sp[0]])
		b.WriteString(Shown)
		at = sp[1]
	}
	b.WriteString(s[at:])
	return b.String()
}

// Diagnostics returns diags with their summaries and details passed
// through String: copies when anything is to be replaced, diags itself
// otherwise.
func (r Replacer) Diagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	if r.re == nil {
		return diags
	}
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Summary = r.String(c.Summary)
		c.Detail = r.String(c.Detail)
		out[i] = &c
	}
	return out
}

// Spans returns the byte ranges [start, end) of the values in s, in order
// and without overlap, as String replaces them: values that overlap
// ("abcd" and "cdef" in "abcdef") make one range, so that none is left
// partly shown, and a range ends where no value found in s goes on
// through it, so that what String makes of a piece of s cut there is
// what it makes of s.
func (r Replacer) Spans(s string) [][]int {
	if r.re == nil {
		return nil
	}
	var out [][]int
	next := r.re.FindStringIndex(s)
	for next != nil {
		span := next
		// The first value found after the rune span starts at starts the
		// next span, or overlaps span; then each rune of span is tried
		// for more, anchored: a search would start a match at every rune
		// it passes, as long as a value each in a run of overlapping ones.
		next = r.find(s, span[0]+runeLen(s[span[0]:]))
		if next != nil && next[0] < span[1] {
			span[1] = max(span[1], next[1])
			for at := next[0] + runeLen(s[next[0]:]); at < span[1]; at += runeLen(s[at:]) {
				if l := r.anchored.FindStringIndex(s[at:]); l != nil {
					span[1] = max(span[1], at+l[1])
				}
			}
			next = r.find(s, span[1])
		}
		out = append(out, span)
	}
	return out
}

// find returns where the first value in s[at:] lies in s, or nil.
func (r Replacer) find(s string, at int) []int {
	l := r.re.FindStringIndex(s[at:])
	if l == nil {
		return nil
	}
	return []int{at + l[0], at + l[1]}
}

// runeWise is v with each byte that is not UTF-8 as U+FFFD, the rune the
// regexp reads such a byte as in a text: a pattern cannot hold the byte
// (regexp.MustCompile panicked, quoting every value), and a value can (a
// --var or BIZPIPE_VAR_ value is bytes).
func runeWise(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		r, n := utf8.DecodeRuneInString(v[i:])
		b.WriteRune(r) // utf8.RuneError for a byte that is not UTF-8
		i += n
	}
	return b.String()
}

// runeLen is the length of the rune s starts with, as the regexp reads
// it (an invalid byte is one), at least 1.
func runeLen(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return max(n, 1)
}

// SourceForms returns vs with the other forms each value takes where a
// configuration file or a diagnostic writes it: escaped in an HCL string
// literal (`\"`, `\n`, `$${`, ...), escaped in a JSON string, quoted by
// Go's %q, and, for a value of several lines (a heredoc), each of its
// lines. Replacing them all keeps a value out of a source snippet, which
// shows the file as written, not the value.
func SourceForms(vs []string) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v, hclEscape(v), jsonEscape(v), goEscape(v))
		if strings.ContainsAny(v, "\r\n") {
			out = append(out, strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' })...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// hclEscape is v as the inside of an HCL quoted string writes it.
func hclEscape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); {
		r, n := utf8.DecodeRuneInString(v[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case (r == '$' || r == '%') && strings.HasPrefix(v[i+n:], "{"):
			b.WriteRune(r)
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteString(v[i : i+n])
		}
		i += n
	}
	return b.String()
}

// jsonEscape is v as the inside of a JSON string writes it (encoding/json,
// without HTML escaping).
func jsonEscape(v string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return v // a string always encodes
	}
	s := strings.TrimSuffix(b.String(), "\n")
	return strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`)
}

// goEscape is v as %q writes it, without the quotes: how diagnostics quote
// values.
func goEscape(v string) string {
	s := strconv.Quote(v)
	return s[1 : len(s)-1]
}

// asciiForm is what v matches in a text of ASCII only, the regexp's case
// folding (unicode.SimpleFold's orbits) narrowed to ASCII: each rune as
// the lower case of the ASCII rune its orbit holds (the Kelvin sign K is
// k, the long s ſ is s). ok is false when a rune's orbit holds none: v
// cannot be in such a text.
func asciiForm(v string) (f []byte, ok bool) {
	for _, c := range v {
		a, found := rune(-1), false
		for o := c; ; {
			if o < utf8.RuneSelf {
				a, found = o, true
				break
			}
			if o = unicode.SimpleFold(o); o == c {
				break
			}
		}
		if !found {
			return nil, false
		}
		f = append(f, lowerASCII(byte(a)))
	}
	return f, true
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// none reports whether s surely holds none of the values: it is ASCII
// only, short, and holds none of their ASCII forms in any letter case.
// False says nothing.
func (r Replacer) none(s string) bool {
	var buf [256]byte
	if len(s) > len(buf) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
		buf[i] = lowerASCII(s[i])
	}
	low := buf[:len(s)]
	for _, f := range r.ascii {
		if bytes.Contains(low, f) {
			return false
		}
	}
	return true
}
