package lang

import (
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// Evaluating an expression can build far more than its text: a string that
// doubles in each of sixty locals ("${local.a}${local.a}"), concat(local.a,
// local.a) in as many, or three nested for expressions of a thousand
// iterations each, grew by 100 MB a second or ran for minutes from a few
// lines, in validate and in the language server as the user types. go-cty
// spends about a microsecond on each element it builds, compares or
// converts. So evaluation is bounded twice, and refused with BP1004 where a
// bound is crossed:
//
//   - No value holds more than maxValueElements elements (the members of
//     its lists, sets, tuples, maps and objects, nested ones included) or
//     maxValueText bytes of text (its strings, and the digits its numbers
//     print as), nor a string of more than maxNumberChars characters that
//     would be read as a number where one is needed (go-cty reads one in
//     time that grows with the square of its digits, as it reads a
//     literal). A value is measured where it is built:
//     every attribute, local and variable, every function's result, every
//     template interpolation, and each clause of a for expression for each
//     element, so that a for expression is refused while it runs, not
//     after.
//   - What a configuration's evaluation reads and builds in all is counted
//     (meter) against maxEvalElements and maxEvalText: every value just
//     listed, every function's arguments (what go-cty works through), both
//     sides of == and !=, and each iteration of a for expression, so that
//     no number of small steps adds up to minutes. Once that is spent,
//     nothing more is evaluated.
//
// The bounds are far beyond any configuration: the benchmark configuration
// of internal/benchgen (1,000 hosts, 2,000 send ports) builds and reads
// under 1% of the evaluation budget, and its largest value holds a few
// elements. A file() of the largest size allowed fits in a value.
const (
	maxValueElements = 100_000
	maxValueText     = 8 << 20
	maxEvalElements  = 1_000_000
	maxEvalText      = 64 << 20
)

// valueSize is what a value holds, or what evaluation has used.
type valueSize struct {
	elements, text int64
	// number is set when a string too long to be read as a number
	// (maxNumberChars) looks like one.
	number bool
}

func (s valueSize) plus(o valueSize) valueSize {
	return valueSize{elements: s.elements + o.elements, text: s.text + o.text, number: s.number || o.number}
}

// beyond reports whether s exceeds limit.
func (s valueSize) beyond(limit valueSize) bool {
	return s.elements > limit.elements || s.text > limit.text || s.number
}

var (
	valueLimit = valueSize{elements: maxValueElements, text: maxValueText}
	evalBudget = valueSize{elements: maxEvalElements, text: maxEvalText}
)

// measure returns what v holds, nested values included, counting a value
// shared within v each time it appears (printing, comparing or converting
// v costs that). It stops once the size is beyond limit, so that measuring
// costs no more than limit however large v is.
func measure(v cty.Value, limit valueSize) valueSize {
	var s valueSize
	measureInto(v, &s, limit)
	return s
}

// measureInto adds what v holds to s; it returns false once s is beyond
// limit.
func measureInto(v cty.Value, s *valueSize, limit valueSize) bool {
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() {
		return true
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		str := v.AsString()
		s.text += int64(len(str))
		if len(str) > maxNumberChars && looksNumeric(str) {
			s.number = true
		}
	case ty == cty.Number:
		s.text += printedLength(v)
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		// A collection too long is beyond without a look at its elements.
		if s.elements += int64(v.LengthInt()); s.beyond(limit) {
			return false
		}
		for it := v.ElementIterator(); it.Next(); {
			if _, e := it.Element(); !measureInto(e, s, limit) {
				return false
			}
		}
	}
	return !s.beyond(limit)
}

// printedLength estimates how many characters number v prints as: its
// decimal exponent (from its binary one: a value of numbers is measured
// often) plus a few. A number with more digits than maxNumberDigits is
// refused wherever it would be printed (checkNumbers), so it counts as
// that many.
func printedLength(v cty.Value) int64 {
	e := int64(v.AsBigFloat().MantExp(nil)) * 30103 / 100000
	return min(max(e, -e), int64(maxNumberDigits)) + 8
}

// looksNumeric reports whether s is written as a decimal number: a sign,
// digits with a point among them, and an exponent, as go-cty reads one
// where a number is expected ("-----", a line of dashes, is no number).
func looksNumeric(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits, point := 0, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		default:
			goto exponent
		}
	}
exponent:
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// meter counts what one Load's evaluation (or, at run time, one filter's or
// template's for one message) reads and builds, against evalBudget. It is
// used by one goroutine at a time; only closed is read by others (the
// functions of a loaded configuration, called at run time).
type meter struct {
	used valueSize
	// spent is set once the budget is spent: nothing more is evaluated.
	spent bool
	// failed is set when the expression being evaluated was refused:
	// the rest of it is not evaluated (a for expression goes on iterating
	// over what it has, each clause an unknown value).
	failed bool
	// closed is set when the Load ends: the functions and operators of
	// the configuration, called at run time for every message, charge
	// nothing then, and only check what they build.
	closed atomic.Bool
}

func newMeter() *meter { return &meter{} }

// live reports whether m counts: a meter not closed.
func (m *meter) live() bool { return m != nil && !m.closed.Load() }

// stopped reports whether evaluation under m should build nothing more.
func (m *meter) stopped() bool { return m.live() && (m.spent || m.failed) }

// start begins the evaluation of a top-level expression: a failure of the
// previous one no longer stops anything.
func (m *meter) start() {
	if m.live() {
		m.failed = false
	}
}

// The texts of the two refusals, without a final period (HCL adds one to a
// function's error); what is the thing refused ("This expression's value",
// "the result").
func tooLargeText(what string, s valueSize) string {
	if s.number {
		return fmt.Sprintf("%s holds a string of more than %d characters that would be read as a number, which takes time that grows with the square of its digits: no number has that many", what, maxNumberChars)
	}
	return fmt.Sprintf("%s would hold more than %s elements (the members of its lists, sets, tuples, maps and objects, nested ones included) or %d MiB of text: no configuration value is that large, and building it would take seconds and gigabytes",
		what, thousands(maxValueElements), maxValueText>>20)
}

var spentText = fmt.Sprintf("evaluating the configuration has read and built more than %s elements or %d MiB of text in all, at this expression: every value counts, each function's arguments and each iteration of a for expression. That is far beyond any configuration, and would take minutes; the values that remain are not evaluated",
	thousands(maxEvalElements), maxEvalText>>20)

// account measures v, built by an expression or a function, and charges
// it; it returns why v is refused, "" when it is not. what names v in that
// reason. Once m is stopped, v is what evaluation made of unknown values,
// and the refusal that stopped m is reported already.
func (m *meter) account(v cty.Value, what string) string {
	if m.stopped() {
		return ""
	}
	s := measure(v, valueLimit)
	if s.beyond(valueLimit) {
		if m.live() {
			m.failed = true
		}
		return tooLargeText(what, s)
	}
	if !m.charge(s) {
		return spentText
	}
	return ""
}

// charge adds s to what m counted; it returns false when that spends the
// budget (and then m is spent). A meter that does not count charges
// nothing.
func (m *meter) charge(s valueSize) bool {
	if !m.live() {
		return true
	}
	if m.spent {
		return false
	}
	s.number = false // a value's bound, which the budget has no part in
	m.used = m.used.plus(s)
	if m.used.beyond(evalBudget) {
		m.spent = true
		return false
	}
	return true
}

// chargeValues charges what vs hold (the arguments of a function or an
// operator), each measured no further than what is left of the budget.
func (m *meter) chargeValues(vs []cty.Value) bool {
	if !m.live() {
		return true
	}
	for _, v := range vs {
		left := valueSize{elements: evalBudget.elements - m.used.elements, text: evalBudget.text - m.used.text}
		if !m.charge(measure(v, left)) {
			return false
		}
	}
	return true
}

// Every evaluation context of a Load (and of each run-time evaluation of a
// filter or template) leads, through its parents, to one that has a meter:
// the expressions that count (checkedExpr) find it there, in a variable no
// expression can name, as nothing else carries state through HCL's
// evaluation. A context is the evaluation's own, so concurrent evaluations
// (one per message at run time) each find theirs.
//
// The name holds characters no identifier can (NUL, spaces), at least
// three of them, so that HCL never suggests it for a mistyped variable
// name (it suggests names within an edit distance of 2).
const meterVariable = "\x00 evaluation meter \x00"

// meterType is the capsule type of meterVariable's value.
var meterType = cty.Capsule("meter", reflect.TypeFor[meter]())

// attach makes ctx, and every context below it, evaluate under m, until
// the returned function is called. ctx must be the caller's own for that
// long: its variables gain meterVariable.
func (m *meter) attach(ctx *hcl.EvalContext) (detach func()) {
	created := ctx.Variables == nil
	if created {
		ctx.Variables = map[string]cty.Value{}
	}
	ctx.Variables[meterVariable] = cty.CapsuleVal(meterType, m)
	return func() {
		delete(ctx.Variables, meterVariable)
		if created {
			ctx.Variables = nil
		}
	}
}

// meterOf returns the meter ctx evaluates under, nil when there is none.
func meterOf(ctx *hcl.EvalContext) *meter {
	for c := ctx; c != nil; c = c.Parent() {
		if v, ok := c.Variables[meterVariable]; ok {
			return v.EncapsulatedValue().(*meter)
		}
	}
	return nil
}

// checkedExpr is an expression whose every evaluation is measured and
// charged to the meter of its context: a clause of a for expression (for
// each element) and an interpolation of a template (so that a template of
// a thousand copies of a large string stops where the budget does, not
// after it is built). It is a parenthesised expression to HCL, so that
// whatever walks the syntax tree (hclsyntax.VisitAll, Variables) walks
// the expression too.
type checkedExpr struct {
	*hclsyntax.ParenthesesExpr
	what string // names the value in a refusal
}

// UnwrapExpression is for HCL's static analysis (hcl.ExprList, ...).
func (e *checkedExpr) UnwrapExpression() hcl.Expression { return e.Expression }

func (e *checkedExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	m := meterOf(ctx)
	if m.stopped() {
		return cty.DynamicVal, nil
	}
	// An evaluation costs an element even when its value is small: a
	// for expression's iterations count.
	if !m.charge(valueSize{elements: 1}) {
		return cty.DynamicVal, hcl.Diagnostics{evalRefused(e.Range(), spentText)}
	}
	v, ds := e.Expression.Value(ctx)
	if why := m.account(v, e.what); why != "" {
		_, marks := v.Unmark()
		return cty.DynamicVal.WithMarks(marks), append(ds, evalRefused(e.Range(), why))
	}
	return v, ds
}

// evalRefused is the BP1004 of an expression that evaluation refused.
func evalRefused(rng hcl.Range, why string) *hcl.Diagnostic {
	summary := "Value too large"
	if why == spentText {
		summary = "Evaluation too costly"
	}
	return diag.Errorf(diag.CodeInvalidValue, rng, summary, "%s.", strings.ToUpper(why[:1])+why[1:])
}

// prepareMetering makes what evaluating node builds count: it wraps in
// checkedExpr the clauses of its for expressions, the interpolations of its
// templates, and the templates that are not literal text wherever another
// expression uses their value (an operand, an argument, an element), so
// that a long string they build is measured before it is used: "${...}" + 1
// reads it as a number. It returns node's == and != operations, whose
// operators must charge the values they compare (meterEqualities); with m
// not nil (a JSON file's template, parsed at each evaluation), they do so
// from now on. A node already prepared is left as it is.
func prepareMetering(node hclsyntax.Node, m *meter) []*hclsyntax.BinaryOpExpr {
	check := func(e hclsyntax.Expression, what string) hclsyntax.Expression {
		if e == nil {
			return nil
		}
		if _, done := e.(*checkedExpr); done {
			return e
		}
		return &checkedExpr{ParenthesesExpr: &hclsyntax.ParenthesesExpr{Expression: e, SrcRange: e.Range()}, what: what}
	}
	template := func(e hclsyntax.Expression) hclsyntax.Expression {
		if t, ok := e.(*hclsyntax.TemplateExpr); ok && !t.IsStringLiteral() {
			return check(e, "This template")
		}
		return e
	}
	var equalities []*hclsyntax.BinaryOpExpr
	_ = hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.UnaryOpExpr:
			n.Val = template(n.Val)
		case *hclsyntax.ConditionalExpr:
			n.Condition, n.TrueResult, n.FalseResult = template(n.Condition), template(n.TrueResult), template(n.FalseResult)
		case *hclsyntax.FunctionCallExpr:
			for i, a := range n.Args {
				n.Args[i] = template(a)
			}
		case *hclsyntax.IndexExpr:
			n.Collection, n.Key = template(n.Collection), template(n.Key)
		case *hclsyntax.TupleConsExpr:
			for i, e := range n.Exprs {
				n.Exprs[i] = template(e)
			}
		case *hclsyntax.ObjectConsExpr:
			for i := range n.Items {
				n.Items[i].ValueExpr = template(n.Items[i].ValueExpr)
			}
		case *hclsyntax.ObjectConsKeyExpr:
			n.Wrapped = template(n.Wrapped)
		case *hclsyntax.SplatExpr:
			n.Source = template(n.Source)
		case *hclsyntax.RelativeTraversalExpr:
			n.Source = template(n.Source)
		case *hclsyntax.TemplateWrapExpr:
			n.Wrapped = template(n.Wrapped)
		case *hclsyntax.ParenthesesExpr:
			n.Expression = template(n.Expression)
		case *hclsyntax.ForExpr:
			n.CollExpr = check(n.CollExpr, "The collection of this for expression")
			n.KeyExpr = check(n.KeyExpr, "This key")
			n.ValExpr = check(n.ValExpr, "This element")
			n.CondExpr = check(n.CondExpr, "This condition")
		case *hclsyntax.TemplateExpr:
			for i, p := range n.Parts {
				if _, literal := p.(*hclsyntax.LiteralValueExpr); !literal {
					n.Parts[i] = check(p, "This interpolation")
				}
			}
		case *hclsyntax.BinaryOpExpr:
			n.LHS, n.RHS = template(n.LHS), template(n.RHS)
			if n.Op == hclsyntax.OpEqual || n.Op == hclsyntax.OpNotEqual {
				equalities = append(equalities, n)
			}
		}
		return nil
	})
	if m != nil {
		meterEqualities(equalities, m)
	}
	return equalities
}

// meterEqualities makes each of equalities charge m both sides of its
// comparison (go-cty compares collections element by element, and
// `local.a == local.b` on lines enough would take minutes), until the
// returned function is called. The operators of a configuration file's
// syntax are HCL's own but while a Load evaluates it: the validation rules
// recognize an operator by its identity (hclsyntax.OpEqual), and at run
// time no Load's meter is there to charge.
func meterEqualities(equalities []*hclsyntax.BinaryOpExpr, m *meter) (restore func()) {
	ops := map[*hclsyntax.Operation]*hclsyntax.Operation{}
	for _, op := range []*hclsyntax.Operation{hclsyntax.OpEqual, hclsyntax.OpNotEqual} {
		ops[op] = &hclsyntax.Operation{Type: op.Type, Impl: comparing(op.Impl, m)}
	}
	for _, e := range equalities {
		e.Op = ops[e.Op]
	}
	return func() {
		for _, e := range equalities {
			for orig, metered := range ops {
				if e.Op == metered {
					e.Op = orig
				}
			}
		}
	}
}

// comparing is an equality operator charging both sides to m.
func comparing(op function.Function, m *meter) function.Function {
	params, varParam := passThrough(op)
	return function.New(&function.Spec{
		Description: op.Description(),
		Params:      params,
		VarParam:    varParam,
		Type:        op.ReturnTypeForValues,
		Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
			if m.stopped() {
				return cty.UnknownVal(retType), nil
			}
			if !m.chargeValues(args) {
				return cty.NilVal, errSpent
			}
			return op.Call(args)
		},
	})
}

// passThrough returns f's parameters allowing anything (unknown, null,
// marked and dynamic values): a wrapper of f with them hands its arguments
// to f as they are, and f checks them, converts them and deals with their
// marks. go-cty walks every argument for marks at each layer that does not
// allow them, and a comparison or a call costs that much more for each.
func passThrough(f function.Function) ([]function.Parameter, *function.Parameter) {
	open := func(p function.Parameter) function.Parameter {
		p.AllowUnknown, p.AllowNull, p.AllowMarked, p.AllowDynamicType = true, true, true, true
		return p
	}
	params := f.Params()
	for i, p := range params {
		params[i] = open(p)
	}
	var varParam *function.Parameter
	if vp := f.VarParam(); vp != nil {
		p := open(*vp)
		varParam = &p
	}
	return params, varParam
}

// errSpent is the error of a function or operator called once the budget
// is spent: its text is the reason.
var errSpent = fmt.Errorf("%s", spentText)
