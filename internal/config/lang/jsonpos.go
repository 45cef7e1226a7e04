package lang

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/apparentlymart/go-textseg/v15/textseg"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/text/unicode/norm"
)

// A JSON string's template is parsed from the string's decoded text, so
// that the positions HCL gives its syntax count that text: every escape
// before a position (\" is 2 bytes of the file and 1 of the text, \u00e4 6
// and 2, \n moves to a new line) would shift it. mapStringRanges maps
// them back to the file, so that every diagnostic, run-time error and rule
// names what the native twin of the template names.

// sourceVariable is where each file's evaluation context holds the file's
// text (as meterVariable, a name no expression can write or be suggested),
// so that wherever a JSON string's template is parsed, at load or at run
// time, its positions can be mapped to the file.
const sourceVariable = "\x00 source text \x00"

// sourceType is the capsule type of sourceVariable's value.
var sourceType = cty.Capsule("source", reflect.TypeFor[[]byte]())

// setSource makes ctx hold src, the text of the file it evaluates.
func setSource(ctx *hcl.EvalContext, src []byte) {
	if ctx.Variables == nil {
		ctx.Variables = map[string]cty.Value{}
	}
	ctx.Variables[sourceVariable] = cty.CapsuleVal(sourceType, &src)
}

// sourceOf returns the text of the file ctx evaluates, nil when it has none.
func sourceOf(ctx *hcl.EvalContext) []byte {
	for c := ctx; c != nil; c = c.Parent() {
		if v, ok := c.Variables[sourceVariable]; ok {
			return *v.EncapsulatedValue().(*[]byte)
		}
	}
	return nil
}

// mapStringRanges maps to the file the ranges that visit gives fix, ranges
// in the decoded text text of the JSON string token tok, at rng (its quotes
// included), as HCL counts them (from just past the opening quote). visit
// is called twice: once to learn the positions, once to map them. Nothing
// is mapped when tok is not that string (no source, a file changed since),
// nor when it has neither an escape nor a non-ASCII character, where HCL's
// positions are already the file's. It reads tok once and allocates for
// the positions only: a string may be megabytes long.
func mapStringRanges(tok []byte, rng hcl.Range, text string, visit func(fix func(hcl.Range) hcl.Range)) {
	if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' || len(tok) != rng.End.Byte-rng.Start.Byte || !needsMapping(tok) {
		return
	}
	base := rng.Start.Byte + 1
	var offsets []int
	visit(func(r hcl.Range) hcl.Range {
		if r.Filename == rng.Filename {
			offsets = append(offsets, r.Start.Byte-base, r.End.Byte-base)
		}
		return r
	})
	slices.Sort(offsets)
	offsets = slices.Compact(offsets)
	at, ok := stringOffsets(tok, rng, text, offsets)
	if !ok {
		return
	}
	pos := func(p hcl.Pos) hcl.Pos {
		if r, ok := at[p.Byte-base]; ok {
			return hcl.Pos{Line: rng.Start.Line, Column: r.column, Byte: r.byte}
		}
		return p
	}
	visit(func(r hcl.Range) hcl.Range {
		if r.Filename != rng.Filename {
			return r
		}
		return hcl.Range{Filename: r.Filename, Start: pos(r.Start), End: pos(r.End)}
	})
}

// needsMapping reports whether the string token tok has an escape or a
// non-ASCII character: positions in its decoded text are then not the
// file's.
func needsMapping(tok []byte) bool {
	for _, b := range tok {
		if b == '\\' || b >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// rawPos is a position in the file: its byte and column.
type rawPos struct{ byte, column int }

// stringOffsets returns where in the file each of offsets (sorted), in the
// decoded text text of the string token tok at rng, is: a JSON string
// holds no newline, so its line is the token's. The columns are counted as
// HCL's JSON scanner counts them: a grapheme cluster, or one character of
// an escape, each. It reports false when tok does not decode to text, as
// encoding/json (which the json package uses) decodes it, and normalizes
// it to NFC, as cty does every string (text is the value's).
func stringOffsets(tok []byte, rng hcl.Range, text string, offsets []int) (map[int]rawPos, bool) {
	if at, ok := decodedOffsets(tok, rng, text, offsets); ok {
		return at, true
	}
	// A string not in NFC (an accent written as a combining mark, as
	// macOS writes file names): text is the decoded token normalized, and
	// its offsets are mapped to the decoded token's first.
	var raw string
	if json.Unmarshal(tok, &raw) != nil || raw == text {
		return nil, false
	}
	rawOffsets, ok := nfcOffsets(raw, text, offsets)
	if !ok {
		return nil, false
	}
	sorted := slices.Clone(rawOffsets)
	slices.Sort(sorted)
	atRaw, ok := decodedOffsets(tok, rng, raw, slices.Compact(sorted))
	if !ok {
		return nil, false
	}
	at := make(map[int]rawPos, len(offsets))
	for i, off := range offsets {
		if p, ok := atRaw[rawOffsets[i]]; ok {
			at[off] = p
		}
	}
	return at, true
}

// nfcOffsets returns the offset in raw of each of offsets (sorted) in text, raw
// normalized to NFC: in a segment the normalization left as it was, the
// same character; in one it changed, the segment's start. It reports false
// when text is not raw normalized.
func nfcOffsets(raw, text string, offsets []int) ([]int, bool) {
	out := make([]int, len(offsets))
	for i := range out {
		out[i] = -1 // past the text: not mapped
	}
	var it norm.Iter
	it.InitString(norm.NFC, raw)
	o, i := 0, 0 // the offset in text of the segment, the first offset not before it
	for !it.Done() {
		from := it.Pos()
		seg := it.Next()
		to := it.Pos()
		if len(text)-o < len(seg) || text[o:o+len(seg)] != string(seg) {
			return nil, false
		}
		same := raw[from:to] == string(seg)
		for ; i < len(offsets) && offsets[i] < o+len(seg); i++ {
			if offsets[i] >= o {
				out[i] = from
				if same {
					out[i] += offsets[i] - o
				}
			}
		}
		o += len(seg)
	}
	if o != len(text) {
		return nil, false
	}
	for ; i < len(offsets); i++ {
		if offsets[i] == o {
			out[i] = len(raw)
		}
	}
	return out, true
}

// decodedOffsets is stringOffsets for text the decoded token as it is.
func decodedOffsets(tok []byte, rng hcl.Range, text string, offsets []int) (map[int]rawPos, bool) {
	at := make(map[int]rawPos, len(offsets))
	end := len(tok) - 1 // the closing quote
	d := 0              // the offset in text of the piece at tok[i]
	col, nextCol, clusterEnd := 0, rng.Start.Column+1, 1
	var buf [utf8.UTFMax]byte
	for i := 1; i < end; {
		n := 1 // the piece's bytes in tok
		var piece []byte
		switch b := tok[i]; {
		case b == '\\' && i+1 < end && tok[i+1] == 'u':
			r := hex4(tok[i+2 : min(i+6, end)])
			if r < 0 {
				return nil, false
			}
			n = 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+12 <= end && tok[i+6] == '\\' && tok[i+7] == 'u' {
					r2 = hex4(tok[i+8 : i+12])
				}
				if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
					r, n = dec, 12
				} else {
					r = unicode.ReplacementChar
				}
			}
			piece = buf[:utf8.EncodeRune(buf[:], r)]
		case b == '\\' && i+1 < end:
			c, ok := jsonEscapes[tok[i+1]]
			if !ok {
				return nil, false
			}
			buf[0], n = c, 2
			piece = buf[:1]
		case b < utf8.RuneSelf:
			piece = tok[i : i+1]
		default:
			r, size := utf8.DecodeRune(tok[i:end])
			n = size
			if r == utf8.RuneError && size == 1 {
				piece = buf[:utf8.EncodeRune(buf[:], r)] // as encoding/json
			} else {
				piece = tok[i : i+size]
			}
		}
		if i >= clusterEnd { // a new column
			col = nextCol
			switch {
			case tok[i] == '\\':
				nextCol, clusterEnd = nextCol+n, i+n // a character each
			case tok[i] < utf8.RuneSelf && tok[i+1] < utf8.RuneSelf:
				nextCol, clusterEnd = nextCol+1, i+1
			default:
				stop := bytes.IndexByte(tok[i:end], '\\')
				if stop < 0 {
					stop = end - i
				}
				c, _, _ := textseg.ScanGraphemeClusters(tok[i:i+stop], true)
				nextCol, clusterEnd = nextCol+1, i+max(c, 1)
			}
		}
		if len(text)-d < len(piece) || text[d:d+len(piece)] != string(piece) {
			return nil, false
		}
		for len(offsets) > 0 && offsets[0] < d+len(piece) {
			if offsets[0] >= d { // inside the piece: its start
				at[offsets[0]] = rawPos{byte: rng.Start.Byte + i, column: col}
			}
			offsets = offsets[1:]
		}
		d += len(piece)
		i += n
	}
	if d != len(text) {
		return nil, false
	}
	if end >= clusterEnd {
		col = nextCol
	}
	if len(offsets) > 0 && offsets[0] == d {
		at[d] = rawPos{byte: rng.Start.Byte + end, column: col}
	}
	return at, true
}

// jsonEscapes are JSON's one-character escapes and what they stand for.
var jsonEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 returns the value of the four hex digits b, -1 when they are not.
func hex4(b []byte) rune {
	if len(b) != 4 {
		return -1
	}
	v, err := strconv.ParseUint(string(b), 16, 16)
	if err != nil {
		return -1
	}
	return rune(v)
}

// mapSyntax maps to the file the ranges of e, the template just parsed from
// the decoded text of the string token tok at rng, of every expression and
// traversal step in it, and those of diags, its diagnostics.
func mapSyntax(e hclsyntax.Expression, diags hcl.Diagnostics, tok []byte, rng hcl.Range, text string) {
	mapStringRanges(tok, rng, text, func(fix func(hcl.Range) hcl.Range) {
		done := map[hclsyntax.Node]bool{}
		_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
			mapNode(n, fix, done)
			return nil
		})
		for _, d := range diags {
			if d.Subject != nil {
				d.Subject = fix(*d.Subject).Ptr()
			}
			if d.Context != nil {
				d.Context = fix(*d.Context).Ptr()
			}
		}
	})
}

// mapNode maps the ranges of n with fix, once.
func mapNode(n hclsyntax.Node, fix func(hcl.Range) hcl.Range, done map[hclsyntax.Node]bool) {
	if _, scope := n.(hclsyntax.ChildScope); scope || n == nil || done[n] {
		return // a ChildScope, a struct (not hashable), has no range: its expression is visited next
	}
	done[n] = true
	switch n := n.(type) {
	case *hclsyntax.LiteralValueExpr:
		n.SrcRange = fix(n.SrcRange)
	case *hclsyntax.ScopeTraversalExpr:
		n.SrcRange = fix(n.SrcRange)
		mapTraversal(n.Traversal, fix)
	case *hclsyntax.RelativeTraversalExpr:
		n.SrcRange = fix(n.SrcRange)
		mapTraversal(n.Traversal, fix)
	case *hclsyntax.FunctionCallExpr:
		n.NameRange = fix(n.NameRange)
		n.OpenParenRange = fix(n.OpenParenRange)
		n.CloseParenRange = fix(n.CloseParenRange)
	case *hclsyntax.ConditionalExpr:
		n.SrcRange = fix(n.SrcRange)
	case *hclsyntax.IndexExpr:
		n.SrcRange = fix(n.SrcRange)
		n.OpenRange = fix(n.OpenRange)
		n.BracketRange = fix(n.BracketRange)
	case *hclsyntax.TupleConsExpr:
		n.SrcRange = fix(n.SrcRange)
		n.OpenRange = fix(n.OpenRange)
	case *hclsyntax.ObjectConsExpr:
		n.SrcRange = fix(n.SrcRange)
		n.OpenRange = fix(n.OpenRange)
	case *hclsyntax.ForExpr:
		n.SrcRange = fix(n.SrcRange)
		n.OpenRange = fix(n.OpenRange)
		n.CloseRange = fix(n.CloseRange)
	case *hclsyntax.SplatExpr:
		n.SrcRange = fix(n.SrcRange)
		n.MarkerRange = fix(n.MarkerRange)
		mapNode(n.Item, fix, done) // also reached through Each, when it is there
	case *hclsyntax.AnonSymbolExpr:
		n.SrcRange = fix(n.SrcRange)
	case *hclsyntax.BinaryOpExpr:
		n.SrcRange = fix(n.SrcRange)
	case *hclsyntax.UnaryOpExpr:
		n.SrcRange = fix(n.SrcRange)
		n.SymbolRange = fix(n.SymbolRange)
	case *hclsyntax.ParenthesesExpr:
		n.SrcRange = fix(n.SrcRange)
	case *hclsyntax.TemplateExpr:
		n.SrcRange = fix(n.SrcRange)
	case *hclsyntax.TemplateWrapExpr:
		n.SrcRange = fix(n.SrcRange)
	case *hclsyntax.ExprSyntaxError:
		n.SrcRange = fix(n.SrcRange)
	case *hclsyntax.ObjectConsKeyExpr:
		mapNode(n.Wrapped, fix, done) // a bare name, which VisitAll does not visit, is its range
	}
	// TemplateJoinExpr has no range of its own.
}

// mapTraversal maps the ranges of t's steps with fix.
func mapTraversal(t hcl.Traversal, fix func(hcl.Range) hcl.Range) {
	for i, step := range t {
		switch step := step.(type) {
		case hcl.TraverseRoot:
			step.SrcRange = fix(step.SrcRange)
			t[i] = step
		case hcl.TraverseAttr:
			step.SrcRange = fix(step.SrcRange)
			t[i] = step
		case hcl.TraverseIndex:
			step.SrcRange = fix(step.SrcRange)
			t[i] = step
		case hcl.TraverseSplat:
			step.SrcRange = fix(step.SrcRange)
			t[i] = step
		}
	}
}

// variables returns the traversals expr refers to, as expr.Variables()
// does, those of a JSON file's strings' templates with their positions in
// the file, whose text ctx, its file's context, holds: the json package
// gives them counted in the decoded text, and the diagnostics that name a
// reference (an undeclared variable, an unknown message attribute) would
// point beside it.
func variables(expr hcl.Expression, ctx *hcl.EvalContext) []hcl.Traversal {
	if !isJSONExpression(expr) {
		return expr.Variables()
	}
	return jsonVariables(expr, sourceOf(ctx))
}

// jsonVariables is variables for a JSON file's expression, file its text.
func jsonVariables(expr hcl.Expression, file []byte) []hcl.Traversal {
	var out []hcl.Traversal
	if items := expr.(interface{ ExprList() []hcl.Expression }).ExprList(); items != nil {
		for _, item := range items {
			out = append(out, jsonVariables(item, file)...)
		}
		return out
	}
	if pairs := expr.(interface{ ExprMap() []hcl.KeyValuePair }).ExprMap(); pairs != nil {
		for _, p := range pairs {
			out = append(out, jsonVariables(p.Key, file)...)
			out = append(out, jsonVariables(p.Value, file)...)
		}
		return out
	}
	v, diags := expr.Value(nil) // a string, verbatim
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
		return nil
	}
	tmpl, diags := parseJSONTemplate(v.AsString(), expr.Range(), file)
	if diags.HasErrors() {
		return nil // as the json package
	}
	return tmpl.Variables()
}

// stringStart is where HCL counts the decoded text of the JSON string at
// rng (its quotes included) from: just past the opening quote.
func stringStart(rng hcl.Range) hcl.Pos {
	return hcl.Pos{Line: rng.Start.Line, Column: rng.Start.Column + 1, Byte: rng.Start.Byte + 1}
}

// stringToken returns the bytes of file at rng, a JSON string token; nil
// when file does not hold them.
func stringToken(file []byte, rng hcl.Range) []byte {
	if rng.Start.Byte < 0 || rng.Start.Byte > rng.End.Byte || rng.End.Byte > len(file) {
		return nil
	}
	return file[rng.Start.Byte:rng.End.Byte]
}

// jsonTypeSyntax returns the native expression a JSON file's string expr
// holds, a variable's type, as HCL's json package parses it for typeexpr
// (a keyword or a call), with its positions in the file, whose text is
// file; nil when expr is not such a string or does not parse (typeexpr
// then reports it as a whole). The json package counts them from the
// opening quote, one character early, and in the decoded text.
func jsonTypeSyntax(expr hcl.Expression, file []byte) hclsyntax.Expression {
	if !isJSONExpression(expr) {
		return nil
	}
	v, diags := expr.Value(nil) // a string, verbatim
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
		return nil
	}
	rng := expr.Range()
	e, diags := hclsyntax.ParseExpression([]byte(v.AsString()), rng.Filename, stringStart(rng))
	if diags.HasErrors() {
		return nil
	}
	if tok := stringToken(file, rng); tok != nil {
		mapSyntax(e, nil, tok, rng, v.AsString())
	}
	return e
}
