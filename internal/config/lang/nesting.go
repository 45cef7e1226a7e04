package lang

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// HCL's parsers (native and JSON), its template parser and the evaluation of
// what they build all recurse once per level of nesting, without a limit. A
// file nested some 100,000 levels deep (`a = [[[[...` or `x = !!!!...`, well
// under maxConfigFileSize) overflows the goroutine stack, which is a fatal
// error that recover cannot catch. So every source is measured with HCL's
// lexer, which does not recurse, before it is parsed, and refused with a
// diagnostic when it is nested beyond these limits.
//
// The limits are far beyond any configuration a person writes (a deep one
// nests blocks, objects and interpolations under ten levels), yet far below
// what the stack holds: HCL's parser needs about 10 KiB of stack per level of
// brackets and Go's stack limit is 1 GiB, so it overflows at roughly 100,000
// levels; maxNesting levels need a few MiB.
const (
	// maxNesting bounds open brackets, braces (blocks and objects),
	// parentheses, string interpolations ${...}, template directives %{...}
	// and open %{if}/%{for} directives, counted together.
	maxNesting = 256
	// maxChain bounds the operators, indexes and splats chained in one
	// expression, summed over the enclosing brackets: each nests the
	// expression tree one level deeper (`!!!!x` and `a ? b : c ? d : ...`
	// recurse in the parser, `1+1+1...` and `f()[0][0]...` when evaluated)
	// without nesting brackets. It restarts at every comma and at every
	// newline that ends an attribute or object item. It is higher than
	// maxNesting because a long filter (`p == "a" || p == "b" || ...`)
	// legitimately chains hundreds.
	maxChain = 4096
	// maxInvalid bounds the characters outside strings and comments that
	// HCL does not use (`@`, NUL, ...): each is a syntax error, and a file
	// of them (a binary file named x.hcl) is no configuration.
	maxInvalid = 1000
)

// HCL's lexer returns all the tokens of a source at once, some 100 bytes
// each (and its slice of them grows by a quarter at a time): measuring 16 MB
// of `[[[[...` that way took 40 s and 6 GB. So a long source is measured in
// growing prefixes, from firstPrefix bytes, each four times the last, and
// refused as soon as one shows a problem; only a source without one is lexed
// whole, as its parser lexes it anyway. `[[[[...` crosses maxNesting within
// 300 bytes, `a ? b : a ? b : ...` maxChain within 33 KB.
const firstPrefix = 64 << 10

// prefixTail is how many tokens at the end of a prefix's tokens are not
// trusted to be the whole source's: where the prefix cuts a token, it lexes
// as up to 5 (`<<-EOT\r\n` cut before its newline), then come the 2 of the
// "*/" appended and the end. TestNestingPrefixAgrees fails below 8.
const prefixTail = 16

// nestLimits are the limits a source is measured against (tests lower them
// to make every cut of a short source interesting).
type nestLimits struct{ nesting, chain, invalid int }

// lexMode says how a source is read: as a configuration file, as a
// standalone expression (--var values, types in JSON), or as a template (the
// strings of a JSON file).
type lexMode int

const (
	lexConfig lexMode = iota
	lexExpression
	lexTemplate
)

// problemKind is what a source exceeds.
type problemKind int

const (
	tooDeep      problemKind = iota // maxNesting
	tooLong                         // maxChain
	tooInvalid                      // maxInvalid
	notClosedYet                    // a /* comment that the source never closes
)

// nestingProblem says where a source first exceeds a limit, or opens a
// block comment that it never closes.
type nestingProblem struct {
	Range hcl.Range
	Kind  problemKind
}

// detail explains the problem; what names the source ("This file").
func (p *nestingProblem) detail(what string) string {
	switch p.Kind {
	case tooLong:
		return fmt.Sprintf("%s chains more than %d operators, indexes and splats in one expression, each of which nests the expression one level deeper. It is not parsed, as HCL would exhaust the stack; split the expression, for example into locals.", what, maxChain)
	case tooInvalid:
		return fmt.Sprintf("%s has more than %d characters that HCL does not use outside strings and comments, the first of them here. It is not parsed: it is no configuration.", what, maxInvalid)
	case notClosedYet:
		// HCL's lexer reads from every unclosed /* to the end of the
		// source, so a source of them costs its length squared.
		return fmt.Sprintf("%s opens a comment with /* that no */ closes. It is not parsed; close the comment, or start each line of it with #.", what)
	}
	return fmt.Sprintf("%s nests brackets, braces, blocks, parentheses, string interpolations or template directives more than %d levels deep. It is not parsed, as HCL would exhaust the stack; no real configuration nests that deeply.", what, maxNesting)
}

func (p *nestingProblem) summary() string {
	switch p.Kind {
	case tooLong:
		return "Expression too complex"
	case tooInvalid:
		return "Not a configuration file"
	case notClosedYet:
		return "Unclosed comment"
	}
	return "Configuration nested too deeply"
}

// CheckNesting measures a configuration or --var-file source (HCL JSON
// when the name ends in .json) and returns a syntax error (BP1000) pointing
// at the first token beyond a limit (the first invalid character beyond
// maxInvalid), or at a /* comment never closed, or nil when the file may be
// parsed. It costs little more than lexing the
// first 64 KiB of a source that has such a problem. Load calls it for every
// file; anything else that parses configuration files with HCL (bizpipe fmt)
// must call it first.
func CheckNesting(src []byte, filename string) *hcl.Diagnostic {
	var p *nestingProblem
	if strings.HasSuffix(filename, ".json") {
		p = jsonNesting(src, filename)
	} else {
		p = hclNesting(src, filename, hcl.InitialPos, lexConfig, 0)
	}
	if p == nil {
		return nil
	}
	return diag.New(hcl.DiagError, diag.CodeSyntax, p.Range, p.summary(), p.detail("This file"))
}

// nestFrame is one open bracket (or the source itself) while measuring.
type nestFrame struct {
	close       hclsyntax.TokenType // the token that closes the frame
	weight      int                 // 1, or 0 for the root and for quoted strings and heredocs
	template    bool                // a template body: its interpolations and directives are a flat list
	newlineEnds bool                // a newline ends the expression being chained
	chain       int                 // chained tokens of the current expression in this frame
	directives  int                 // open %{if} and %{for} directives (template frames)
}

// hclNesting measures native-syntax source; base is the nesting that
// encloses the source (for the strings of a JSON file). It lexes growing
// prefixes of a long source first (see firstPrefix).
func hclNesting(src []byte, filename string, start hcl.Pos, mode lexMode, base int) *nestingProblem {
	return measureNesting(src, filename, start, mode, base, nestLimits{maxNesting, maxChain, maxInvalid}, firstPrefix)
}

// measureNesting is hclNesting with the limits and the first prefix given.
func measureNesting(src []byte, filename string, start hcl.Pos, mode lexMode, base int, lim nestLimits, prefix int) *nestingProblem {
	for n := prefix; n < len(src); n *= 4 {
		if p, _ := measurePrefix(src, n, filename, start, mode, base, lim); p != nil {
			return p
		}
	}
	p, _ := measurePrefix(src, len(src), filename, start, mode, base, lim)
	return p
}

// measurePrefix measures src[:n] as hclNesting measures src. When n is
// shorter than src, a problem it returns is the one src has, but nil means
// only that src[:n] shows none; decided then says that src has none either.
//
// It lexes src[:n] followed by "*/", which closes an unclosed block comment.
// HCL's lexer otherwise reads on from every /* to the end of the source
// before it takes the / and * for tokens of their own, and so 300 KB of
// `/* /* /* ...` took it three minutes. The unclosed comment is reported
// instead: its /* and * are a syntax error anyway.
func measurePrefix(src []byte, n int, filename string, start hcl.Pos, mode lexMode, base int, lim nestLimits) (p *nestingProblem, decided bool) {
	buf := make([]byte, n+2)
	copy(buf, src[:n])
	copy(buf[n:], "*/")
	var tokens hclsyntax.Tokens
	root := nestFrame{close: hclsyntax.TokenNil}
	switch mode {
	case lexConfig:
		tokens, _ = hclsyntax.LexConfig(buf, filename, start)
		root.newlineEnds = true // attributes end at a newline
	case lexExpression:
		tokens, _ = hclsyntax.LexExpression(buf, filename, start)
	case lexTemplate:
		tokens, _ = hclsyntax.LexTemplate(buf, filename, start)
		root.template = true
	}
	// The lexer takes the longest match, and the same bytes offer the same
	// matches: the tokens that end within src[:n] are src's, but for the
	// few that a token of src cut by n lexes as (see prefixTail). After
	// them come those of the "*/" appended, and the end.
	end := start.Byte + n // where src[:n] ends, in the tokens' byte offsets (a BOM counts)
	cut := 0
	for cut < len(tokens) && tokens[cut].Range.End.Byte <= end {
		cut++
	}
	truncated := n < len(src)
	var unclosed *hclsyntax.Token
	if cut < len(tokens) && tokens[cut].Type == hclsyntax.TokenComment && bytes.HasPrefix(tokens[cut].Bytes, []byte("/*")) {
		// A block comment that src[:n] does not close: a token of src
		// that n cuts lexes as one only if it is this comment, so all
		// tokens before it are src's.
		if from := tokens[cut].Range.Start.Byte - start.Byte + 2; !truncated || !bytes.Contains(src[from:], []byte("*/")) {
			// src does not close it either, and has no tokens after it.
			unclosed = &tokens[cut]
			truncated = false
		}
	} else if truncated {
		cut = min(cut, max(len(tokens)-prefixTail, 0))
	}
	if p, known := measureTokens(tokens[:cut], root, base, lim, truncated); p != nil || !known {
		return p, p != nil
	}
	if unclosed != nil {
		r := unclosed.Range
		r.End = hcl.Pos{Line: r.Start.Line, Column: r.Start.Column + 2, Byte: r.Start.Byte + 2}
		return &nestingProblem{Range: r, Kind: notClosedYet}, true
	}
	return nil, !truncated
}

// measureTokens measures tokens from the state root, inside base levels.
// When the tokens are only the beginning of a source (truncated), a
// lookahead past their end cannot be answered: known is false then.
//
// Quoted strings and heredocs do not count as a level: one can only nest in
// another through an interpolation, which does. A mismatched closing token
// closes nothing, so that garbage can only make the count higher than the
// parser's nesting, never lower.
func measureTokens(tokens hclsyntax.Tokens, root nestFrame, base int, lim nestLimits, truncated bool) (p *nestingProblem, known bool) {
	stack := []nestFrame{root}
	nest, chain := base, 0 // sums over stack of weight+directives and of chain
	invalid, firstInvalid := 0, hcl.Range{}
	for i, tok := range tokens {
		top := &stack[len(stack)-1]
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
			hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl,
			hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
			// A bracket after a term indexes or splats it, which nests
			// like an operator: f()[0][0]..., x[*][*]...
			if tok.Type == hclsyntax.TokenOBrack {
				top.chain++
				chain++
				if chain > lim.chain {
					return &nestingProblem{Range: tok.Range, Kind: tooLong}, true
				}
			}
			f := nestFrame{close: closerOf(tok.Type), weight: 1}
			switch tok.Type {
			case hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
				f.weight, f.template = 0, true
			case hclsyntax.TokenOBrace, hclsyntax.TokenTemplateControl:
				kw, ok := nextKeyword(tokens[i+1:])
				if !ok && truncated {
					return nil, false
				}
				if tok.Type == hclsyntax.TokenOBrace {
					// Block bodies and object constructors end items at a
					// newline; a {for ...} expression ignores newlines.
					f.newlineEnds = string(kw) != "for"
					break
				}
				// %{if} and %{for} nest what follows, up to their
				// %{endif} and %{endfor}, in the template around them.
				if top.template {
					switch string(kw) {
					case "if", "for":
						top.directives++
						nest++
					case "endif", "endfor":
						if top.directives > 0 {
							top.directives--
							nest--
						}
					}
				}
			}
			stack = append(stack, f)
			nest += f.weight
			if nest > lim.nesting {
				return &nestingProblem{Range: tok.Range}, true
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenTemplateSeqEnd, hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
			if len(stack) > 1 && top.close == tok.Type {
				nest -= top.weight + top.directives
				chain -= top.chain
				stack = stack[:len(stack)-1]
			}
		case hclsyntax.TokenBang, hclsyntax.TokenMinus, hclsyntax.TokenPlus,
			hclsyntax.TokenStar, hclsyntax.TokenSlash, hclsyntax.TokenPercent,
			hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual,
			hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq,
			hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq,
			hclsyntax.TokenAnd, hclsyntax.TokenOr, hclsyntax.TokenQuestion:
			top.chain++
			chain++
			if chain > lim.chain {
				return &nestingProblem{Range: tok.Range, Kind: tooLong}, true
			}
		case hclsyntax.TokenInvalid:
			if invalid == 0 {
				firstInvalid = tok.Range
			}
			if invalid++; invalid > lim.invalid {
				return &nestingProblem{Range: firstInvalid, Kind: tooInvalid}, true
			}
		case hclsyntax.TokenComma:
			chain -= top.chain
			top.chain = 0
		case hclsyntax.TokenNewline, hclsyntax.TokenComment:
			// A line comment ends with the newline that ends its line.
			if top.newlineEnds && (tok.Type == hclsyntax.TokenNewline || bytes.HasSuffix(tok.Bytes, []byte("\n"))) {
				chain -= top.chain
				top.chain = 0
			}
		}
	}
	return nil, true
}

// closerOf returns the token that closes a frame opened by t.
func closerOf(t hclsyntax.TokenType) hclsyntax.TokenType {
	switch t {
	case hclsyntax.TokenOBrace:
		return hclsyntax.TokenCBrace
	case hclsyntax.TokenOBrack:
		return hclsyntax.TokenCBrack
	case hclsyntax.TokenOParen:
		return hclsyntax.TokenCParen
	case hclsyntax.TokenOQuote:
		return hclsyntax.TokenCQuote
	case hclsyntax.TokenOHeredoc:
		return hclsyntax.TokenCHeredoc
	default: // ${ and %{
		return hclsyntax.TokenTemplateSeqEnd
	}
}

// nextKeyword returns the identifier that is the first token of tokens that
// is not a newline or comment (nil when that token is not an identifier),
// and false when there is no such token.
func nextKeyword(tokens hclsyntax.Tokens) ([]byte, bool) {
	for _, t := range tokens {
		switch t.Type {
		case hclsyntax.TokenNewline, hclsyntax.TokenComment:
			continue
		case hclsyntax.TokenIdent:
			return t.Bytes, true
		}
		return nil, true
	}
	return nil, false
}

// jsonNesting measures an HCL JSON source: the nesting of its arrays and
// objects, and the strings in it (values and keys), which HCL parses as
// native-syntax templates while decoding, inside the arrays and objects
// around them. HCL also parses a string as a native expression where a
// static call is expected, which in bizpipe is only a variable's type: see
// checkTypeNesting. (Measuring every string as an expression too would
// refuse literal text such as a long line of dashes.)
//
// It scans strings as HCL's JSON scanner does: a string ends at an unescaped
// quote or before a control character.
func jsonNesting(src []byte, filename string) *nestingProblem {
	var stack []byte // the closing byte of each open array or object
	pos := hcl.InitialPos
	advance := func(b byte) {
		pos.Byte++
		switch {
		case b == '\n':
			pos.Line++
			pos.Column = 1
		case utf8.RuneStart(b):
			pos.Column++
		}
	}
	for i := 0; i < len(src); {
		b := src[i]
		switch b {
		case '[', '{':
			stack = append(stack, b+2) // ']' and '}'
			if len(stack) > maxNesting {
				end := pos
				end.Byte++
				end.Column++
				return &nestingProblem{Range: hcl.Range{Filename: filename, Start: pos, End: end}}
			}
		case ']', '}':
			if n := len(stack); n > 0 && stack[n-1] == b {
				stack = stack[:n-1]
			}
		case '"':
			startPos := pos
			j := i + 1
			escaping := false
		Scan:
			for ; j < len(src); j++ {
				switch c := src[j]; {
				case c == '\\':
					escaping = !escaping
				case c == '"':
					if !escaping {
						j++
						break Scan
					}
					escaping = false
				case c < 32:
					break Scan
				default:
					escaping = false
				}
			}
			if p := jsonStringNesting(src[i:j], filename, startPos, len(stack)); p != nil {
				return p
			}
			for ; i < j; i++ {
				advance(src[i])
			}
			continue
		}
		advance(b)
		i++
	}
	return nil
}

// jsonStringNesting measures the contents of a JSON string token lit, at
// pos, inside base levels of arrays and objects.
func jsonStringNesting(lit []byte, filename string, pos hcl.Pos, base int) *nestingProblem {
	// Each token is at least a byte: a short string cannot reach a limit
	// (maxChain is the larger).
	if base+len(lit) <= maxNesting {
		return nil
	}
	var s string
	if json.Unmarshal(lit, &s) != nil {
		return nil // a syntax error, which the parser reports; never decoded
	}
	// Where HCL starts the positions of a string's template (its escapes
	// make them approximate).
	start := hcl.Pos{Line: pos.Line, Column: pos.Column + 1, Byte: pos.Byte + 1}
	return hclNesting([]byte(s), filename, start, lexTemplate, base)
}

// checkTypeNesting measures a variable's type when it is given in JSON, as a
// string that typeexpr parses as a native expression (a nested type such as
// list(list(...)) recurses like any expression). A native-syntax type was
// measured with its file.
func checkTypeNesting(expr hcl.Expression) *hcl.Diagnostic {
	if _, native := expr.(hclsyntax.Expression); native {
		return nil
	}
	v, ds := expr.Value(nil) // a JSON string, verbatim
	if ds.HasErrors() || !v.IsWhollyKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
		return nil
	}
	r := expr.Range()
	p := hclNesting([]byte(v.AsString()), r.Filename, r.Start, lexExpression, 0)
	if p == nil {
		return nil
	}
	return diag.New(hcl.DiagError, diag.CodeInvalidValue, p.Range, p.summary(), p.detail("This type"))
}
