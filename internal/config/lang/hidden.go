package lang

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// HCL drops the diagnostics of an operand whose value it does not need:
// the right operand of && and || when the left one is unknown, and both
// results of a conditional whose condition is unknown. A filter or template
// is checked against an unknown message, so whatever reads the message is
// unknown there, and
//
//	message.receive_location == "in" && upper(message.id, 1) == "X"
//	message.size > 0 ? message.id : substr(message.id)
//
// validated, then failed for every message from "in" (every message) at
// run time, where the message is known: a call with the wrong number of
// arguments, of an unknown function, an operand of the wrong type fail
// whatever the message. evaluateAll tells these too. What a known operand
// spares (false && ..., a condition known false) is never evaluated at run
// time either, and is not judged.

// unhidingOps are && and || as HCL's, except that an unknown left operand
// does not drop the errors of the right one.
var unhidingOps = map[*hclsyntax.Operation]*hclsyntax.Operation{
	hclsyntax.OpLogicalAnd: unhiding(hclsyntax.OpLogicalAnd),
	hclsyntax.OpLogicalOr:  unhiding(hclsyntax.OpLogicalOr),
}

func unhiding(op *hclsyntax.Operation) *hclsyntax.Operation {
	return &hclsyntax.Operation{Impl: op.Impl, Type: op.Type,
		ShortCircuit: func(lhs, rhs cty.Value, lhsDiags, rhsDiags hcl.Diagnostics) (cty.Value, hcl.Diagnostics) {
			if !lhs.IsKnown() && !lhsDiags.HasErrors() && rhsDiags.HasErrors() {
				return cty.NilVal, nil // no short cut: both operands' diagnostics
			}
			return op.ShortCircuit(lhs, rhs, lhsDiags, rhsDiags)
		}}
}

// isLogical reports whether op is && or ||, HCL's or unhiding; and, when
// it is, whether it is &&.
func isLogical(op *hclsyntax.Operation) (logical, and bool) {
	switch op {
	case hclsyntax.OpLogicalAnd, unhidingOps[hclsyntax.OpLogicalAnd]:
		return true, true
	case hclsyntax.OpLogicalOr, unhidingOps[hclsyntax.OpLogicalOr]:
		return true, false
	}
	return false, false
}

// evaluateAll is evaluate, with the errors HCL drops for an unknown
// operand (see above). A JSON file's strings are native templates, each
// judged so: "${message.receive_location == \"in\" && upper(message.id, 1)}"
// fails for every message as its native twin does.
func evaluateAll(expr hcl.Expression, ctx *hcl.EvalContext, m *meter) (cty.Value, hcl.Diagnostics) {
	e, native := expr.(hclsyntax.Expression)
	if !native {
		return evaluateTemplates(expr, ctx, m, func(tmpl hclsyntax.Expression, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
			return unhide(tmpl, ctx, m, func() (cty.Value, hcl.Diagnostics) { return tmpl.Value(ctx) })
		})
	}
	return unhide(e, ctx, m, func() (cty.Value, hcl.Diagnostics) { return evaluate(expr, ctx, m) })
}

// unhide returns what eval, the evaluation of e, returns, with the errors
// HCL drops for an unknown operand.
func unhide(e hclsyntax.Expression, ctx *hcl.EvalContext, m *meter, eval func() (cty.Value, hcl.Diagnostics)) (cty.Value, hcl.Diagnostics) {
	var swapped []*hclsyntax.BinaryOpExpr
	conditional := false
	_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.BinaryOpExpr:
			if op, ok := unhidingOps[n.Op]; ok {
				n.Op = op
				swapped = append(swapped, n)
			}
		case *hclsyntax.ConditionalExpr:
			conditional = true
		}
		return nil
	})
	defer func() {
		for _, n := range swapped {
			if _, and := isLogical(n.Op); and {
				n.Op = hclsyntax.OpLogicalAnd
			} else {
				n.Op = hclsyntax.OpLogicalOr
			}
		}
	}()
	v, ds := eval()
	if conditional && !ds.HasErrors() && !m.stopped() {
		h := &hiddenWalk{ctx: ctx, m: m}
		h.value(e)
		ds = append(ds, h.diags...)
	}
	return v, ds
}

// hiddenWalk collects the errors that evaluating an expression drops in
// the results of its conditionals. It walks the operators, conditionals
// and templates around them, evaluating each operand once and composing
// the operator's value from its operands' as HCL does (a literal operand
// has the operand's range, which HCL's errors name); any other expression
// (a function call, an index, a for expression, ...) is evaluated as a
// whole, and what its own conditionals drop is not looked for. It is used
// on an expression whose evaluation has no error: every error it finds is
// one that evaluation dropped.
type hiddenWalk struct {
	ctx   *hcl.EvalContext
	m     *meter
	diags hcl.Diagnostics
}

// value returns e's value, adding its errors to h.diags.
func (h *hiddenWalk) value(e hclsyntax.Expression) cty.Value {
	if h.m.stopped() {
		return cty.DynamicVal
	}
	switch n := e.(type) {
	case *checkedExpr:
		return h.value(n.Expression)
	case *hclsyntax.ParenthesesExpr:
		return h.value(n.Expression)
	case *hclsyntax.TemplateWrapExpr:
		return h.compose(&hclsyntax.TemplateWrapExpr{Wrapped: h.literal(n.Wrapped), SrcRange: n.SrcRange})
	case *hclsyntax.TemplateExpr:
		parts := make([]hclsyntax.Expression, len(n.Parts))
		for i, p := range n.Parts {
			parts[i] = h.literal(p)
		}
		return h.compose(&hclsyntax.TemplateExpr{Parts: parts, SrcRange: n.SrcRange})
	case *hclsyntax.UnaryOpExpr:
		return h.compose(&hclsyntax.UnaryOpExpr{Op: n.Op, Val: h.literal(n.Val), SrcRange: n.SrcRange, SymbolRange: n.SymbolRange})
	case *hclsyntax.BinaryOpExpr:
		lhs := h.literal(n.LHS)
		rhs := unknownLiteral(n.RHS)
		if logical, and := isLogical(n.Op); !logical || !spares(lhs.Val, and) {
			// Else the right operand is never evaluated, here or at run
			// time.
			rhs = h.literal(n.RHS)
		}
		return h.compose(&hclsyntax.BinaryOpExpr{LHS: lhs, Op: n.Op, RHS: rhs, SrcRange: n.SrcRange})
	case *hclsyntax.ConditionalExpr:
		cond := h.literal(n.Condition)
		t, f := unknownLiteral(n.TrueResult), unknownLiteral(n.FalseResult)
		c, _ := cond.Val.Unmark()
		if !c.IsKnown() {
			// Both results are evaluated, and their errors dropped.
			t, f = h.literal(n.TrueResult), h.literal(n.FalseResult)
		} else if b, err := convert.Convert(c, cty.Bool); err == nil && !b.IsNull() {
			// Only the result chosen is evaluated at run time. (A
			// condition null or not a bool is compose's error.)
			if b.True() {
				t = h.literal(n.TrueResult)
			} else {
				f = h.literal(n.FalseResult)
			}
		}
		return h.compose(&hclsyntax.ConditionalExpr{Condition: cond, TrueResult: t, FalseResult: f, SrcRange: n.SrcRange})
	}
	v, ds := evaluate(e, h.ctx, h.m)
	h.diags = append(h.diags, errorsOf(ds)...)
	return v
}

// literal is e's value as a literal with e's range.
func (h *hiddenWalk) literal(e hclsyntax.Expression) *hclsyntax.LiteralValueExpr {
	return &hclsyntax.LiteralValueExpr{Val: h.value(e), SrcRange: e.Range()}
}

// unknownLiteral stands for e where e is not evaluated.
func unknownLiteral(e hclsyntax.Expression) *hclsyntax.LiteralValueExpr {
	return &hclsyntax.LiteralValueExpr{Val: cty.DynamicVal, SrcRange: e.Range()}
}

// compose evaluates e, whose operands are literals: the value HCL gives,
// and the errors of the operation itself (an operand of the wrong type).
func (h *hiddenWalk) compose(e hclsyntax.Expression) cty.Value {
	v, ds := e.Value(h.ctx)
	h.diags = append(h.diags, errorsOf(ds)...)
	return v
}

// spares reports whether the left operand lhs of && (and) or || decides
// the result alone, so that the right operand is not evaluated.
func spares(lhs cty.Value, and bool) bool {
	lhs, _ = lhs.Unmark()
	if !lhs.IsKnown() {
		return false
	}
	b, err := convert.Convert(lhs, cty.Bool)
	if err != nil || b.IsNull() {
		return false
	}
	return b.True() != and
}

// errorsOf is ds's errors.
func errorsOf(ds hcl.Diagnostics) hcl.Diagnostics {
	var errs hcl.Diagnostics
	for _, d := range ds {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	return errs
}
