package lang

import (
	"fmt"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// evaluate evaluates a top-level expression of the configuration (an
// attribute, a local, a filter or a template) in ctx, which evaluates
// under meter m (attach): the expression's evaluation counts from here,
// and its value is measured and charged (see meter). An expression of a
// JSON file is evaluated as evalJSON does. Once m is spent, nothing is
// evaluated: the value is unknown, without a diagnostic (the one that
// spent it said so), and the caller must check m.spent to tell.
func evaluate(expr hcl.Expression, ctx *hcl.EvalContext, m *meter) (cty.Value, hcl.Diagnostics) {
	return evaluateTemplates(expr, ctx, m, nil)
}

// evaluateTemplates is evaluate, evaluating the template of each string of
// a JSON file with eval (nil: as HCL does).
func evaluateTemplates(expr hcl.Expression, ctx *hcl.EvalContext, m *meter, eval templateEval) (cty.Value, hcl.Diagnostics) {
	if m.live() && m.spent {
		return cty.DynamicVal, nil
	}
	m.start()
	var v cty.Value
	var ds hcl.Diagnostics
	if isJSONExpression(expr) {
		v, ds = evalJSON(expr, ctx, eval)
	} else {
		v, ds = expr.Value(ctx)
	}
	if why := m.account(v, "This expression's value"); why != "" {
		_, marks := v.Unmark()
		return cty.DynamicVal.WithMarks(marks), append(ds, evalRefused(expr.Range(), why))
	}
	return v, ds
}

// evaluateConstant evaluates an expression that may refer to nothing (a
// variable's default, a --var value, a variable file's): a JSON file's
// strings are then taken as they are, not as templates. A native
// expression is evaluated in an empty context under m (a for expression
// over literal lists costs as much as any), and number literals out of
// range are refused wherever they come from: only the configuration's
// files are checked as they are parsed (hugeNumbers).
func evaluateConstant(expr hcl.Expression, m *meter) (cty.Value, hcl.Diagnostics) {
	var v cty.Value
	var ds hcl.Diagnostics
	m.start()
	if isJSONExpression(expr) {
		v, ds = evalJSON(expr, nil, nil)
	} else {
		if vars := expr.Variables(); len(vars) > 0 {
			// What HCL says in a context without variables, which this
			// one, holding the meter, is not.
			return cty.DynamicVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Variables not allowed",
				Detail: "Variables may not be used here.", Subject: vars[0].SourceRange().Ptr()}}
		}
		ctx := &hcl.EvalContext{}
		defer m.attach(ctx)()
		v, ds = expr.Value(ctx)
	}
	if f := hugeNumberIn(v); f != nil {
		return cty.DynamicVal, append(ds, numberOutOfRange(f, expr.Range()))
	}
	if why := m.account(v, "This value"); why != "" {
		return cty.DynamicVal, append(ds, evalRefused(expr.Range(), why))
	}
	return v, ds
}

// hugeNumberIn returns a number of v that tooManyDigits refuses, nil when
// there is none.
func hugeNumberIn(v cty.Value) *big.Float {
	var found *big.Float
	v, _ = v.UnmarkDeep()
	_ = cty.Walk(v, func(_ cty.Path, e cty.Value) (bool, error) {
		if found != nil || !e.IsKnown() || e.IsNull() {
			return false, nil
		}
		if e.Type() == cty.Number {
			if f := e.AsBigFloat(); !f.IsInf() && tooManyDigits(f) {
				found = f
			}
		}
		return true, nil
	})
	return found
}

// evaluateAt evaluates a filter or template at run time, for one message:
// in a context of its own, ctx, under a meter of its own, so that what one
// evaluation builds is bounded as at load (the functions, which every
// message's evaluation shares, only check what they build then).
func evaluateAt(expr hcl.Expression, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	m := newMeter()
	defer m.attach(ctx)()
	return evaluate(expr, ctx, m)
}

// isJSONExpression reports whether expr is an expression of a JSON file:
// HCL's json package implements these, and nothing else does.
func isJSONExpression(expr hcl.Expression) bool {
	if _, native := expr.(hclsyntax.Expression); native {
		return false
	}
	_, list := expr.(interface{ ExprList() []hcl.Expression })
	_, obj := expr.(interface{ ExprMap() []hcl.KeyValuePair })
	_, call := expr.(interface{ ExprCall() *hcl.StaticCall })
	return list && obj && call
}

// evalJSON evaluates an expression of a JSON file as HCL's json package
// does (arrays are tuples, objects objects, strings templates when ctx is
// not nil, keys included), with three differences:
//
//   - a string's template is prepared as a native file's syntax is when it
//     is parsed (hugeNumbers, prepareMetering), which the json package,
//     parsing it at each evaluation, cannot do: x.hcl.json's
//     "${1e300000000}" took minutes to print, and its for expressions were
//     not counted;
//   - a number out of range is refused as a native literal is, and made
//     unknown: x.hcl.json's 1e999999 validated;
//   - a key derived from a sensitive value marks the object, as the native
//     syntax does, where the json package panicked.
//
// Each string's template is evaluated with eval, nil meaning as HCL does.
func evalJSON(expr hcl.Expression, ctx *hcl.EvalContext, eval templateEval) (cty.Value, hcl.Diagnostics) {
	if items := expr.(interface{ ExprList() []hcl.Expression }).ExprList(); items != nil {
		var diags hcl.Diagnostics
		vals := []cty.Value{}
		for _, item := range items {
			v, ds := evalJSON(item, ctx, eval)
			vals = append(vals, v)
			diags = append(diags, ds...)
		}
		return cty.TupleVal(vals), diags
	}
	if pairs := expr.(interface{ ExprMap() []hcl.KeyValuePair }).ExprMap(); pairs != nil {
		return evalJSONObject(pairs, ctx, eval)
	}
	v, diags := expr.Value(nil) // a string, verbatim, or a number, a bool or null
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
		return v, diags
	}
	switch v.Type() {
	case cty.Number:
		if f := v.AsBigFloat(); tooManyDigits(f) {
			return cty.UnknownVal(cty.Number), append(diags, numberOutOfRange(f, expr.Range()))
		}
	case cty.String:
		if ctx != nil {
			return evalJSONTemplate(v.AsString(), expr.Range(), ctx, eval)
		}
	}
	return v, diags
}

// templateEval evaluates tmpl, the template of a JSON file's string, parsed
// and prepared, in ctx.
type templateEval func(tmpl hclsyntax.Expression, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics)

// evalJSONTemplate evaluates a JSON string's text src, at rng (its quotes
// included), as a template, as the json package does, with eval when it is
// not nil; its positions are the file's when ctx holds its text
// (sourceOf).
func evalJSONTemplate(src string, rng hcl.Range, ctx *hcl.EvalContext, eval templateEval) (cty.Value, hcl.Diagnostics) {
	tmpl, diags := parseJSONTemplate(src, rng, sourceOf(ctx))
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	diags = append(diags, hugeNumbers(tmpl)...)
	prepareMetering(tmpl, meterOf(ctx))
	markIndexKeys(tmpl)
	var v cty.Value
	var ds hcl.Diagnostics
	if eval != nil {
		v, ds = eval(tmpl, ctx)
	} else {
		v, ds = tmpl.Value(ctx)
	}
	return v, append(diags, ds...)
}

// evalJSONObject evaluates a JSON object's members as the json package
// does: the keys are templates too, a key that is not known makes the
// whole object unknown, and a duplicate key is an error.
func evalJSONObject(pairs []hcl.KeyValuePair, ctx *hcl.EvalContext, eval templateEval) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	attrs := map[string]cty.Value{}
	ranges := map[string]hcl.Range{}
	var marks []cty.ValueMarks
	known := true
	for _, p := range pairs {
		name, nameDiags := evalJSON(p.Key, ctx, eval)
		val, valDiags := evalJSON(p.Value, ctx, eval)
		diags = append(diags, nameDiags...)
		diags = append(diags, valDiags...)
		nameRange := p.Key.Range()
		name, err := convert.Convert(name, cty.String)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid object key expression",
				Detail:   "Cannot use this expression as an object key: " + err.Error() + ".",
				Subject:  &nameRange,
			})
			continue
		}
		if name.IsNull() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid object key expression",
				Detail:   "Cannot use null value as an object key.",
				Subject:  &nameRange,
			})
			continue
		}
		name, nameMarks := name.Unmark()
		marks = append(marks, nameMarks)
		if !name.IsKnown() {
			known = false
			continue
		}
		key := name.AsString()
		if first, dup := ranges[key]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate object attribute",
				Detail:   fmt.Sprintf("An attribute named %q was already defined at %s.", key, first),
				Subject:  &nameRange,
			})
			continue
		}
		attrs[key] = val
		ranges[key] = nameRange
	}
	if !known {
		return cty.DynamicVal.WithMarks(marks...), diags
	}
	return cty.ObjectVal(attrs).WithMarks(marks...), diags
}

// parseJSONTemplate parses a JSON string's text src, at rng (its quotes
// included), as a template. file is the text of rng's file: the positions
// of the template and of its diagnostics are mapped to it (mapSyntax);
// without it (nil), they count src from past the opening quote, as HCL's
// json package counts them, and escapes shift them.
func parseJSONTemplate(src string, rng hcl.Range, file []byte) (hclsyntax.Expression, hcl.Diagnostics) {
	tmpl, diags := hclsyntax.ParseTemplate([]byte(src), rng.Filename, stringStart(rng))
	if tok := stringToken(file, rng); tok != nil {
		mapSyntax(tmpl, diags, tok, rng, src)
	}
	return tmpl, diags
}

// templateSyntax returns expr as native syntax, for the checks that read a
// template as written: expr itself when it is native, the template of a
// JSON file's string as evaluating it in ctx, its file's context, parses
// it (evalJSONTemplate), and nil for another JSON value or a template that
// does not parse.
func templateSyntax(expr hcl.Expression, ctx *hcl.EvalContext) hclsyntax.Expression {
	if e, native := expr.(hclsyntax.Expression); native {
		return e
	}
	if !isJSONExpression(expr) {
		return nil
	}
	v, diags := expr.Value(nil) // a string, verbatim
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
		return nil
	}
	tmpl, diags := parseJSONTemplate(v.AsString(), expr.Range(), sourceOf(ctx))
	if diags.HasErrors() {
		return nil
	}
	return tmpl
}

// numberOutOfRange is the BP1004 of number f, written at rng, which
// tooManyDigits refuses.
func numberOutOfRange(f *big.Float, rng hcl.Range) *hcl.Diagnostic {
	return diag.Errorf(diag.CodeInvalidValue, rng, "Number out of range",
		"This number is about 10^%d; bizpipe accepts numbers between about 10^-%d and 10^%d in magnitude, as no configuration value is that large or that small, and printing this one would take minutes.",
		decimalExponent(f), maxDecimalExponent, maxDecimalExponent)
}
