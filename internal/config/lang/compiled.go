package lang

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/message"
)

// Filters and templates are compiled at load into values the run-time
// components call (message.Filter, message.Template), so that nothing at run
// time imports this package. Each keeps its expression and the evaluation
// context of the file that declares it: var, local, the functions, and
// file() relative to that file.

// compiledTemplate is a transport template (file_name, url, a header).
type compiledTemplate struct {
	expr  hcl.Expression
	ctx   *hcl.EvalContext
	needs messageNeeds
	// fast builds the template without HCL when it can (nil: never);
	// set at the end of the Load, as compiledFilter's (compileFast).
	fast *fastTemplate
}

// newTemplate compiles template expr, evaluated in ctx.
func newTemplate(expr hcl.Expression, ctx *hcl.EvalContext) *compiledTemplate {
	return &compiledTemplate{expr: expr, ctx: ctx, needs: needsOf(expr)}
}

// newTemplate is newTemplate, the template's fast path set at the end of
// the Load.
func (d *decoder) newTemplate(expr hcl.Expression, ctx *hcl.EvalContext) *compiledTemplate {
	t := newTemplate(expr, ctx)
	d.compiled = append(d.compiled, t)
	return t
}

// compileFast sets the template's fast path (see fastTemplate).
func (t *compiledTemplate) compileFast() { t.fast = compileFastTemplate(t.expr, t.ctx) }

var (
	_ message.Constant = (*compiledTemplate)(nil)
	_ message.Prefixed = (*compiledTemplate)(nil)
	_ message.Literal  = (*compiledTemplate)(nil)
)

// LiteralParts returns the template's literal texts, which every value
// holds, whatever the message; a JSON file's template's too.
func (t *compiledTemplate) LiteralParts() []string {
	te, ok := templateSyntax(t.expr, t.ctx).(*hclsyntax.TemplateExpr)
	if !ok {
		return nil
	}
	var parts []string
	for _, p := range te.Parts {
		if lit, ok := p.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String && lit.Val.IsKnown() && !lit.Val.IsNull() {
			parts = append(parts, lit.Val.AsString())
		}
	}
	return parts
}

// LiteralPrefix returns the template's leading literal text: what every
// value starts with, whatever the message.
func (t *compiledTemplate) LiteralPrefix() string {
	te, ok := templateSyntax(t.expr, t.ctx).(*hclsyntax.TemplateExpr)
	if !ok || len(te.Parts) == 0 {
		return ""
	}
	if lit, ok := te.Parts[0].(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String && lit.Val.IsKnown() && !lit.Val.IsNull() {
		return lit.Val.AsString()
	}
	return ""
}

// Constant returns the template's value when it reads nothing of the
// message (variables and locals are known at load) and is not sensitive.
func (t *compiledTemplate) Constant() (string, bool) {
	v, ok := t.ConstantText()
	if !ok || v.Sensitive {
		return "", false
	}
	return v.Value, true
}

// ConstantText returns the template's value, marked sensitive or not,
// when it reads nothing of the message.
func (t *compiledTemplate) ConstantText() (message.Text, bool) {
	for _, tr := range t.expr.Variables() {
		if tr.RootName() == "message" {
			return message.Text{}, false
		}
	}
	v, err := t.Eval(&message.Message{})
	if err != nil {
		return message.Text{}, false
	}
	return v, true
}

// Eval evaluates the template for one message. An error never quotes a
// sensitive value.
func (t *compiledTemplate) Eval(m *message.Message) (message.Text, error) {
	if t.fast != nil {
		if text, ok := t.fast.eval(m); ok {
			return text, nil
		}
	}
	v, err := evalTemplate(t.ctx, t.expr, t.needs.value(m))
	if err != nil {
		return message.Text{}, err
	}
	return message.Text{Value: v.Text, Sensitive: v.Sensitive, SensitiveAt: v.SensitiveAt,
		FromSender: v.FromSender, FromSenderAt: v.FromSenderAt}, nil
}

// compiledFilter is a send port's filter.
type compiledFilter struct {
	expr  hcl.Expression
	ctx   *hcl.EvalContext
	port  string
	needs messageNeeds
	// fast decides the filter without HCL when it can (nil: never); set
	// at the end of the Load (compileFast): while the Load runs, its ==
	// and != are metered, not HCL's own (meterEqualities).
	fast fastFilter
}

// newFilter compiles the filter expr of send port port, evaluated in ctx.
func newFilter(expr hcl.Expression, ctx *hcl.EvalContext, port string) *compiledFilter {
	return &compiledFilter{expr: expr, ctx: ctx, port: port, needs: needsOf(expr)}
}

// newFilter is newFilter, the filter's fast path set at the end of the
// Load.
func (d *decoder) newFilter(expr hcl.Expression, ctx *hcl.EvalContext, port string) *compiledFilter {
	f := newFilter(expr, ctx, port)
	d.compiled = append(d.compiled, f)
	return f
}

// compileFast sets the filter's fast path (see fastFilter).
func (f *compiledFilter) compileFast() { f.fast = compileFast(f.expr, f.ctx) }

var _ message.StaticFilter = (*compiledFilter)(nil)

// Match evaluates the filter for one message.
func (f *compiledFilter) Match(m *message.Message) (bool, error) {
	if f.fast != nil {
		if v, ok := f.fast.match(m); ok {
			return v, nil
		}
	}
	return evalFilter(f.ctx, f.expr, f.port, f.needs.value(m))
}

// messageValue is the message as the cty object filters and templates see:
// the whole of it.
func messageValue(m *message.Message) cty.Value { return messageNeeds{}.value(m) }

// MayMatch evaluates the filter with the unknown parts of p unknown: cty
// propagates them, and && and || short-circuit on known operands, so a
// known false result holds for every message p describes.
func (f *compiledFilter) MayMatch(p message.Partial) bool {
	v, known := f.partialResult(p)
	return !known || v
}

// MustMatch is MayMatch's converse: a known true result holds for every
// message p describes.
func (f *compiledFilter) MustMatch(p message.Partial) bool {
	v, known := f.partialResult(p)
	return known && v
}

// partialResult evaluates the filter for p; known is false when the
// result is unknown, or the filter cannot be evaluated.
func (f *compiledFilter) partialResult(p message.Partial) (v, known bool) {
	ctx := f.ctx.NewChild()
	ctx.Variables = map[string]cty.Value{"message": partialValue(p)}
	val, ds := evaluateAt(f.expr, ctx)
	if ds.HasErrors() {
		return false, false
	}
	val, _ = val.UnmarkDeep()
	if !val.IsKnown() || val.IsNull() || val.Type() != cty.Bool {
		return false, false
	}
	return val.True(), true
}

// partialValue is the message object with what p knows and every other
// attribute unknown. A sensitive property's value is unknown: validation
// does not reason about secrets.
func partialValue(p message.Partial) cty.Value {
	attrs := map[string]cty.Value{}
	for _, a := range messageAttributes {
		attrs[a.Name] = cty.UnknownVal(a.Type)
	}
	attrs["receive_location"] = cty.StringVal(p.ReceiveLocation)
	if p.PropertiesKnown {
		props := map[string]cty.Value{}
		for k, v := range p.Properties {
			props[k] = cty.StringVal(v)
		}
		for _, k := range p.SensitiveProperties {
			if _, ok := props[k]; ok {
				props[k] = cty.UnknownVal(cty.String)
			}
		}
		for _, k := range p.UnknownProperties {
			props[k] = cty.UnknownVal(cty.String)
		}
		attrs["properties"] = cty.MapValEmpty(cty.String)
		if len(props) > 0 {
			attrs["properties"] = cty.MapVal(props)
		}
	}
	return cty.ObjectVal(attrs)
}
