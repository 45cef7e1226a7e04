package lsp

import (
	"bytes"
	"cmp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

// attrInfo and blockInfo are one schema for the language's blocks (from
// lang.Blocks) and the components' (from the registry).
type attrInfo struct {
	name, typ, doc string
	values         []string // enum values
	bool           bool
	ref            string // the root of the reference it takes: "host"
}

type blockInfo struct {
	typ, doc  string
	labeled   bool
	component component.Kind
	// body is the block's schema; nil for a component block, whose
	// schema depends on its label.
	body *schema
}

type schema struct {
	attrs  []attrInfo
	blocks []blockInfo
}

func langSchema(bs []lang.Block, attrs []lang.Attribute) *schema {
	s := &schema{}
	for _, a := range attrs {
		ai := attrInfo{name: a.Name, typ: a.Type, doc: a.Doc, values: a.Values, bool: a.Type == component.Bool.String()}
		if root, ok := strings.CutPrefix(a.Type, "reference to "); ok {
			ai.ref = root
		}
		s.attrs = append(s.attrs, ai)
	}
	for _, b := range bs {
		bi := blockInfo{typ: b.Type, doc: b.Summary, labeled: len(b.Labels) > 0, component: b.Component}
		if b.Component == 0 && !b.AnyAttributes {
			bi.body = langSchema(b.Blocks, b.Attributes)
		}
		s.blocks = append(s.blocks, bi)
	}
	return s
}

func componentAttrs(attrs []component.Attribute) []attrInfo {
	var out []attrInfo
	for _, a := range attrs {
		ai := attrInfo{name: a.Name, typ: a.Type.String(), doc: a.Doc, values: a.Values, bool: a.Type == component.Bool}
		if a.Type == component.PartyRef {
			ai.ref = "party"
		}
		out = append(out, ai)
	}
	return out
}

func componentSchema(spec *component.Spec) *schema {
	s := &schema{attrs: componentAttrs(spec.Attributes)}
	for _, b := range spec.Blocks {
		s.blocks = append(s.blocks, blockInfo{typ: b.Type, doc: b.Doc, body: &schema{attrs: componentAttrs(b.Attributes)}})
	}
	return s
}

// frame is an open brace, bracket, parenthesis or interpolation before
// the cursor: a block (with its type and first label) or part of an
// expression.
type frame struct {
	block      bool
	typ, label string
}

// cursorContext reads the text before the cursor with HCL's lexer, which
// takes unfinished text: the blocks the cursor is in, and the tokens of
// its line so far.
func cursorContext(before []byte) (blocks []frame, line []hclsyntax.Token, ok bool) {
	toks, _ := hclsyntax.LexConfig(before, "", hcl.InitialPos)
	var stack []frame
	inBlockBody := func() bool { return len(stack) == 0 || stack[len(stack)-1].block }
	pop := func() {
		if len(stack) > 0 {
			stack = stack[:len(stack)-1]
		}
	}
	for _, t := range toks {
		switch t.Type {
		case hclsyntax.TokenEOF:
			continue
		case hclsyntax.TokenComment:
			// A line comment holds the newline that ends it.
			if bytes.HasSuffix(t.Bytes, []byte("\n")) && inBlockBody() {
				line = line[:0]
			}
			continue
		case hclsyntax.TokenNewline:
			if inBlockBody() {
				line = line[:0]
			}
			continue
		case hclsyntax.TokenOBrace:
			if f, ok := blockHeader(line); ok && inBlockBody() {
				stack = append(stack, f)
				line = line[:0]
				continue
			}
			stack = append(stack, frame{})
		case hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			stack = append(stack, frame{})
		case hclsyntax.TokenCBrace:
			wasBlock := len(stack) > 0 && stack[len(stack)-1].block
			pop()
			if wasBlock {
				line = line[:0]
				continue
			}
		case hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenTemplateSeqEnd:
			pop()
		}
		line = append(line, t)
	}
	for _, f := range stack {
		if !f.block {
			return nil, nil, false // in an expression: no block or attribute names here
		}
	}
	return stack, line, true
}

// blockHeader recognises TYPE ["LABEL" | LABEL]... before an opening brace.
func blockHeader(line []hclsyntax.Token) (frame, bool) {
	if len(line) == 0 || line[0].Type != hclsyntax.TokenIdent {
		return frame{}, false
	}
	f := frame{block: true, typ: string(line[0].Bytes)}
	for _, t := range line[1:] {
		switch t.Type {
		case hclsyntax.TokenOQuote, hclsyntax.TokenCQuote:
		case hclsyntax.TokenQuotedLit, hclsyntax.TokenIdent:
			if f.label == "" {
				f.label = string(t.Bytes)
			}
		default:
			return frame{}, false
		}
	}
	return f, true
}

// schemaAt resolves the blocks the cursor is in to the schema of the
// innermost; nil when one of them is unknown.
func (s *server) schemaAt(blocks []frame) *schema {
	cur := s.root
	for _, f := range blocks {
		var next *schema
		for _, b := range cur.blocks {
			if b.typ != f.typ {
				continue
			}
			if b.component != 0 {
				if spec, ok := s.opts.Registry.Lookup(b.component, f.label); ok {
					next = componentSchema(spec)
				}
			} else {
				next = b.body
			}
		}
		if next == nil {
			return nil
		}
		cur = next
	}
	return cur
}

// completion offers block and attribute names, component names, enum and
// boolean values, and the names a reference may take.
func (s *server) completion(p positionParams) CompletionList {
	empty := CompletionList{Items: []CompletionItem{}}
	s.mu.Lock()
	d := s.docs[p.TextDocument.URI]
	s.mu.Unlock()
	// Its names are written in HCL's syntax: a JSON file has none of
	// them (group inserted there is a syntax error), nor a --var-file,
	// whose path is "" as an untitled buffer's, which gets them.
	if d == nil || configDir(d.path) == "" && d.path != "" || isJSON(d.path) || d.varFile {
		return empty
	}
	off := offsetOf(d.text, p.Position)
	if !readable(d.text[:off], d.path) {
		return empty
	}
	blocks, line, ok := cursorContext(d.text[:off])
	if !ok {
		return empty
	}
	li := newLineIndex(d.text)
	replace := func(prefix string) Range {
		return Range{Start: li.position(off - len(prefix)), End: p.Position}
	}
	// The names the configuration declares: as it last decoded, when
	// a syntax error (the line being typed) keeps a file from decoding.
	var cfg *model.Config
	if _, snap := s.snapshotFor(p.TextDocument.URI); snap != nil {
		cfg = cmp.Or(snap.decoded, snap.cfg)
	}
	var items []CompletionItem
	add := func(label, newText string, kind int, detail, doc string, r Range) {
		it := CompletionItem{Label: label, Kind: kind, Detail: detail, TextEdit: &textEdit{Range: r, NewText: newText}}
		if doc != "" {
			it.Documentation = &markupContent{Kind: "markdown", Value: doc}
		}
		items = append(items, it)
	}
	types := func(t hclsyntax.Token) hclsyntax.TokenType { return t.Type }
	is := func(i int, tt hclsyntax.TokenType) bool { return i < len(line) && types(line[i]) == tt }
	endsAtCursor := func(t hclsyntax.Token) bool { return t.Range.End.Byte == off }

	sch := s.schemaAt(blocks)
	if sch == nil {
		return empty
	}
	switch {
	case len(line) == 0 || len(line) == 1 && is(0, hclsyntax.TokenIdent) && endsAtCursor(line[0]):
		prefix := ""
		if len(line) == 1 {
			prefix = string(line[0].Bytes)
		}
		r := replace(prefix)
		for _, a := range sch.attrs {
			add(a.name, a.name, kindProperty, a.typ, a.doc, r)
		}
		for _, b := range sch.blocks {
			add(b.typ, b.typ, kindModule, "block", b.doc, r)
		}
	case is(0, hclsyntax.TokenIdent) && is(1, hclsyntax.TokenOQuote) && !is(2, hclsyntax.TokenCQuote) && len(line) <= 3:
		// A block label: the components of a transport, encoder or
		// decoder block.
		prefix := ""
		if len(line) == 3 && is(2, hclsyntax.TokenQuotedLit) {
			prefix = string(line[2].Bytes)
		}
		for _, b := range sch.blocks {
			if b.typ == string(line[0].Bytes) && b.component != 0 {
				for _, spec := range s.opts.Registry.Specs() {
					if spec.Kind == b.component {
						add(spec.Name, spec.Name, kindValue, spec.Kind.String(), spec.Summary, replace(prefix))
					}
				}
			}
		}
	case is(0, hclsyntax.TokenIdent) && is(1, hclsyntax.TokenEqual):
		var attr *attrInfo
		for i := range sch.attrs {
			if sch.attrs[i].name == string(line[0].Bytes) {
				attr = &sch.attrs[i]
			}
		}
		rest := line[2:]
		n := len(rest)
		switch {
		case n >= 2 && rest[n-1].Type == hclsyntax.TokenDot && rest[n-2].Type == hclsyntax.TokenIdent:
			refNames(cfg, string(rest[n-2].Bytes), "", replace(""), add)
		case n >= 3 && rest[n-1].Type == hclsyntax.TokenIdent && endsAtCursor(rest[n-1]) && rest[n-2].Type == hclsyntax.TokenDot && rest[n-3].Type == hclsyntax.TokenIdent:
			prefix := string(rest[n-1].Bytes)
			refNames(cfg, string(rest[n-3].Bytes), "", replace(prefix), add)
		case attr == nil:
		case n == 0 || n == 1 && rest[0].Type == hclsyntax.TokenIdent && endsAtCursor(rest[0]):
			prefix := ""
			if n == 1 {
				prefix = string(rest[0].Bytes)
			}
			r := replace(prefix)
			for _, v := range attr.values {
				add(v, `"`+v+`"`, kindEnumMember, attr.typ, "", r)
			}
			if attr.bool {
				add("true", "true", kindValue, "bool", "", r)
				add("false", "false", kindValue, "bool", "", r)
			}
			if attr.ref != "" {
				refNames(cfg, attr.ref, attr.ref+".", r, add)
			}
		case rest[0].Type == hclsyntax.TokenOQuote && (n == 1 || n == 2 && rest[1].Type == hclsyntax.TokenQuotedLit):
			prefix := ""
			if n == 2 {
				prefix = string(rest[1].Bytes)
			}
			for _, v := range attr.values {
				add(v, v, kindEnumMember, attr.typ, "", replace(prefix))
			}
		}
	}
	if items == nil {
		return empty
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].Label < items[j].Label })
	return CompletionList{Items: items}
}

// refNames offers the declared names for a reference ROOT.NAME, each as
// prefix+NAME.
func refNames(cfg *model.Config, root, prefix string, r Range, add func(label, newText string, kind int, detail, doc string, r Range)) {
	if cfg == nil {
		return
	}
	var names []string
	switch root {
	case "host":
		for _, x := range cfg.Hosts {
			names = append(names, x.Name)
		}
	case "server":
		for _, x := range cfg.Servers {
			names = append(names, x.Name)
		}
	case "service_account":
		for _, x := range cfg.Accounts {
			names = append(names, x.Name)
		}
	case "certificate_store":
		for _, x := range cfg.Stores {
			names = append(names, x.Name)
		}
	case "pipeline":
		for _, x := range cfg.Pipelines {
			names = append(names, x.Name)
		}
	case "party":
		for _, x := range cfg.Parties {
			names = append(names, x.Name)
		}
	case "var":
		for _, x := range cfg.Variables {
			names = append(names, x.Name)
		}
	case "local":
		for _, x := range cfg.Locals {
			names = append(names, x.Name)
		}
	}
	detail := refBlocks[root]
	for _, n := range names {
		add(prefix+n, prefix+n, kindReference, detail, "", r)
	}
}
