package lang

import (
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/registry"
)

// SensitiveStrings returns the known strings of cfg's sensitive variables
// and of the locals derived from them (the value itself, or the strings of
// a collection or structure), and the literals written where a secret
// goes (LiteralSecrets), sorted, each once: what no output may show. A run scrubs its
// logs and the reasons it stores of them, behind the marks that keep
// derived values out (see Template).
func SensitiveStrings(cfg *model.Config) []string {
	return sensitiveStrings(cfg, registry.Builtin())
}

// sensitiveStrings is SensitiveStrings of a configuration whose components
// are reg's.
func sensitiveStrings(cfg *model.Config, reg *component.Registry) []string {
	var out []string
	for _, v := range cfg.Variables {
		if v.Sensitive && v.Value != cty.NilVal {
			out = append(out, stringsIn(v.Value)...)
		}
	}
	for _, l := range cfg.Locals {
		if l.Value == cty.NilVal {
			continue
		}
		if _, marks := l.Value.UnmarkDeep(); hasMark(marks, markSensitive) {
			out = append(out, stringsIn(l.Value)...)
		}
	}
	files := make([]*hcl.File, 0, len(cfg.Files))
	for _, f := range cfg.Files {
		files = append(files, f)
	}
	out = append(out, findSecrets(files, reg).literals...)
	slices.Sort(out)
	return slices.Compact(out)
}

// literalStrings returns the known strings in v and the keys of its
// objects and maps.
func literalStrings(v cty.Value) []string { return collectStrings(v, true) }

// constantTrue reports whether expr is a constant that a variable block's
// sensitive takes as true: converted to a bool, as the decoder converts it
// (variable), so that the string "true" counts, as it does there.
func constantTrue(expr hcl.Expression) bool {
	v, diags := evaluateConstant(expr, newMeter())
	if diags.HasErrors() {
		return false
	}
	b, err := convertValue(v, cty.Bool)
	return err == nil && b.IsKnown() && !b.IsNull() && b.True()
}

// stringsIn returns the known strings in v, unmarked.
func stringsIn(v cty.Value) []string { return collectStrings(v, false) }

// collectStrings returns the known strings in v, unmarked, and with keys
// the keys of its objects and maps too.
func collectStrings(v cty.Value, keys bool) []string {
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return []string{v.AsString()}
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if keys && (ty.IsMapType() || ty.IsObjectType()) {
				out = append(out, k.AsString())
			}
			out = append(out, collectStrings(e, keys)...)
		}
		return out
	}
	return nil
}

func hasMark(marks cty.ValueMarks, mark string) bool {
	_, ok := marks[mark]
	return ok
}

// hidingSensitiveErrors is f, the language function called name, whose
// errors say nothing of its arguments when one of them carries the
// sensitive mark. go-cty's functions build their errors from their
// arguments unmarked (parseint's `cannot parse "wp2retnuh"`, jsondecode's
// `invalid character 'h'`, formatdate's `invalid date format verb "u"`),
// and a diagnostic is printed as it is: a secret, or its reversal or a
// substring of it, would be shown where the text replacement of
// SensitiveStrings cannot recognise it. So when any argument is sensitive,
// the error names the function and says why its reason is not shown; an
// error about one argument still points at that argument.
func hidingSensitiveErrors(name string, f function.Function) function.Function {
	// The wrapper takes every argument as it comes, marked, unknown, null
	// or of a type not yet known, and passes it on: f decides what to make
	// of it, as when unwrapped. Were it to let go-cty unmark the arguments
	// first, it could not see the mark; were it to refuse unknown ones,
	// go-cty would return an unknown result without their marks.
	take := func(p function.Parameter) function.Parameter {
		p.AllowMarked, p.AllowUnknown, p.AllowNull, p.AllowDynamicType = true, true, true, true
		return p
	}
	params := f.Params()
	for i := range params {
		params[i] = take(params[i])
	}
	var varParam *function.Parameter
	if vp := f.VarParam(); vp != nil {
		p := take(*vp)
		varParam = &p
	}
	hide := func(args []cty.Value, err error) error {
		if err == nil || !anySensitive(args) {
			return err
		}
		var argErr function.ArgError
		if errors.As(err, &argErr) && argErr.Index >= 0 && argErr.Index < len(args) {
			if sensitive(args[argErr.Index]) {
				return function.NewArgErrorf(argErr.Index, "%s: the argument is sensitive; its value is not shown", name)
			}
			return function.NewArgErrorf(argErr.Index, "%s: %s", name, otherSensitive)
		}
		return fmt.Errorf("%s: %s", name, otherSensitive)
	}
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    varParam,
		Type: func(args []cty.Value) (cty.Type, error) {
			t, err := f.ReturnTypeForValues(args)
			return t, hide(args, err)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, err := f.Call(args)
			return v, hide(args, err)
		},
	})
}

// otherSensitive says why a function's error is not shown when it is not
// about the sensitive argument, or about no argument.
const otherSensitive = "an argument is sensitive; what is wrong is not shown, as it could show its value"

// anySensitive reports whether any of args is sensitive, or holds a
// sensitive value.
func anySensitive(args []cty.Value) bool {
	return slices.ContainsFunc(args, sensitive)
}

// sensitive reports whether v, or a value within it, carries the
// sensitive mark.
func sensitive(v cty.Value) bool {
	_, marks := v.UnmarkDeep()
	return hasMark(marks, markSensitive)
}

// markingIndexExpr is coll[key] whose value carries the marks of key as
// well as those of coll: HCL drops them when it indexes an object
// ({ a = "x" }[var.token] was "x", not sensitive), where go-cty keeps them
// for lists and maps. What a sensitive key selects derives from it.
type markingIndexExpr struct {
	*hclsyntax.IndexExpr
}

func (e *markingIndexExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	// hclsyntax.IndexExpr.Value, keeping the key's marks.
	coll, ds := e.Collection.Value(ctx)
	key, keyDiags := e.Key.Value(ctx)
	ds = append(ds, keyDiags...)
	val, indexDiags := hcl.Index(coll, key, &e.BracketRange)
	for _, d := range indexDiags {
		if d.Expression == nil {
			d.Expression, d.EvalContext = e.IndexExpr, ctx
		}
	}
	_, marks := key.Unmark()
	return val.WithMarks(marks), append(ds, indexDiags...)
}

// markIndexKeys replaces every index expression of node (coll[key], not
// coll["literal"], which is a traversal) with a markingIndexExpr. It runs
// after prepareMetering, whose checkedExpr wrappers it looks into.
func markIndexKeys(node hclsyntax.Node) {
	wrap := func(e hclsyntax.Expression) hclsyntax.Expression {
		if ix, ok := e.(*hclsyntax.IndexExpr); ok {
			return &markingIndexExpr{ix}
		}
		return e
	}
	_ = hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.Attribute:
			n.Expr = wrap(n.Expr)
		case *hclsyntax.UnaryOpExpr:
			n.Val = wrap(n.Val)
		case *hclsyntax.BinaryOpExpr:
			n.LHS, n.RHS = wrap(n.LHS), wrap(n.RHS)
		case *hclsyntax.ConditionalExpr:
			n.Condition, n.TrueResult, n.FalseResult = wrap(n.Condition), wrap(n.TrueResult), wrap(n.FalseResult)
		case *hclsyntax.FunctionCallExpr:
			for i, a := range n.Args {
				n.Args[i] = wrap(a)
			}
		case *hclsyntax.IndexExpr:
			n.Collection, n.Key = wrap(n.Collection), wrap(n.Key)
		case *markingIndexExpr:
			n.Collection, n.Key = wrap(n.Collection), wrap(n.Key)
		case *hclsyntax.TupleConsExpr:
			for i, e := range n.Exprs {
				n.Exprs[i] = wrap(e)
			}
		case *hclsyntax.ObjectConsExpr:
			for i := range n.Items {
				n.Items[i].KeyExpr, n.Items[i].ValueExpr = wrap(n.Items[i].KeyExpr), wrap(n.Items[i].ValueExpr)
			}
		case *hclsyntax.ObjectConsKeyExpr:
			n.Wrapped = wrap(n.Wrapped)
		case *hclsyntax.SplatExpr:
			n.Source, n.Each = wrap(n.Source), wrap(n.Each)
		case *hclsyntax.RelativeTraversalExpr:
			n.Source = wrap(n.Source)
		case *hclsyntax.TemplateExpr:
			for i, p := range n.Parts {
				n.Parts[i] = wrap(p)
			}
		case *hclsyntax.TemplateJoinExpr:
			n.Tuple = wrap(n.Tuple)
		case *hclsyntax.TemplateWrapExpr:
			n.Wrapped = wrap(n.Wrapped)
		case *hclsyntax.ParenthesesExpr:
			n.Expression = wrap(n.Expression)
		case *checkedExpr:
			n.Expression = wrap(n.Expression)
		case *hclsyntax.ForExpr:
			n.CollExpr, n.KeyExpr, n.ValExpr, n.CondExpr = wrap(n.CollExpr), wrap(n.KeyExpr), wrap(n.ValExpr), wrap(n.CondExpr)
		}
		return nil
	})
}
