package lang

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// transportHeader is the schema entry for the transport block (the same in
// receive locations and send ports).
var transportHeader = headerOf(blockSendPort, "transport")

// transportBlock picks the single transport block of a receive location or
// send port, reporting none or several (BP1004).
func (d *decoder) transportBlock(owner *hcl.Block, blocks hcl.Blocks, kind component.Kind) *hcl.Block {
	var found []*hcl.Block
	for _, b := range blocks {
		if b.Type == transportHeader.Type {
			found = append(found, b)
		}
	}
	switch len(found) {
	case 0:
		if slices.Contains(mislabeled(owner.Body, &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{transportHeader}}), transportHeader.Type) {
			return nil // its labels are wrong, which HCL reported
		}
		d.add(diag.Errorf(diag.CodeInvalidValue, owner.DefRange, "Missing transport block",
			"%s needs one transport block, transport \"NAME\" { ... }, where NAME is one of %s.", describe(owner), quoteList(d.registry.Names(kind))))
		return nil
	case 1:
	default:
		d.add(diag.Errorf(diag.CodeInvalidValue, found[1].DefRange, "More than one transport block",
			"%s has more than one transport block; it takes exactly one.", describe(owner)))
	}
	return found[0]
}

// headers reads a map whose keys are constant header names and whose values
// are templates over the message.
func (d *decoder) headers(a *hcl.Attribute, what string) map[string]headerEntry {
	pairs, ds := hcl.ExprMap(a.Expr)
	if ds.HasErrors() {
		d.add(diag.Errorf(diag.CodeInvalidValue, a.Expr.Range(), "Invalid headers",
			"The headers attribute of %s must be a map of header names to templates, such as { \"X-Partner\" = \"fabrikam\" }.", what))
		return nil
	}
	out := map[string]headerEntry{}
	for _, p := range pairs {
		if !d.checkRefs(p.Key, false) {
			continue
		}
		k, ds := evaluate(p.Key, d.ctxFor(p.Key.Range()), d.meter)
		if d.meter.spent {
			d.add(tagEval(ds)...)
			continue
		}
		k, marks := k.Unmark()
		if ds.HasErrors() || k.Type() != cty.String || !k.IsKnown() || k.IsNull() || k.AsString() == "" {
			d.add(diag.Errorf(diag.CodeInvalidValue, p.Key.Range(), "Invalid header name",
				"Header names in %s must be known, non-empty strings.", what))
			continue
		}
		// A name is shown (in the diagnostics about its value, the
		// transport's about the header), as a property's is: one derived
		// from a secret is refused, as properties refuse one.
		if _, ok := marks[markSensitive]; ok {
			d.add(diag.Errorf(diag.CodeInvalidValue, p.Key.Range(), "Sensitive header name",
				"A header name in %s derives from a sensitive value, and names are shown. "+
					"Write the name and make only the value sensitive, such as { \"X-Token\" = var.token }.", what))
			continue
		}
		if d.checkTemplate(p.Value, "header "+k.AsString(), what) {
			out[k.AsString()] = headerEntry{p.Key.Range(), p.Value}
		}
	}
	return out
}

// headerEntry is one entry of a headers map: where its key is written, and
// its value.
type headerEntry struct {
	key   hcl.Range
	value hcl.Expression
}

// contentOf is content for a nested block, described by its owner so that
// messages say `transport "file" of send_port "x"`.
func (d *decoder) contentOf(owner, b *hcl.Block, schema *hcl.BodySchema) (attrs, hcl.Blocks) {
	at, blocks := d.content(b, schema)
	at.what = describe(b) + " of " + describe(owner)
	return at, blocks
}
