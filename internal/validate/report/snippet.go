package report

import (
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/redact"
)

// A snippet shows the source lines of a diagnostic's range as HCL's text
// writer does, but HCL's writer scans the whole file for every diagnostic
// and prints each line whole: a diagnostic on a 4 MB line printed 4 MB, and
// 50,000 duplicate locals in an 800 KB file took minutes. So a snippet
// starts at the line of its range, and a line longer than maxSnippetLine
// bytes is clipped around the highlight, with "…" where it is cut.
const (
	maxSnippetLine = 240
	// snippetContext is how much of a clipped line is shown before and
	// after the highlight, maxHighlight how much of the highlight.
	snippetContext = 60
	maxHighlight   = 120
)

// ellipsis marks where a clipped line is cut.
const ellipsis = "…"

// snippetLine is a line of a snippet, split around the highlight.
type snippetLine struct {
	number int
	// before, highlight and after are the line's text; highlighted says
	// whether the highlight overlaps the line at all (when it does not,
	// the text is all in before).
	before, highlight, after string
	highlighted              bool
	clipped                  bool // the line is longer than what is shown
	redacted                 bool // a sensitive value in it was replaced
}

// snippetLines returns the lines of src that snip overlaps, and how each
// splits around highlight, with the values red replaces replaced. The lines
// are those HCL's writer shows: split as bufio.ScanLines splits them, kept
// when hcl.Range.Overlaps says so.
func snippetLines(li *lineIndex, snip, highlight hcl.Range, red redact.Replacer) []snippetLine {
	src := li.src
	start := min(max(snip.Start.Byte, 0), len(src))
	pos := li.lineStart(start)
	number := snip.Start.Line
	if number <= 0 {
		number = sort.SearchInts(li.newlines, pos) + 1
	}
	var out []snippetLine
	for ; pos < len(src) && pos <= snip.End.Byte; number++ {
		end := li.lineEnd(pos)
		next := min(end+1, len(src))
		if end > pos && src[end-1] == '\r' {
			end--
		}
		line := hcl.Range{
			Filename: snip.Filename,
			Start:    hcl.Pos{Line: number, Column: 1, Byte: pos},
			End:      hcl.Pos{Line: number, Byte: end},
		}
		if line.Overlaps(snip) {
			out = append(out, splitLine(src, line, highlight, red))
		}
		pos = next
	}
	return out
}

// splitLine splits line around highlight, replacing sensitive values and
// clipping a long line. Values are replaced before the line is clipped, so
// that a cut never leaves part of one; a value the highlight's edge cuts
// through is taken into the highlight whole.
func splitLine(src []byte, line, highlight hcl.Range, red redact.Replacer) snippetLine {
	if line.End.Byte-line.Start.Byte > longLine {
		return splitLongLine(src, line, highlight, red)
	}
	return splitWholeLine(src, line, highlight, red)
}

// splitWholeLine is splitLine redacting the whole line.
func splitWholeLine(src []byte, line, highlight hcl.Range, red redact.Replacer) snippetLine {
	l := snippetLine{number: line.Start.Line}
	_, in, _ := line.PartitionAround(highlight)
	if in.Empty() {
		raw := string(line.SliceBytes(src))
		text := red.String(raw)
		l.redacted = text != raw
		if len(text) > maxSnippetLine {
			l.before = text[:runeStart([]byte(text), maxSnippetLine)] + ellipsis
			l.clipped = true
		} else {
			l.before = text
		}
		return l
	}
	l.highlighted = true
	ls, le := line.Start.Byte, line.End.Byte
	hs, he := widenOverSecrets(src, in.Start.Byte, in.End.Byte, line.Start.Byte, line.End.Byte, red)
	hs, he = max(hs, ls), min(he, le)
	rawB, rawH, rawA := string(src[ls:hs]), string(src[hs:he]), string(src[he:le])
	b, h, a := red.String(rawB), red.String(rawH), red.String(rawA)
	l.redacted = b != rawB || h != rawH || a != rawA
	if len(b)+len(h)+len(a) <= maxSnippetLine {
		l.before, l.highlight, l.after = b, h, a
		return l
	}
	l.clipped = true
	l.clip(b, h, a)
	return l
}

// clip sets l's parts to b, h and a, each clipped around the highlight
// (the end of b, the start of h and a), with "…" where it is cut.
func (l *snippetLine) clip(b, h, a string) {
	l.before, l.highlight, l.after = b, h, a
	if len(b) > snippetContext {
		l.before = ellipsis + b[runeStart([]byte(b), len(b)-snippetContext):]
	}
	if len(h) > maxHighlight {
		l.highlight = h[:runeStart([]byte(h), maxHighlight)] + ellipsis
	}
	if len(a) > snippetContext {
		l.after = a[:runeStart([]byte(a), snippetContext)] + ellipsis
	}
}

// longLine is the length above which a line is redacted only around what
// its snippet shows (splitLongLine): redacting a long line whole for each
// finding on it made thousands of findings on one line (a minified JSON
// file) take minutes.
const longLine = 4 << 10

// splitLongLine is splitLine for a line longer than longLine, which is
// clipped: only what is shown of it, and the values that straddle the
// cuts, are redacted.
func splitLongLine(src []byte, line, highlight hcl.Range, red redact.Replacer) snippetLine {
	l := snippetLine{number: line.Start.Line, clipped: true}
	ls, le := line.Start.Byte, line.End.Byte
	_, in, _ := line.PartitionAround(highlight)
	if in.Empty() {
		text, cut, redacted := redactedFrom(src, ls, le, maxSnippetLine+1, red)
		l.redacted = redacted
		if !cut && len(text) <= maxSnippetLine {
			l.before, l.clipped = text, false // values made it short
			return l
		}
		l.before = text[:runeStart([]byte(text), maxSnippetLine)] + ellipsis
		return l
	}
	l.highlighted = true
	hs, he := widenOverSecrets(src, in.Start.Byte, in.End.Byte, line.Start.Byte, line.End.Byte, red)
	hs, he = max(hs, ls), min(he, le)
	b, bCut, bRed := redactedTo(src, ls, hs, snippetContext+1, red)
	h, hCut, hRed := redactedFrom(src, hs, he, maxHighlight+1, red)
	a, aCut, aRed := redactedFrom(src, he, le, snippetContext+1, red)
	l.redacted = bRed || hRed || aRed
	if !bCut && !hCut && !aCut && len(b)+len(h)+len(a) <= maxSnippetLine {
		l.before, l.highlight, l.after, l.clipped = b, h, a, false // values made it short
		return l
	}
	l.clip(b, h, a)
	return l
}

// redactedFrom returns what red makes of src[from:x], for the first x in
// (from, to] where no value is cut at which that holds at least need
// bytes, or for x = to; cut reports x < to, redacted that a value was
// replaced.
func redactedFrom(src []byte, from, to, need int, red redact.Replacer) (text string, cut, redacted bool) {
	for n := need + red.MaxLen(); ; n *= 2 {
		x := min(to, from+n)
		if _, e, ok := valueCut(src, x, from, to, red); ok {
			x = e
		}
		raw := string(src[from:x])
		text = red.String(raw)
		if len(text) >= need || x >= to {
			return text, x < to, text != raw
		}
	}
}

// redactedTo returns what red makes of src[x:to], for the last x in
// [from, to) where no value is cut at which that holds at least need
// bytes, or for x = from; cut reports x > from, redacted that a value was
// replaced.
func redactedTo(src []byte, from, to, need int, red redact.Replacer) (text string, cut, redacted bool) {
	for n := need + red.MaxLen(); ; n *= 2 {
		x := max(from, to-n)
		if s, _, ok := valueCut(src, x, from, to, red); ok {
			x = s
		}
		raw := string(src[x:to])
		text = red.String(raw)
		if len(text) >= need || x <= from {
			return text, x > from, text != raw
		}
	}
}

// valueCut returns [s, e), what red replaces as one in src[lo:hi] that a
// cut at p would split (s < p < e). Values that overlap are replaced as
// one, and such a run may reach past the window where a value through p
// lies whole, so it is followed a window at a time until no value goes on
// through either end: a cut inside it would redact each side apart.
func valueCut(src []byte, p, lo, hi int, red redact.Replacer) (s, e int, ok bool) {
	s, e, ok = spanThrough(src, p, lo, hi, red)
	if !ok {
		return 0, 0, false
	}
	for {
		s2, _, more := spanThrough(src, s, lo, hi, red)
		if !more {
			break
		}
		s = s2
	}
	for {
		_, e2, more := spanThrough(src, e, lo, hi, red)
		if !more {
			break
		}
		e = e2
	}
	return s, e, true
}

// spanThrough returns [s, e), what red replaces as one in src[lo:hi]
// within red.MaxLen() bytes of p, where a value through p lies whole, when
// it goes on through p (s < p < e).
func spanThrough(src []byte, p, lo, hi int, red redact.Replacer) (s, e int, ok bool) {
	if red.Empty() || p <= lo || p >= hi {
		return 0, 0, false
	}
	w0, w1 := max(lo, p-red.MaxLen()), min(hi, p+red.MaxLen())
	for _, sp := range red.Spans(string(src[w0:w1])) {
		if s, e := w0+sp[0], w0+sp[1]; s < p && p < e {
			return s, e, true
		}
	}
	return 0, 0, false
}

// widenOverSecrets returns [start, end) of src widened so that no value red
// replaces straddles either end: replacing the parts on each side of a cut
// separately would leave both halves of the value in the output. Values
// are looked for in src[ls:le], the lines of [start, end).
func widenOverSecrets(src []byte, start, end, ls, le int, red redact.Replacer) (int, int) {
	if red.Empty() {
		return start, end
	}
	if s, _, ok := valueCut(src, start, ls, le, red); ok {
		start = s
	}
	if _, e, ok := valueCut(src, end, ls, le, red); ok {
		end = e
	}
	return start, end
}

// runeStart returns the start of the UTF-8 sequence at or before i in b,
// so that a clipped line is not cut inside a character.
func runeStart(b []byte, i int) int {
	for i > 0 && i < len(b) && !utf8.RuneStart(b[i]) {
		i--
	}
	return i
}

// clipText returns s, or its first maxSnippetLine bytes and "…" when it is
// longer: a range's text, which may span megabytes.
func clipText(s []byte) string {
	if len(s) <= maxSnippetLine {
		return string(s)
	}
	return string(s[:runeStart(s, maxSnippetLine)]) + ellipsis
}

// contextString names the block around offset in f, as HCL's writer does
// (`send_port "x"`), or returns "", with the sensitive values red replaces
// replaced: a label is the file as written, as a snippet is. HCL's native
// navigation tries every block of the file in turn, for every diagnostic;
// the blocks are in order, so they are searched.
func contextString(f *hcl.File, offset int, red redact.Replacer) string {
	return red.String(blockName(f, offset))
}

func blockName(f *hcl.File, offset int) string {
	if f == nil {
		return ""
	}
	if body, ok := f.Body.(*hclsyntax.Body); ok {
		blocks := body.Blocks
		i := sort.Search(len(blocks), func(i int) bool { return blocks[i].Range().End.Byte > offset })
		if i == len(blocks) || !blocks[i].Range().ContainsOffset(offset) {
			return ""
		}
		b := blocks[i]
		s := b.Type
		for _, label := range b.Labels {
			s += fmt.Sprintf(" %q", label)
		}
		return s
	}
	type contextStringer interface{ ContextString(offset int) string }
	if cs, ok := f.Nav.(contextStringer); ok {
		return cs.ContextString(offset)
	}
	return ""
}
