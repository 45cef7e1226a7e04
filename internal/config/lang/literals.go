package lang

// The literal secrets of a configuration's files: what its snippets and
// bizpipe fmt --diff must not show as written (LiteralSecrets).

import (
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/registry"
)

// LiteralSecrets are the string literals files write where a secret goes:
// a sensitive variable's default and a store's password, and what the
// locals and variables' defaults these use write, through any number of
// them and across the files (password = local.pw, with pw = "..." in
// another file; password = var.pw, pw not marked sensitive). When they
// evaluate, SensitiveStrings has their values already; one that does not
// (a default of the wrong type, a call that fails) is only text, which a
// snippet of its line would show. A password written as a literal is a
// secret too, wherever it is written, and so is the password in a postgres
// message box's url, and what a component's attributes that carry
// credentials write (component.Credential: a send transport's
// Authorization header, its url's password). A local that selects a part of another
// (local.creds.pw) keeps only that part a secret: the rest of it, and a
// local used only where no secret goes, is shown.
// bizpipe fmt --diff, which shows files as written, hides them too.
// Each is there as its value and as written, escapes and all: a snippet
// shows the file, where "p\u00e4ss" (Python's json.dumps writes every
// non-ASCII letter so) is not the value "päss" nor any escaped form of it.
func LiteralSecrets(files []*hcl.File) []string {
	return findSecrets(files, registry.Builtin()).literals
}

// foundSecrets are what findSecrets finds in a configuration's files.
type foundSecrets struct {
	literals []string // LiteralSecrets
	// vars are the variables whose value goes where a secret goes, all
	// of it (password = var.pw, or through locals); urlVars those whose
	// value is a URL whose password is one (a postgres message box's url).
	vars, urlVars map[string]bool
}

// findSecrets finds the literal secrets of files, whose components are
// reg's, and the variables whose values are secrets (foundSecrets).
func findSecrets(files []*hcl.File, reg *component.Registry) foundSecrets {
	s := newSecretLiterals(map[string][]hcl.Expression{})
	s.reg = reg
	var sinks, urls, headers []hcl.Expression
	for _, f := range files {
		if f == nil || f.Body == nil {
			continue
		}
		s.srcs[f.Body.MissingItemRange().Filename] = f.Bytes
		found := s.scan(f.Body)
		sinks, urls, headers = append(sinks, found.sinks...), append(urls, found.urls...), append(headers, found.headers...)
	}
	for _, e := range sinks {
		s.add(e, nil)
	}
	for _, e := range headers {
		s.addHeaders(e)
	}
	// A URL is not a secret, but the password it carries is (pgbox hides
	// a postgres message box's in its errors, the http client a
	// transport's): that of each URL written, there or in a local it
	// uses.
	u := newSecretLiterals(s.defs)
	for _, e := range urls {
		u.add(e, nil)
		s.addURLPasswords(e)
	}
	for _, lit := range u.out {
		s.out = append(s.out, pgbox.SecretsOf(lit)...)
	}
	return foundSecrets{literals: s.out, vars: s.vars, urlVars: u.vars}
}

// addURLPasswords adds all of what url, a template, interpolates as a
// URL's password ("https://user:${var.pw}@host/"), which the literals
// around it do not show; also where the template is a local's, url or a
// template of it using that local (url = local.u, or "${local.base}/in").
func (s *secretLiterals) addURLPasswords(url hcl.Expression) {
	if native, ok := url.(hclsyntax.Expression); ok {
		s.urlPasswords(native, map[string]bool{})
	}
}

// urlPasswords is addURLPasswords of e, followed into the locals it uses
// whole; followed are the locals already followed, so that a cycle ends.
func (s *secretLiterals) urlPasswords(e hclsyntax.Expression, followed map[string]bool) {
	switch e := unwrapNative(e).(type) {
	case *hclsyntax.ScopeTraversalExpr:
		if e.Traversal.RootName() != "local" || len(e.Traversal) != 2 {
			return
		}
		a, ok := e.Traversal[1].(hcl.TraverseAttr)
		if !ok || followed[a.Name] {
			return
		}
		followed[a.Name] = true
		for _, d := range s.defs["local."+a.Name] {
			if native, ok := d.(hclsyntax.Expression); ok {
				s.urlPasswords(native, followed)
			}
		}
	case *hclsyntax.TemplateWrapExpr:
		s.urlPasswords(e.Wrapped, followed)
	case *hclsyntax.TemplateExpr:
		for i, part := range e.Parts {
			if i > 0 {
				lit, ok := e.Parts[i-1].(*hclsyntax.LiteralValueExpr)
				if ok && lit.Val.Type() == cty.String && lit.Val.IsKnown() && userinfoColon.MatchString(lit.Val.AsString()) {
					s.add(part, nil)
				}
			}
			s.urlPasswords(part, followed)
		}
	}
}

// userinfoColon matches the text of a URL up to the colon of its user
// information, what comes after being the password.
var userinfoColon = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*:$`)

func newSecretLiterals(defs map[string][]hcl.Expression) *secretLiterals {
	return &secretLiterals{defs: defs, seen: map[string]bool{}, parts: map[string]int{}, active: map[string]bool{}, srcs: map[string][]byte{}, vars: map[string]bool{}}
}

// maxSecretParts is how many parts of a value follow selects before it
// takes the value whole. An object's duplicate keys, or a local declared
// twice, each select two parts of the next local, along a path that grows
// with the selection (local.b.k.k, local.b.k.j): thirty such lines made
// 2^30 paths to follow, and Load (validate, the language server) hung.
const maxSecretParts = 16

// SourceLiteralSecrets is LiteralSecrets of files not loaded, by name
// their text, parsed as Load parses them; what cannot be parsed (a file
// nested too deeply) adds nothing, and a file with syntax errors what was
// read of it.
func SourceLiteralSecrets(srcs map[string][]byte) []string {
	files := make([]*hcl.File, 0, len(srcs))
	for name, src := range srcs {
		if e := parseFile(src, name); e.file != nil {
			files = append(files, e.file)
		}
	}
	return LiteralSecrets(files)
}

// secretLiterals gathers the literals of LiteralSecrets.
type secretLiterals struct {
	// defs are the expressions of each local (local.NAME) and variable's
	// default (var.NAME), more than one when declared twice.
	defs   map[string][]hcl.Expression
	seen   map[string]bool   // the values followed, with the path selected in them
	parts  map[string]int    // how many parts of each value were followed (maxSecretParts)
	active map[string]bool   // the values being followed, to stop at a cycle
	srcs   map[string][]byte // the files' texts, by name, for the literals as written
	vars   map[string]bool   // the variables followed, by name: their values are secrets too
	reg    *component.Registry
	out    []string
}

// secretPlaces are the expressions a body writes where a secret goes:
// sinks all of whose literals are secrets, urls whose password is one,
// headers (maps of header fields) whose credential fields' values are.
type secretPlaces struct {
	sinks, urls, headers []hcl.Expression
}

func (p *secretPlaces) extend(q secretPlaces) {
	p.sinks, p.urls, p.headers = append(p.sinks, q.sinks...), append(p.urls, q.urls...), append(p.headers, q.headers...)
}

// componentKinds are, by the type of the block that holds them, the kinds
// of the component blocks within, by block type.
var componentKinds = map[string]map[string]component.Kind{
	blockSendPort:        {"transport": component.SendTransport},
	blockReceiveLocation: {"transport": component.ReceiveTransport},
	blockPipeline:        {component.Encoder.Block(): component.Encoder, component.Decoder.Block(): component.Decoder},
}

// componentSecrets returns the expressions of the attributes that carry
// credentials (component.Attribute.Credential) in the component blocks of
// body, a block of type owner, and in their nested blocks.
func (s *secretLiterals) componentSecrets(owner string, body hcl.Body) secretPlaces {
	kinds := componentKinds[owner]
	schema := &hcl.BodySchema{}
	for t := range kinds {
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: t, LabelNames: []string{"kind"}})
	}
	var out secretPlaces
	content, _, _ := body.PartialContent(schema)
	for _, cb := range content.Blocks {
		spec, ok := s.reg.Lookup(kinds[cb.Type], cb.Labels[0])
		if !ok {
			continue
		}
		out.extend(credentialAttributes(cb.Body, spec.Attributes))
		for _, bs := range spec.Blocks {
			nested, _, _ := cb.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: bs.Type}}})
			for _, nb := range nested.Blocks {
				out.extend(credentialAttributes(nb.Body, bs.Attributes))
			}
		}
	}
	return out
}

// credentialAttributes returns the expressions of body's attributes that
// attrs say carry credentials.
func credentialAttributes(body hcl.Body, attrs []component.Attribute) secretPlaces {
	schema := &hcl.BodySchema{}
	for _, a := range attrs {
		if a.Credential != component.NoCredential {
			schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a.Name})
		}
	}
	var out secretPlaces
	if len(schema.Attributes) == 0 {
		return out
	}
	content, _, _ := body.PartialContent(schema)
	for _, a := range attrs {
		ca := content.Attributes[a.Name]
		if ca == nil {
			continue
		}
		switch a.Credential {
		case component.CredentialURLPassword:
			out.urls = append(out.urls, ca.Expr)
		case component.CredentialHeaders:
			out.headers = append(out.headers, ca.Expr)
		}
	}
	return out
}

// addHeaders records the literals of the values expr, a map of header
// fields written out (as the decoder requires: hcl.ExprMap), gives the
// fields that carry credentials (component.CredentialHeader), and follows
// the locals and variables they use. A name that is not a constant could
// be any: its value counts. Of a template, a part that is only an
// authentication scheme or a cookie's name ("Bearer ${var.token}",
// "sid=${var.sid}") is not a secret: shown, it says which header it is.
func (s *secretLiterals) addHeaders(expr hcl.Expression) {
	pairs, diags := hcl.ExprMap(expr)
	if diags.HasErrors() {
		return
	}
	for _, p := range pairs {
		k, diags := p.Key.Value(nil)
		if !diags.HasErrors() && k.Type() == cty.String && k.IsKnown() && !k.IsNull() && !component.CredentialHeader(k.AsString()) {
			continue
		}
		native, ok := p.Value.(hclsyntax.Expression)
		if !ok {
			s.add(p.Value, nil)
			continue
		}
		t, ok := unwrapNative(native).(*hclsyntax.TemplateExpr)
		if !ok || len(t.Parts) < 2 {
			s.add(p.Value, nil)
			continue
		}
		for _, part := range t.Parts {
			if lit, ok := part.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String && lit.Val.IsKnown() && schemeOnly.MatchString(lit.Val.AsString()) {
				continue
			}
			s.add(part, nil)
		}
	}
}

// schemeOnly matches the text of a template before its first
// interpolation that is only an authentication scheme ("Bearer ") or a
// cookie's name ("sid=").
var schemeOnly = regexp.MustCompile(`^\s*[\w!#$%&'*+.^|~-]+(\s+|=)$`)

// scan records the locals and variables' defaults body declares and
// returns the expressions it writes where a secret goes (secretPlaces).
func (s *secretLiterals) scan(body hcl.Body) secretPlaces {
	native, ok := body.(*hclsyntax.Body)
	if !ok {
		return s.scanJSON(body)
	}
	var out secretPlaces
	for _, b := range native.Blocks {
		switch b.Type {
		case blockVariable:
			def := b.Body.Attributes["default"]
			if def == nil || len(b.Labels) != 1 {
				continue
			}
			s.defs["var."+b.Labels[0]] = append(s.defs["var."+b.Labels[0]], def.Expr)
			if a := b.Body.Attributes["sensitive"]; a != nil && constantTrue(a.Expr) {
				out.sinks = append(out.sinks, def.Expr)
			}
		case blockStore:
			if a := b.Body.Attributes["password"]; a != nil {
				out.sinks = append(out.sinks, a.Expr)
			}
		case blockLocals:
			for name, a := range b.Body.Attributes {
				s.defs["local."+name] = append(s.defs["local."+name], a.Expr)
			}
		case blockMessageBox:
			for _, kb := range b.Body.Blocks {
				if a := kb.Body.Attributes["url"]; kb.Type == "postgres" && a != nil {
					out.urls = append(out.urls, a.Expr)
				}
			}
		case blockSendPort, blockReceiveLocation, blockPipeline:
			out.extend(s.componentSecrets(b.Type, b.Body))
		}
	}
	return out
}

// scanJSON is scan for the body of a JSON file.
func (s *secretLiterals) scanJSON(body hcl.Body) secretPlaces {
	content, _, _ := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: blockVariable, LabelNames: []string{"name"}},
		{Type: blockStore, LabelNames: []string{"name"}},
		{Type: blockLocals},
		{Type: blockMessageBox},
		{Type: blockSendPort, LabelNames: []string{"name"}},
		{Type: blockReceiveLocation, LabelNames: []string{"name"}},
		{Type: blockPipeline, LabelNames: []string{"name"}},
	}})
	var out secretPlaces
	for _, b := range content.Blocks {
		switch b.Type {
		case blockMessageBox:
			mb, _, _ := b.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "postgres"}}})
			for _, kb := range mb.Blocks {
				if attrs, _ := kb.Body.JustAttributes(); attrs["url"] != nil {
					out.urls = append(out.urls, attrs["url"].Expr)
				}
			}
			continue
		case blockSendPort, blockReceiveLocation, blockPipeline:
			out.extend(s.componentSecrets(b.Type, b.Body))
			continue
		}
		attrs, _ := b.Body.JustAttributes()
		switch b.Type {
		case blockVariable:
			def := attrs["default"]
			if def == nil {
				continue
			}
			s.defs["var."+b.Labels[0]] = append(s.defs["var."+b.Labels[0]], def.Expr)
			if a := attrs["sensitive"]; a != nil && constantTrue(a.Expr) {
				out.sinks = append(out.sinks, def.Expr)
			}
		case blockStore:
			if a := attrs["password"]; a != nil {
				out.sinks = append(out.sinks, a.Expr)
			}
		case blockLocals:
			for name, a := range attrs {
				s.defs["local."+name] = append(s.defs["local."+name], a.Expr)
			}
		}
	}
	return out
}

// add records the literals of expr, or of the part of it path selects
// (an item of an object or a tuple written out), and follows the locals
// and variables it uses.
func (s *secretLiterals) add(expr hcl.Expression, path hcl.Traversal) {
	if expr == nil {
		return
	}
	native, ok := expr.(hclsyntax.Expression)
	if !ok {
		// A JSON expression: its value as written (evaluated without a
		// context, a JSON string is its text, not a template), its
		// objects' keys included, or the part of it path selects.
		v, _ := expr.Value(nil)
		parts := []hcl.Expression{expr}
		if len(path) > 0 {
			if part, diags := path.TraverseRel(v); !diags.HasErrors() {
				v = part
				if sel := jsonSelect(expr, path); len(sel) > 0 {
					parts = sel
				}
			}
		}
		values := literalStrings(v)
		s.out = append(s.out, values...)
		for _, p := range parts {
			for _, raw := range jsonSourceStrings(p, s.srcs[expr.Range().Filename]) {
				if !slices.Contains(values, raw) {
					s.out = append(s.out, raw)
				}
			}
		}
		for _, tr := range expr.Variables() {
			s.follow(tr)
		}
		return
	}
	if len(path) > 0 {
		switch e := unwrapNative(native).(type) {
		case *hclsyntax.ScopeTraversalExpr:
			s.follow(append(slices.Clip(e.Traversal), path...))
			return
		case *hclsyntax.ObjectConsExpr:
			if items := selectItems(e, path[0]); len(items) > 0 {
				for _, item := range items {
					s.add(item, path[1:])
				}
				return
			}
		case *hclsyntax.TupleConsExpr:
			if i, ok := tupleIndex(path[0], len(e.Exprs)); ok {
				s.add(e.Exprs[i], path[1:])
				return
			}
		}
	}
	_ = hclsyntax.VisitAll(native, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.LiteralValueExpr:
			if n.Val.Type() == cty.String && n.Val.IsKnown() && !n.Val.IsNull() {
				s.out = append(s.out, n.Val.AsString())
				if raw := string(n.SrcRange.SliceBytes(s.srcs[n.SrcRange.Filename])); raw != "" && raw != n.Val.AsString() {
					s.out = append(s.out, raw)
				}
			}
		case *hclsyntax.ScopeTraversalExpr:
			s.follow(n.Traversal)
		}
		return nil
	})
}

// follow adds the literals of the local tr refers to, or of the default
// of the variable: all of it, or the part tr selects (local.creds.pw). A
// value reached again through itself is taken whole, so that a cycle ends,
// and so is one of which maxSecretParts parts were followed.
// A variable that is not sensitive is followed too: its default is a
// secret when it reaches a password, as the literal written there is.
func (s *secretLiterals) follow(tr hcl.Traversal) {
	root := tr.RootName()
	if root != "local" && root != "var" || len(tr) < 2 {
		return
	}
	a, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return
	}
	name := root + "." + a.Name
	if root == "var" {
		// A value set with --var-file is followed nowhere else.
		s.vars[a.Name] = true
	}
	path := tr[2:]
	if s.active[name] || s.parts[name] >= maxSecretParts {
		path = nil
	}
	key := name + pathKey(path)
	if s.seen[key] {
		return
	}
	s.seen[key] = true
	if len(path) > 0 {
		s.parts[name]++
	}
	s.active[name] = true
	defer delete(s.active, name)
	for _, e := range s.defs[name] {
		s.add(e, path)
	}
}

// unwrapNative returns e without the parentheses around it, its author's
// or those of the metering (checkedExpr).
func unwrapNative(e hclsyntax.Expression) hclsyntax.Expression {
	for {
		switch p := e.(type) {
		case *checkedExpr:
			e = p.Expression
		case *hclsyntax.ParenthesesExpr:
			e = p.Expression
		default:
			return e
		}
	}
}

// selectItems returns the values of obj's items whose key is the one step
// selects, a constant; none when step is not an attribute or a string
// index, or no key is that constant.
func selectItems(obj *hclsyntax.ObjectConsExpr, step hcl.Traverser) []hclsyntax.Expression {
	name, ok := stepName(step)
	if !ok {
		return nil
	}
	var out []hclsyntax.Expression
	for _, item := range obj.Items {
		if keyIs(item.KeyExpr, name) {
			out = append(out, item.ValueExpr)
		}
	}
	return out
}

// stepName returns the name step selects: an attribute's, or a string
// index.
func stepName(step hcl.Traverser) (string, bool) {
	switch st := step.(type) {
	case hcl.TraverseAttr:
		return st.Name, true
	case hcl.TraverseIndex:
		if st.Key.Type() != cty.String || !st.Key.IsKnown() || st.Key.IsNull() {
			return "", false
		}
		return st.Key.AsString(), true
	}
	return "", false
}

// keyIs reports whether key, evaluated without a context, is the
// string name.
func keyIs(key hcl.Expression, name string) bool {
	k, diags := key.Value(nil)
	return !diags.HasErrors() && k.Type() == cty.String && k.IsKnown() && !k.IsNull() && k.AsString() == name
}

// jsonSelect returns the parts of expr, a JSON file's value, that path
// selects, as written: an object's members of that name, an array's
// element; none when path selects nothing written out.
func jsonSelect(expr hcl.Expression, path hcl.Traversal) []hcl.Expression {
	exprs := []hcl.Expression{expr}
	for _, step := range path {
		var next []hcl.Expression
		for _, e := range exprs {
			if items := e.(interface{ ExprList() []hcl.Expression }).ExprList(); items != nil {
				if i, ok := tupleIndex(step, len(items)); ok {
					next = append(next, items[i])
				}
				continue
			}
			name, ok := stepName(step)
			if !ok {
				continue
			}
			for _, p := range e.(interface{ ExprMap() []hcl.KeyValuePair }).ExprMap() {
				if keyIs(p.Key, name) {
					next = append(next, p.Value)
				}
			}
		}
		exprs = next
	}
	return exprs
}

// tupleIndex returns the whole number step selects in a tuple of n
// elements.
func tupleIndex(step hcl.Traverser, n int) (int, bool) {
	st, ok := step.(hcl.TraverseIndex)
	if !ok || st.Key.Type() != cty.Number || !st.Key.IsKnown() || st.Key.IsNull() {
		return 0, false
	}
	i, acc := st.Key.AsBigFloat().Int64()
	if acc != big.Exact || i < 0 || i >= int64(n) {
		return 0, false
	}
	return int(i), true
}

// pathKey renders path, to tell apart the parts of a local followed.
func pathKey(path hcl.Traversal) string {
	var b strings.Builder
	for _, step := range path {
		switch st := step.(type) {
		case hcl.TraverseAttr:
			b.WriteString("." + st.Name)
		case hcl.TraverseIndex:
			fmt.Fprintf(&b, "[%#v]", st.Key)
		default:
			b.WriteString("[?]")
		}
	}
	return b.String()
}

// jsonSourceStrings returns the text between the quotes of every string
// of expr, a JSON file's value whose text is src, its objects' keys
// included: the strings as written, with their escapes.
func jsonSourceStrings(expr hcl.Expression, src []byte) []string {
	if items := expr.(interface{ ExprList() []hcl.Expression }).ExprList(); items != nil {
		var out []string
		for _, item := range items {
			out = append(out, jsonSourceStrings(item, src)...)
		}
		return out
	}
	if pairs := expr.(interface{ ExprMap() []hcl.KeyValuePair }).ExprMap(); pairs != nil {
		var out []string
		for _, p := range pairs {
			out = append(out, jsonSourceStrings(p.Key, src)...)
			out = append(out, jsonSourceStrings(p.Value, src)...)
		}
		return out
	}
	text := expr.Range().SliceBytes(src)
	if len(text) < 2 || text[0] != '"' || text[len(text)-1] != '"' {
		return nil // a number, a bool or null
	}
	return []string{string(text[1 : len(text)-1])}
}
