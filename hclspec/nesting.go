package hclspec

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/engine/diag"
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
)

// lexMode says how a source is read: as a configuration file, as a
// standalone expression (--var values, types in JSON), or as a template (the
// strings of a JSON file).
type lexMode int

const (
	lexConfig lexMode = iota
	lexExpression
	lexTemplate
)

// nestingProblem says where a source first exceeds a limit.
type nestingProblem struct {
	Range hcl.Range
	Chain bool // maxChain was exceeded; otherwise maxNesting
}

// detail explains the problem; what names the source ("This file").
func (p *nestingProblem) detail(what string) string {
	if p.Chain {
		return fmt.Sprintf("%s chains more than %d operators, indexes and splats in one expression, each of which nests the expression one level deeper. It is not parsed, as HCL would exhaust the stack; split the expression, for example into locals.", what, maxChain)
	}
	return fmt.Sprintf("%s nests brackets, braces, blocks, parentheses, string interpolations or template directives more than %d levels deep. It is not parsed, as HCL would exhaust the stack; no real configuration nests that deeply.", what, maxNesting)
}

func (p *nestingProblem) summary() string {
	if p.Chain {
		return "Expression too complex"
	}
	return "Configuration nested too deeply"
}

// CheckNesting measures a configuration or --var-file source (HCL JSON
// when the name ends in .json) and returns a syntax error (BP1000) pointing
// at the first token beyond a limit, or nil when the file may be parsed.
// Load calls it for every file; anything else that parses configuration
// files with HCL (bizpipe fmt) must call it first.
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

// hclNesting measures native-syntax source with HCL's lexer; base is the
// nesting that encloses the source (for the strings of a JSON file).
//
// Quoted strings and heredocs do not count as a level: one can only nest in
// another through an interpolation, which does. A mismatched closing token
// closes nothing, so that garbage can only make the count higher than the
// parser's nesting, never lower.
func hclNesting(src []byte, filename string, start hcl.Pos, mode lexMode, base int) *nestingProblem {
	var tokens hclsyntax.Tokens
	root := nestFrame{close: hclsyntax.TokenNil}
	switch mode {
	case lexConfig:
		tokens, _ = hclsyntax.LexConfig(src, filename, start)
		root.newlineEnds = true // attributes end at a newline
	case lexExpression:
		tokens, _ = hclsyntax.LexExpression(src, filename, start)
	case lexTemplate:
		tokens, _ = hclsyntax.LexTemplate(src, filename, start)
		root.template = true
	}
	stack := []nestFrame{root}
	nest, chain := base, 0 // sums over stack of weight+directives and of chain
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
				if chain > maxChain {
					return &nestingProblem{Range: tok.Range, Chain: true}
				}
			}
			f := nestFrame{close: closerOf(tok.Type), weight: 1}
			switch tok.Type {
			case hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
				f.weight, f.template = 0, true
			case hclsyntax.TokenOBrace:
				// Block bodies and object constructors end items at a
				// newline; a {for ...} expression ignores newlines.
				f.newlineEnds = !nextIsKeyword(tokens[i+1:], "for")
			case hclsyntax.TokenTemplateControl:
				// %{if} and %{for} nest what follows, up to their
				// %{endif} and %{endfor}, in the template around them.
				if top.template {
					switch {
					case nextIsKeyword(tokens[i+1:], "if"), nextIsKeyword(tokens[i+1:], "for"):
						top.directives++
						nest++
					case nextIsKeyword(tokens[i+1:], "endif"), nextIsKeyword(tokens[i+1:], "endfor"):
						if top.directives > 0 {
							top.directives--
							nest--
						}
					}
				}
			}
			stack = append(stack, f)
			nest += f.weight
			if nest > maxNesting {
				return &nestingProblem{Range: tok.Range}
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
			if chain > maxChain {
				return &nestingProblem{Range: tok.Range, Chain: true}
			}
		case hclsyntax.TokenComma:
			chain -= top.chain
			top.chain = 0
		case hclsyntax.TokenNewline, hclsyntax.TokenComment:
			// A line comment ends with the newline that ends its line.
			if top.newlineEnds && (tok.Type == hclsyntax.TokenNewline || strings.HasSuffix(string(tok.Bytes), "\n")) {
				chain -= top.chain
				top.chain = 0
			}
		}
	}
	return nil
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

// nextIsKeyword reports whether the first token of tokens that is not a
// newline or comment is the identifier kw.
func nextIsKeyword(tokens hclsyntax.Tokens, kw string) bool {
	for _, t := range tokens {
		switch t.Type {
		case hclsyntax.TokenNewline, hclsyntax.TokenComment:
			continue
		case hclsyntax.TokenIdent:
			return string(t.Bytes) == kw
		}
		return false
	}
	return false
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
