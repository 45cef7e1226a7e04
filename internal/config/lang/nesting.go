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
	// maxNumberChars bounds a number literal, and a string read as a
	// number (valueLimit): HCL reads one with go-cty in time that grows
	// with the square of its digits (a million took 8 s, and the parser
	// reads it before anything can look at its value). The largest
	// number allowed has 4,933 digits (maxNumberDigits); reading 5,000
	// takes a fraction of a millisecond.
	maxNumberChars = 5000
)

// HCL holds some 500 bytes for each token of a file while it parses it, and
// as much again when it evaluates it: a 4 MiB file of `x = [1,1,1,...]`
// (2 million tokens, no nesting and no chain) took 12 s and 1.8 GB, a file
// of `"${1}${1}..."` 24 s. So the tokens of a source are bounded too, in
// the same pass. Newlines and comments count.
const (
	// maxExprTokens bounds the tokens of one expression: an attribute's
	// value, a --var value, a variable's type or a string of a JSON file.
	// A real filter, list or template has a few hundred, a generated one
	// a few thousand.
	maxExprTokens = 50_000
	// maxFileTokens bounds the tokens of a file. The benchmark
	// configuration of internal/benchgen (1,000 hosts, 2,000 send ports,
	// 200 certificate stores) has 215,000 tokens in 969 KB when all of it
	// is put in one file (TestBenchmarkConfigNotRefused); parsing and
	// validating that takes under 1 s and 256 MiB.
	maxFileTokens = 500_000
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
type nestLimits struct{ nesting, chain, invalid, exprTokens, fileTokens int }

// limits are the limits a source is measured against, with fileTokens of
// its file's tokens left (a JSON file's strings are measured one by one).
func limits(fileTokens int) nestLimits {
	return nestLimits{
		nesting: maxNesting, chain: maxChain, invalid: maxInvalid,
		exprTokens: maxExprTokens, fileTokens: fileTokens,
	}
}

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
	tooDeep       problemKind = iota // maxNesting
	tooLong                          // maxChain
	tooInvalid                       // maxInvalid
	exprTooLarge                     // maxExprTokens
	fileTooLarge                     // maxFileTokens
	notClosedYet                     // a /* comment that the source never closes
	numberTooLong                    // maxNumberChars
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
	case exprTooLarge:
		return fmt.Sprintf("%s has an expression of more than %s tokens (names, numbers, strings, operators, brackets), starting here. It is not parsed, as HCL would take hundreds of bytes and microseconds for each; a real list, object, filter or template has a few thousand at most. Split it, for example into locals.", what, thousands(maxExprTokens))
	case fileTooLarge:
		return fmt.Sprintf("%s has more than %s tokens (names, numbers, strings, operators, brackets, newlines); this is the first beyond. It is not parsed, as HCL would take hundreds of bytes and microseconds for each; a configuration of 1,000 hosts and 2,000 send ports has fewer than half as many. Split it into several files.", what, thousands(maxFileTokens))
	case notClosedYet:
		// HCL's lexer reads from every unclosed /* to the end of the
		// source, so a source of them costs its length squared.
		return fmt.Sprintf("%s opens a comment with /* that no */ closes. It is not parsed; close the comment, or start each line of it with #.", what)
	case numberTooLong:
		// HCL reads a number literal with go-cty, in time that grows
		// with the square of its digits: a million took 8 s.
		return fmt.Sprintf("%s has a number of more than %s characters, here. It is not parsed, as reading it would take minutes; the largest number bizpipe accepts has %s digits.", what, thousands(maxNumberChars), thousands(maxNumberDigits))
	}
	return fmt.Sprintf("%s nests brackets, braces, blocks, parentheses, string interpolations or template directives more than %d levels deep. It is not parsed, as HCL would exhaust the stack; no real configuration nests that deeply.", what, maxNesting)
}

func (p *nestingProblem) summary() string {
	switch p.Kind {
	case tooLong:
		return "Expression too complex"
	case tooInvalid:
		return "Not a configuration file"
	case exprTooLarge:
		return "Expression too large"
	case fileTooLarge:
		return "Configuration file too large"
	case notClosedYet:
		return "Unclosed comment"
	case numberTooLong:
		return "Number too long"
	}
	return "Configuration nested too deeply"
}

// CheckNesting measures a configuration or --var-file source (HCL JSON
// when the name ends in .json) and returns a syntax error (BP1000) pointing
// at the first token beyond a limit (the first invalid character beyond
// maxInvalid, the start of an expression beyond maxExprTokens), or at a /*
// comment never closed, or nil when the file may be parsed. It costs little
// more than lexing the first 64 KiB of a source that has such a problem (up
// to maxFileTokens tokens, for a file beyond them). Load calls it for every
// file; anything else that parses configuration files with HCL (bizpipe fmt)
// must call it first.
func CheckNesting(src []byte, filename string) *hcl.Diagnostic {
	var p *nestingProblem
	if strings.HasSuffix(filename, ".json") {
		p = jsonNesting(src, filename)
	} else {
		p, _ = hclNesting(src, filename, hcl.InitialPos, lexConfig, 0, maxFileTokens)
	}
	if p == nil {
		return nil
	}
	return diag.New(hcl.DiagError, diag.CodeSyntax, p.Range, p.summary(), p.detail("This file"))
}

// nestFrame is one open bracket (or the source itself) while measuring.
type nestFrame struct {
	close       hclsyntax.TokenType // the token that closes the frame
	body        bool                // a configuration body (the root, or a block's braces): `=` starts an expression
	weight      int                 // 1, or 0 for the root and for quoted strings and heredocs
	template    bool                // a template body: its interpolations and directives are a flat list
	newlineEnds bool                // a newline ends the expression being chained
	chain       int                 // chained tokens of the current expression in this frame
	directives  int                 // open %{if} and %{for} directives (template frames)
}

// hclNesting measures native-syntax source; base is the nesting that
// encloses the source (for the strings of a JSON file), and fileTokens how
// many tokens its file has left. It lexes growing prefixes of a long source
// first (see firstPrefix). Without a problem, it returns the source's
// tokens.
func hclNesting(src []byte, filename string, start hcl.Pos, mode lexMode, base, fileTokens int) (*nestingProblem, int) {
	return measureNesting(src, filename, start, mode, base, limits(fileTokens), firstPrefix)
}

// measureNesting is hclNesting with the limits and the first prefix given.
func measureNesting(src []byte, filename string, start hcl.Pos, mode lexMode, base int, lim nestLimits, prefix int) (*nestingProblem, int) {
	for n := prefix; n < len(src); {
		p, _, tokens := measurePrefix(src, n, filename, start, mode, base, lim)
		if p != nil {
			return p, 0
		}
		n = nextPrefix(n, tokens, lim.fileTokens)
	}
	p, _, tokens := measurePrefix(src, len(src), filename, start, mode, base, lim)
	if p != nil {
		return p, 0
	}
	return nil, tokens
}

// nextPrefix returns the length of the prefix to measure after one of n
// bytes that holds tokens tokens: four times as long, but no longer than
// what likely holds a few more than fileTokens, so that a file of many small
// tokens is not lexed far beyond where it crosses the limit.
func nextPrefix(n, tokens, fileTokens int) int {
	next := n * 4
	if tokens > 0 {
		// At n/tokens bytes a token; a quarter more covers a source
		// that gets a little sparser.
		next = min(next, n*(fileTokens+fileTokens/4+1)/tokens)
	}
	return max(next, n+1)
}

// measurePrefix measures src[:n] as hclNesting measures src. When n is
// shorter than src, a problem it returns is the one src has, but nil means
// only that src[:n] shows none; decided then says that src has none either.
// tokens is how many tokens of src it measured.
//
// It lexes src[:n] followed by "*/", which closes an unclosed block comment.
// HCL's lexer otherwise reads on from every /* to the end of the source
// before it takes the / and * for tokens of their own, and so 300 KB of
// `/* /* /* ...` took it three minutes. The unclosed comment is reported
// instead: its /* and * are a syntax error anyway.
func measurePrefix(src []byte, n int, filename string, start hcl.Pos, mode lexMode, base int, lim nestLimits) (p *nestingProblem, decided bool, tokens int) {
	buf := make([]byte, n+2)
	copy(buf, src[:n])
	copy(buf[n:], "*/")
	var toks hclsyntax.Tokens
	root := nestFrame{close: hclsyntax.TokenNil}
	switch mode {
	case lexConfig:
		toks, _ = hclsyntax.LexConfig(buf, filename, start)
		root.newlineEnds = true // attributes end at a newline
		root.body = true
	case lexExpression:
		toks, _ = hclsyntax.LexExpression(buf, filename, start)
	case lexTemplate:
		toks, _ = hclsyntax.LexTemplate(buf, filename, start)
		root.template = true
	}
	// The lexer takes the longest match, and the same bytes offer the same
	// matches: the tokens that end within src[:n] are src's, but for the
	// few that a token of src cut by n lexes as (see prefixTail). After
	// them come those of the "*/" appended, and the end.
	end := start.Byte + n // where src[:n] ends, in the tokens' byte offsets (a BOM counts)
	cut := 0
	for cut < len(toks) && toks[cut].Range.End.Byte <= end {
		cut++
	}
	truncated := n < len(src)
	var unclosed *hclsyntax.Token
	if cut < len(toks) && toks[cut].Type == hclsyntax.TokenComment && bytes.HasPrefix(toks[cut].Bytes, []byte("/*")) {
		// A block comment that src[:n] does not close: a token of src
		// that n cuts lexes as one only if it is this comment, so all
		// tokens before it are src's.
		if from := toks[cut].Range.Start.Byte - start.Byte + 2; !truncated || !bytes.Contains(src[from:], []byte("*/")) {
			// src does not close it either, and has no tokens after it.
			unclosed = &toks[cut]
			truncated = false
		}
	} else if truncated {
		cut = min(cut, max(len(toks)-prefixTail, 0))
	}
	if p, known := measureTokens(toks[:cut], root, base, lim, truncated); p != nil || !known {
		return p, p != nil, cut
	}
	if unclosed != nil {
		r := unclosed.Range
		r.End = hcl.Pos{Line: r.Start.Line, Column: r.Start.Column + 2, Byte: r.Start.Byte + 2}
		return &nestingProblem{Range: r, Kind: notClosedYet}, true, cut
	}
	return nil, !truncated, cut
}

// measureTokens measures tokens from the state root, inside base levels.
// When the tokens are only the beginning of a source (truncated), a
// lookahead past their end cannot be answered: known is false then.
//
// Quoted strings and heredocs do not count as a level: one can only nest in
// another through an interpolation, which does. A mismatched closing token
// closes nothing, so that garbage can only make the count higher than the
// parser's nesting, never lower.
//
// An expression is what follows the `=` of an attribute in a body, up to
// the newline (or the brace closing the body) that ends it; a source that
// is not a configuration is one expression.
func measureTokens(tokens hclsyntax.Tokens, root nestFrame, base int, lim nestLimits, truncated bool) (p *nestingProblem, known bool) {
	stack := []nestFrame{root}
	nest, chain := base, 0 // sums over stack of weight+directives and of chain
	invalid, firstInvalid := 0, hcl.Range{}
	// The expression being measured starts at tokens[exprStart] in the
	// body stack[exprDepth-1] (exprDepth is 0 outside expressions), and
	// has exprTokens tokens so far.
	exprStart, exprDepth, exprTokens := 0, 0, 0
	if !root.body {
		exprDepth = 1
	}
	for i, tok := range tokens {
		if i >= lim.fileTokens {
			return &nestingProblem{Range: tok.Range, Kind: fileTooLarge}, true
		}
		if exprDepth > 0 {
			if exprTokens++; exprTokens > lim.exprTokens {
				return &nestingProblem{Range: tokens[exprStart].Range, Kind: exprTooLarge}, true
			}
		}
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
					// Braces in a body, outside an attribute's value,
					// are a block's.
					f.body = top.body && exprDepth == 0
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
				if len(stack) < exprDepth {
					exprDepth = 0 // `b { a = 1 }`: the block's brace ends a's value
				}
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
		case hclsyntax.TokenNumberLit:
			if len(tok.Bytes) > maxNumberChars {
				return &nestingProblem{Range: tok.Range, Kind: numberTooLong}, true
			}
		case hclsyntax.TokenInvalid:
			if invalid == 0 {
				firstInvalid = tok.Range
			}
			if invalid++; invalid > lim.invalid {
				return &nestingProblem{Range: firstInvalid, Kind: tooInvalid}, true
			}
		case hclsyntax.TokenEqual:
			if top.body && exprDepth == 0 {
				exprStart, exprDepth, exprTokens = i+1, len(stack), 0
			}
		case hclsyntax.TokenComma:
			chain -= top.chain
			top.chain = 0
		case hclsyntax.TokenNewline, hclsyntax.TokenComment:
			// A line comment ends with the newline that ends its line.
			if top.newlineEnds && (tok.Type == hclsyntax.TokenNewline || bytes.HasSuffix(tok.Bytes, []byte("\n"))) {
				chain -= top.chain
				top.chain = 0
				if top.body && len(stack) == exprDepth {
					exprDepth = 0
				}
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
// quote or before a control character. It counts the tokens of the file as
// HCL's scanner does (brackets, braces, commas, colons, strings, and runs of
// other bytes: numbers and keywords), a string measured as a template as
// its template's tokens. Which values are expressions depends on the schema
// in HCL JSON, so only strings are measured as expressions.
func jsonNesting(src []byte, filename string) *nestingProblem {
	var stack []byte // the closing byte of each open array or object
	tokens := 0
	inWord := false // within a run of bytes that is a number or keyword
	// number is how many bytes of a number have been read, from
	// numberStart: HCL reads one in time that grows with the square of
	// its digits (maxNumberChars).
	pos := hcl.InitialPos
	number, numberStart := 0, pos
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
		word := false
		switch b {
		case ' ', '\t', '\r', '\n', '[', '{', ']', '}', ',', ':', '"':
		default:
			word = true
		}
		if (!word || !inWord) && b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			if tokens++; tokens > maxFileTokens {
				end := pos
				end.Byte++
				end.Column++
				return &nestingProblem{Range: hcl.Range{Filename: filename, Start: pos, End: end}, Kind: fileTooLarge}
			}
		}
		inWord = word
		if (b >= '0' && b <= '9') || b == '-' || b == '+' || b == '.' || b == 'e' || b == 'E' {
			if number == 0 {
				numberStart = pos
			}
			if number++; number > maxNumberChars {
				return &nestingProblem{Range: hcl.Range{Filename: filename, Start: numberStart, End: pos}, Kind: numberTooLong}
			}
		} else {
			number = 0
		}
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
			p, n := jsonStringNesting(src[i:j], filename, startPos, len(stack), maxFileTokens-tokens+1)
			if p != nil {
				return p
			}
			tokens += n - 1 // the string counted as one already
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
// pos, inside base levels of arrays and objects, with fileTokens tokens of
// the file left for it. Without a problem, it returns how many tokens the
// string counts as (at least 1).
func jsonStringNesting(lit []byte, filename string, pos hcl.Pos, base, fileTokens int) (*nestingProblem, int) {
	// Each token is at least a byte: a short string cannot reach a limit
	// (maxChain is the larger), and counts as a few tokens at most.
	if base+len(lit) <= maxNesting {
		return nil, 1
	}
	var s string
	if json.Unmarshal(lit, &s) != nil {
		return nil, 1 // a syntax error, which the parser reports; never decoded
	}
	// Where HCL starts the positions of a string's template, mapped to
	// the file as the template's own are (parseJSONTemplate).
	start := hcl.Pos{Line: pos.Line, Column: pos.Column + 1, Byte: pos.Byte + 1}
	p, n := hclNesting([]byte(s), filename, start, lexTemplate, base, fileTokens)
	if p != nil {
		rng := hcl.Range{Filename: filename, Start: pos, End: hcl.Pos{Byte: pos.Byte + len(lit)}}
		mapStringRanges(lit, rng, s, func(fix func(hcl.Range) hcl.Range) { p.Range = fix(p.Range) })
	}
	return p, max(n, 1)
}

// checkTypeNesting measures a variable's type when it is given in JSON, as a
// string that typeexpr parses as a native expression (a nested type such as
// list(list(...)) recurses like any expression), whose positions are mapped
// to file, the text of its file (see jsonTypeSyntax). A native-syntax type
// was measured with its file.
func checkTypeNesting(expr hcl.Expression, file []byte) *hcl.Diagnostic {
	if _, native := expr.(hclsyntax.Expression); native {
		return nil
	}
	v, ds := expr.Value(nil) // a JSON string, verbatim
	if ds.HasErrors() || !v.IsWhollyKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
		return nil
	}
	r := expr.Range()
	p, _ := hclNesting([]byte(v.AsString()), r.Filename, stringStart(r), lexExpression, 0, maxFileTokens)
	if p == nil {
		return nil
	}
	if tok := stringToken(file, r); tok != nil {
		mapStringRanges(tok, r, v.AsString(), func(fix func(hcl.Range) hcl.Range) { p.Range = fix(p.Range) })
	}
	return diag.New(hcl.DiagError, diag.CodeInvalidValue, p.Range, p.summary(), p.detail("This type"))
}

// thousands writes n with comma separators: 50,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
