package lang

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/message"
)

// A fastFilter decides a filter made only of string comparisons between
// the message's text attributes or properties and string literals (or
// variables and locals holding strings that are not sensitive), joined by
// &&, || and !, without HCL: evaluating such a filter through HCL
// builds the message object and some forty values for each message and
// send port (6 to 18 µs), which a configuration of hundreds of send ports
// pays hundreds of times per message.
//
// It answers only when every comparison it holds has both its operands:
// then HCL's answer is the same boolean formula over the same comparisons,
// short-circuit or not. A property the message does not have (an error to
// HCL), or any other doubt, leaves the filter to HCL, which explains the
// error as it always did.
type fastFilter interface {
	// match returns the filter's value for m; ok is false when the
	// filter must be evaluated by HCL instead.
	match(m *message.Message) (value, ok bool)
}

type (
	fastConst bool
	fastNot   struct{ x fastFilter }
	fastAnd   struct{ x, y fastFilter }
	fastOr    struct{ x, y fastFilter }
	// fastEqual compares two operands; not negates it (!=).
	fastEqual struct {
		x, y fastOperand
		not  bool
	}
)

func (c fastConst) match(*message.Message) (bool, bool) { return bool(c), true }

func (n fastNot) match(m *message.Message) (bool, bool) {
	v, ok := n.x.match(m)
	return !v, ok
}

// Both operands of && and || are decided before the result: an operand
// HCL would fail on sends the whole filter to HCL, whatever the other.
func (a fastAnd) match(m *message.Message) (bool, bool) {
	x, okx := a.x.match(m)
	y, oky := a.y.match(m)
	return x && y, okx && oky
}

func (o fastOr) match(m *message.Message) (bool, bool) {
	x, okx := o.x.match(m)
	y, oky := o.y.match(m)
	return x || y, okx && oky
}

func (e fastEqual) match(m *message.Message) (bool, bool) {
	x, okx := e.x.text(m)
	y, oky := e.y.text(m)
	if !okx || !oky {
		return false, false
	}
	// cty compares strings in Unicode normal form C, as cty.StringVal
	// stores them.
	return (cty.NormalizeString(x) == cty.NormalizeString(y)) != e.not, true
}

// fastOperand is one side of a comparison: a string literal (name is
// its text), a text attribute of the message (name is the attribute's),
// or one of its properties (name is the key, "" included).
type fastOperand struct {
	kind operandKind
	name string
}

type operandKind int

const (
	literalOperand operandKind = iota
	attrOperand
	propOperand
)

func (o fastOperand) text(m *message.Message) (string, bool) {
	switch o.kind {
	case literalOperand:
		return o.name, true
	case propOperand:
		v, ok := m.Properties[o.name]
		return v, ok
	}
	switch o.name {
	case "id":
		return m.ID, true
	case "receive_location":
		return m.ReceiveLocation, true
	case "file_name":
		return m.FileName, true
	case "content_type":
		return m.ContentType, true
	case "party":
		return m.Party, true
	case "received_at":
		return m.ReceivedAt.UTC().Format(time.RFC3339), true
	}
	return "", false
}

// compileFast returns expr, evaluated in ctx, as a fastFilter, or nil when
// it is not made only of what a fastFilter decides. It recognises == and != by HCL's own
// operators: it must run when no Load meters them (meterEqualities).
func compileFast(expr hcl.Expression, ctx *hcl.EvalContext) fastFilter {
	switch e := expr.(type) {
	case *hclsyntax.ParenthesesExpr:
		return compileFast(e.Expression, ctx)
	case *hclsyntax.LiteralValueExpr:
		if e.Val.Type() == cty.Bool && e.Val.IsKnown() && !e.Val.IsNull() && !e.Val.IsMarked() {
			return fastConst(e.Val.True())
		}
	case *hclsyntax.UnaryOpExpr:
		if e.Op == hclsyntax.OpLogicalNot {
			if x := compileFast(e.Val, ctx); x != nil {
				return fastNot{x}
			}
		}
	case *hclsyntax.BinaryOpExpr:
		switch e.Op {
		case hclsyntax.OpLogicalAnd, hclsyntax.OpLogicalOr:
			x, y := compileFast(e.LHS, ctx), compileFast(e.RHS, ctx)
			if x == nil || y == nil {
				return nil
			}
			if e.Op == hclsyntax.OpLogicalAnd {
				return fastAnd{x, y}
			}
			return fastOr{x, y}
		case hclsyntax.OpEqual, hclsyntax.OpNotEqual:
			x, okx := fastOperandOf(e.LHS, ctx)
			y, oky := fastOperandOf(e.RHS, ctx)
			if okx && oky {
				return fastEqual{x: x, y: y, not: e.Op == hclsyntax.OpNotEqual}
			}
		}
	}
	return nil
}

// fastOperandOf returns expr as a comparison's operand: a string literal
// ("fabrikam") or a variable or local holding a string that is not
// sensitive (var.partner, as its value in ctx), a text attribute of the
// message (message.receive_location) or a property
// (message.properties.partner, message.properties["a-b"]).
func fastOperandOf(expr hcl.Expression, ctx *hcl.EvalContext) (fastOperand, bool) {
	switch e := expr.(type) {
	case *checkedExpr: // metered, as a template's interpolation: the same value
		return fastOperandOf(e.Expression, ctx)
	case *hclsyntax.TemplateExpr:
		if e.IsStringLiteral() && len(e.Parts) == 1 {
			return fastOperandOf(e.Parts[0], ctx)
		}
	case *hclsyntax.LiteralValueExpr:
		v := e.Val
		if v.Type() == cty.String && v.IsKnown() && !v.IsNull() && !v.IsMarked() {
			return fastOperand{kind: literalOperand, name: v.AsString()}, true
		}
	case *hclsyntax.ScopeTraversalExpr:
		tr := e.Traversal
		if root := tr.RootName(); root == "var" || root == "local" {
			// Known once the configuration is loaded: a literal, unless
			// sensitive (marked), unknown or not a string.
			v, ds := tr.TraverseAbs(ctx)
			if !ds.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() && !v.IsMarked() {
				return fastOperand{kind: literalOperand, name: v.AsString()}, true
			}
			return fastOperand{}, false
		}
		if tr.RootName() != "message" {
			return fastOperand{}, false
		}
		name, ok := staticKey(tr, 1)
		if !ok {
			return fastOperand{}, false
		}
		if name == "properties" {
			if key, ok := staticKey(tr, 2); ok && len(tr) == 3 {
				return fastOperand{kind: propOperand, name: key}, true
			}
			return fastOperand{}, false
		}
		if t, known := messageAttrs()[name]; known && t == cty.String && len(tr) == 2 {
			return fastOperand{kind: attrOperand, name: name}, true
		}
	}
	return fastOperand{}, false
}
