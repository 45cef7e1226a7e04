package lang

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/message"
)

// A fastTemplate builds, without HCL, a template made only of literal text,
// variables and locals that hold strings that are not sensitive, and the
// message's text attributes and properties ("${message.id}.eml"):
// what HCL would build, with the same marks and their offsets
// (evalTemplate, markOffsets). A transport evaluates its templates (a file
// name, a URL, each header) once per delivery.
//
// A property the message does not have (an error to HCL), or a result
// longer than fastTemplateMax (which HCL's evaluation meters), leaves the
// template to HCL.
type fastTemplate struct {
	parts []fastOperand
	// parted: the template is a TemplateExpr, whose parts tell where
	// the marked ones start; otherwise the marks cover all of it.
	parted bool
}

// fastTemplateMax bounds what a fastTemplate builds.
const fastTemplateMax = 64 << 10

// compileFastTemplate returns expr, evaluated in ctx, as a fastTemplate, or
// nil when it is not made only of what a fastTemplate builds.
func compileFastTemplate(expr hcl.Expression, ctx *hcl.EvalContext) *fastTemplate {
	var t fastTemplate
	switch e := expr.(type) {
	case *hclsyntax.TemplateExpr:
		t.parted = true
		for _, p := range e.Parts {
			o, ok := fastOperandOf(p, ctx)
			if !ok {
				return nil
			}
			t.parts = append(t.parts, o)
		}
	case *hclsyntax.TemplateWrapExpr:
		o, ok := fastOperandOf(e.Wrapped, ctx)
		if !ok {
			return nil
		}
		t.parts = []fastOperand{o}
	default:
		o, ok := fastOperandOf(expr, ctx)
		if !ok {
			return nil
		}
		t.parts = []fastOperand{o}
	}
	return &t
}

// eval builds the template's text for m; ok is false when HCL must.
func (t *fastTemplate) eval(m *message.Message) (text message.Text, ok bool) {
	var b strings.Builder
	sensitiveAt, senderAt := -1, -1
	for _, p := range t.parts {
		v, ok := p.text(m)
		if !ok || b.Len()+len(v) > fastTemplateMax {
			return message.Text{}, false
		}
		if p.kind == propOperand && slices.Contains(m.SensitiveProperties, p.name) && sensitiveAt < 0 {
			sensitiveAt = b.Len()
		}
		if p.kind == attrOperand && (p.name == "file_name" || p.name == "content_type") && senderAt < 0 {
			senderAt = b.Len()
		}
		// Each part as cty holds it, then the whole (a template's value
		// is a new string, normalised again).
		b.WriteString(cty.NormalizeString(v))
	}
	joined := b.String()
	text = message.Text{Value: cty.NormalizeString(joined), Sensitive: sensitiveAt >= 0, FromSender: senderAt >= 0}
	if t.parted && text.Value == joined {
		text.SensitiveAt, text.FromSenderAt = max(sensitiveAt, 0), max(senderAt, 0)
	}
	return text, true
}
