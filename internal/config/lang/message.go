package lang

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/config/suggest"
)

// Message is what filters and templates see of a message (§3.1).
type Message struct {
	ID              string
	ReceiveLocation string
	FileName        string
	ContentType     string
	Size            int64
	ReceivedAt      string // RFC 3339 UTC
	Properties      map[string]string
	// SensitiveProperties names the properties whose values derive from
	// sensitive values. Their values are marked sensitive, and so is
	// whatever a filter or template derives from them.
	SensitiveProperties []string
	// Party is the party whose signature a decoder verified; "" when
	// none did.
	Party string
}

// MessageAttribute is an attribute of the message object that filters and
// templates see.
type MessageAttribute struct {
	Name string
	Type cty.Type
	// Doc says what the attribute holds, for the reference.
	Doc string
}

// messageAttributes are the attributes of the message object, in reference
// order: the one declaration of them (messageAttrs and the reference derive
// from it).
var messageAttributes = []MessageAttribute{
	{"id", cty.String, "The message's unique id, assigned on receipt; safe in a file name."},
	{"receive_location", cty.String, "The name of the receive location that received the message."},
	{"file_name", cty.String, "The original base name of the file received (`\"\"` when the message did not come from a file). The sender chose it: a `url` whose scheme or host derives from it is refused."},
	{"content_type", cty.String, "The content type: for a message a receive pipeline decoded, that of the innermost entity; else an HTTP or AS2 request's `Content-Type` (not with an http location's `request_content_type = \"ignore\"`); else the receive location's `content_type`. A `url` whose scheme or host derives from it is refused."},
	{"size", cty.Number, "The body's size in bytes."},
	{"received_at", cty.String, "The time of receipt, RFC 3339 in UTC. A string: to compare times, compare numbers, such as `parseint(formatdate(\"YYYYMMDDhhmm\", message.received_at), 10) >= 202601010000` (<, > or arithmetic on it fail for every message: BP1005)."},
	{"properties", cty.Map(cty.String), "The context properties the receive location stamped on the message (`message.properties.partner`)."},
	{"party", cty.String, "The [party](#party) whose signature a decoder verified (a receive pipeline's `decoder \"smime\"` with `verify = true`); `\"\"` when the message was not verified."},
}

// MessageAttributes returns the attributes of the message object, in
// reference order (a copy).
func MessageAttributes() []MessageAttribute { return slices.Clone(messageAttributes) }

// messageAttrs are the attributes of the message object and their types.
func messageAttrs() map[string]cty.Type {
	m := make(map[string]cty.Type, len(messageAttributes))
	for _, a := range messageAttributes {
		m[a.Name] = a.Type
	}
	return m
}

// MessageType is the cty type of the message object.
func MessageType() cty.Type { return cty.Object(messageAttrs()) }

// Value is the message as the cty object filters and templates evaluate.
// Sensitive properties carry the sensitive mark, and file_name and
// content_type, which the sender chose, the sender mark.
func (m Message) Value() cty.Value { return m.object(nil) }

// object is the message object with the attributes in only (every one
// when only is nil).
func (m Message) object(only map[string]bool) cty.Value {
	attrs := make(map[string]cty.Value, len(messageAttributes))
	set := func(name string, v func() cty.Value) {
		if only == nil || only[name] {
			attrs[name] = v()
		}
	}
	set("id", func() cty.Value { return cty.StringVal(m.ID) })
	set("receive_location", func() cty.Value { return cty.StringVal(m.ReceiveLocation) })
	set("file_name", func() cty.Value { return cty.StringVal(m.FileName).Mark(markSender) })
	set("content_type", func() cty.Value { return cty.StringVal(m.ContentType).Mark(markSender) })
	set("size", func() cty.Value { return cty.NumberIntVal(m.Size) })
	set("received_at", func() cty.Value { return cty.StringVal(m.ReceivedAt) })
	set("properties", m.properties)
	set("party", func() cty.Value { return cty.StringVal(m.Party) })
	return cty.ObjectVal(attrs)
}

// properties is the message object's properties map: the sensitive ones
// marked.
func (m Message) properties() cty.Value {
	if len(m.Properties) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	props := make(map[string]cty.Value, len(m.Properties))
	for k, v := range m.Properties {
		props[k] = cty.StringVal(v)
	}
	for _, k := range m.SensitiveProperties {
		if v, ok := props[k]; ok {
			props[k] = v.Mark(markSensitive)
		}
	}
	return cty.MapVal(props)
}

// checkMessageTraversal reports message.X where X is not an attribute of
// §3.1 (BP1005), pointing at the attribute name.
func (d *decoder) checkMessageTraversal(tr hcl.Traversal) bool {
	if len(tr) < 2 {
		return true
	}
	var name string
	switch s := tr[1].(type) {
	case hcl.TraverseAttr:
		name = s.Name
	case hcl.TraverseIndex:
		if s.Key.Type() != cty.String || !s.Key.IsKnown() {
			return true
		}
		name = s.Key.AsString()
	default:
		return true
	}
	if _, ok := messageAttrs()[name]; ok {
		return true
	}
	// A misspelled attribute (message.filename, message.ID) gets its
	// correction; any other name is probably a context property.
	hint := suggest.Hint(name, attributeNames(), "message.%s")
	if hint == "" {
		hint = suggestProperty(name)
	}
	d.add(diag.Errorf(diag.CodeFilter, tr[1].SourceRange(), "Unknown message attribute",
		"message.%s is not an attribute of the message; the message has %s.%s", name, messageAttrList(), hint))
	return false
}

// attributeNames are the message's attribute names in reference order.
func attributeNames() []string {
	names := make([]string, len(messageAttributes))
	for i, a := range messageAttributes {
		names[i] = a.Name
	}
	return names
}

func messageAttrList() string {
	var names []string
	for n := range messageAttrs() {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func suggestProperty(name string) string {
	return fmt.Sprintf(" A context property is read as message.properties.%s.", name)
}

// messageContext is ctx plus an unknown message, for type-checking filters
// and templates at load time.
func messageContext(ctx *hcl.EvalContext) *hcl.EvalContext {
	child := ctx.NewChild()
	child.Variables = map[string]cty.Value{"message": cty.UnknownVal(MessageType())}
	return child
}

// receivedAtSample is a time of receipt as filters and templates see one
// (RFC 3339 in UTC), for receivedAtOperands.
const receivedAtSample = "2026-01-02T03:04:05Z"

// receivedAtOperands is what evaluating expr finds wrong once
// message.received_at is known, every other attribute still unknown: an
// operator that takes numbers or bools (>, +, &&, ...) given the time of
// receipt, which is neither for any message, so that the expression fails
// for every message at run time. HCL converts the operands of < and > to
// numbers: message.received_at > "2020" is such a mistake. Only those
// diagnostics count: what else fails with a sample time (a regex that
// does not match it) may well work for the real ones.
func (d *decoder) receivedAtOperands(expr hcl.Expression, ctx *hcl.EvalContext) hcl.Diagnostics {
	attrs := map[string]cty.Value{}
	for name, ty := range messageAttrs() {
		attrs[name] = cty.UnknownVal(ty)
	}
	attrs["received_at"] = cty.StringVal(receivedAtSample)
	child := ctx.NewChild()
	child.Variables = map[string]cty.Value{"message": cty.ObjectVal(attrs)}
	_, ds := evaluateAll(expr, child, d.meter)
	if d.meter.spent {
		return ds // the evaluation budget's refusal, which must be told
	}
	var out hcl.Diagnostics
	for _, e := range ds {
		if e.Severity == hcl.DiagError && e.Summary == "Invalid operand" {
			at := expr.Range()
			if e.Subject != nil {
				at = *e.Subject
			}
			out = append(out, diag.Errorf(diag.CodeFilter, at, "Time of receipt used as a number",
				"%s: message.received_at, the time of receipt (RFC 3339, such as %s), is a string that is no number and no bool, "+
					"whatever the message, so this fails for every message. To compare times, compare numbers, such as "+
					"parseint(formatdate(\"YYYYMMDDhhmm\", message.received_at), 10) >= 202601010000.",
				strings.TrimSuffix(e.Detail, "."), receivedAtSample))
		}
	}
	return out
}

// checkFilter type-checks a send port's filter against an unknown message:
// it must be boolean (BP1005).
func (d *decoder) checkFilter(a *hcl.Attribute, what string) bool {
	if !d.checkRefs(a.Expr, true) {
		return false
	}
	// evaluateAll: with the message unknown, HCL would drop the errors of
	// what && and || and conditionals choose by it (see hidden.go).
	val, ds := evaluateAll(a.Expr, messageContext(d.ctxFor(a.Range)), d.meter)
	if ds.HasErrors() || d.meter.spent {
		d.add(diag.Tag(ds, diag.CodeFilter)...)
		return false
	}
	ty := val.Type()
	if ty != cty.Bool && ty != cty.DynamicPseudoType {
		d.add(diag.Errorf(diag.CodeFilter, a.Expr.Range(), "Filter is not boolean",
			"The filter of %s must be a boolean expression such as message.properties.partner == \"fabrikam\"; this one is %s.", what, ty.FriendlyName()))
		return false
	}
	if certainlyNull(val) {
		d.add(diag.Errorf(diag.CodeFilter, a.Expr.Range(), "Filter is null",
			"The filter of %s is null, whatever the message: it must be a boolean expression such as message.properties.partner == \"fabrikam\" (every message would fail routing).", what))
		return false
	}
	if ds := d.receivedAtOperands(a.Expr, d.ctxFor(a.Range)); len(ds) > 0 {
		d.add(ds...)
		return false
	}
	d.deferMessageInputs(a.Expr, true)
	return true
}

// certainlyNull reports whether val, a filter's or template's value for an
// unknown message, is null whatever the message: null written as it is,
// or from a local or variable that is null. A value that depends on the
// message is unknown, not null, and is left to run time: it may well be
// null for no message.
func certainlyNull(val cty.Value) bool {
	val, _ = val.Unmark()
	return val.IsKnown() && val.IsNull()
}

// checkTemplate type-checks a template (file_name, url, header value) against
// an unknown message: it must produce a string (BP1005 for message misuse).
func (d *decoder) checkTemplate(expr hcl.Expression, name, what string) bool {
	if !d.checkRefs(expr, true) {
		return false
	}
	val, ds := evaluateAll(expr, messageContext(d.ctxFor(expr.Range())), d.meter) // as checkFilter
	if ds.HasErrors() || d.meter.spent {
		d.add(diag.Tag(ds, diag.CodeFilter)...)
		return false
	}
	if certainlyNull(val) {
		d.add(diag.Errorf(diag.CodeFilter, expr.Range(), "Template is null",
			"The %s template of %s is null, whatever the message: it must produce a string.", name, what))
		return false
	}
	ty := val.Type()
	if ty.IsPrimitiveType() || ty == cty.DynamicPseudoType {
		if ds := d.receivedAtOperands(expr, d.ctxFor(expr.Range())); len(ds) > 0 {
			d.add(ds...)
			return false
		}
		d.deferMessageInputs(expr, false)
		return true
	}
	d.add(diag.Errorf(diag.CodeFilter, expr.Range(), "Template does not produce a string",
		"The %s template of %s must produce a string; this one is %s.", name, what, ty.FriendlyName()))
	return false
}

// EvalFilter evaluates a send port's filter for one message (run time). An
// error never quotes a sensitive value: when the filter reads one, the
// evaluation's details are left out.
func EvalFilter(cfg *model.Config, port *model.SendPort, msg cty.Value) (bool, error) {
	if port.FilterExpr == nil {
		return false, nil
	}
	return evalFilter(cfg.EvalContextFor(port.FilterRange.Filename), port.FilterExpr, port.Name, msg)
}

func evalFilter(fileCtx *hcl.EvalContext, expr hcl.Expression, port string, msg cty.Value) (bool, error) {
	ctx := fileCtx.NewChild()
	ctx.Variables = map[string]cty.Value{"message": msg}
	val, ds := evaluateAt(expr, ctx)
	if ds.HasErrors() {
		return false, fmt.Errorf("filter of send port %q: %s", port, evalError(expr, ctx, ds))
	}
	val, _ = val.UnmarkDeep()
	if !val.IsKnown() {
		return false, fmt.Errorf("filter of send port %q %s", port, noValueError(expr, ctx))
	}
	if val.IsNull() || val.Type() != cty.Bool {
		return false, fmt.Errorf("filter of send port %q did not produce true or false", port)
	}
	return val.True(), nil
}

// Template is the value of a transport template (file_name, url, a header)
// for one message, and where its parts came from.
type Template struct {
	Text string
	// Sensitive reports that some of Text derives from a sensitive value
	// (a sensitive variable, or a message property set from one): Text
	// must never be shown. SensitiveAt is where the first such part
	// starts: the bytes before it derive from no sensitive value.
	Sensitive   bool
	SensitiveAt int
	// FromSender reports that some of Text derives from what the
	// message's sender chose (message.file_name, message.content_type);
	// FromSenderAt is where the first such part starts.
	FromSender   bool
	FromSenderAt int
}

// EvalTemplate evaluates a transport template for one message (run time).
// The offsets of Template are exact for a quoted template ("...${...}...")
// and 0 for any other expression: a function call or a reference is
// derived as a whole. An error never quotes a sensitive value.
func EvalTemplate(cfg *model.Config, expr hcl.Expression, msg cty.Value) (Template, error) {
	return evalTemplate(cfg.EvalContextFor(expr.Range().Filename), expr, msg)
}

func evalTemplate(fileCtx *hcl.EvalContext, expr hcl.Expression, msg cty.Value) (Template, error) {
	ctx := fileCtx.NewChild()
	ctx.Variables = map[string]cty.Value{"message": msg}
	val, ds := evaluateAt(expr, ctx)
	if ds.HasErrors() {
		return Template{}, fmt.Errorf("template at %s: %s", expr.Range(), evalError(expr, ctx, ds))
	}
	val, marks := val.UnmarkDeep()
	if !val.IsWhollyKnown() {
		return Template{}, fmt.Errorf("template at %s %s", expr.Range(), noValueError(expr, ctx))
	}
	if val.IsNull() {
		return Template{}, fmt.Errorf("template at %s produced no value", expr.Range())
	}
	s, err := convertString(val)
	if err != nil {
		return Template{}, fmt.Errorf("template at %s: %w", expr.Range(), err)
	}
	t := Template{Text: s}
	_, t.Sensitive = marks[markSensitive]
	_, t.FromSender = marks[markSender]
	if t.Sensitive || t.FromSender {
		t.SensitiveAt, t.FromSenderAt = markOffsets(expr, ctx, s)
	}
	return t, nil
}

// markOffsets returns where, in s (the value of expr), the first part
// carrying the sensitive mark and the first carrying the sender mark start.
// Only a template's own parts can be told apart; for anything else, or if
// the parts do not add up to s, both are 0: all of s counts as derived.
func markOffsets(expr hcl.Expression, ctx *hcl.EvalContext, s string) (sensitiveAt, senderAt int) {
	te, ok := expr.(*hclsyntax.TemplateExpr)
	if !ok {
		return 0, 0
	}
	sensitiveAt, senderAt = -1, -1
	var b strings.Builder
	for _, part := range te.Parts {
		v, ds := part.Value(ctx)
		if ds.HasErrors() {
			return 0, 0
		}
		v, marks := v.UnmarkDeep()
		if v.IsNull() || !v.IsKnown() {
			return 0, 0
		}
		ps, err := convertString(v)
		if err != nil {
			return 0, 0
		}
		if _, ok := marks[markSensitive]; ok && sensitiveAt < 0 {
			sensitiveAt = b.Len()
		}
		if _, ok := marks[markSender]; ok && senderAt < 0 {
			senderAt = b.Len()
		}
		b.WriteString(ps)
	}
	if b.String() != s {
		return 0, 0
	}
	return max(sensitiveAt, 0), max(senderAt, 0)
}

// evalError renders the diagnostics of a failed filter or template
// evaluation, leaving the details out when the expression reads a
// sensitive value: functions quote their arguments in errors (parseint:
// cannot parse "..."), and HCL does not know which are secret.
func evalError(expr hcl.Expression, ctx *hcl.EvalContext, ds hcl.Diagnostics) string {
	if readsSensitive(expr, ctx) {
		return "evaluation failed (details hidden: the expression reads a sensitive value)"
	}
	return ds.Error()
}

// readsSensitive reports whether a variable expr refers to holds, anywhere
// in it, a value marked sensitive. A reference that does not resolve (the
// error being reported) is judged by the longest part of it that does, so
// message.properties.nope counts when any property is sensitive.
func readsSensitive(expr hcl.Expression, ctx *hcl.EvalContext) bool {
	for _, tr := range expr.Variables() {
		for n := len(tr); n > 0; n-- {
			v, ds := tr[:n].TraverseAbs(ctx)
			if ds.HasErrors() {
				continue
			}
			_, marks := v.UnmarkDeep()
			if _, ok := marks[markSensitive]; ok {
				return true
			}
			break
		}
	}
	return false
}
