package lang

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

var partySchema = schemaOf(blockParty)

func (d *decoder) decodePartyBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, _ := d.content(b, partySchema)
	p := &model.Party{
		Name:                     b.Labels[0],
		AS2ID:                    d.as2ID(at),
		SigningCertificatesKnown: true,
		SigningCertificatesRange: b.DefRange,
		DeclRange:                b.DefRange,
	}
	p.SigningCertificates, p.SigningCertificatesKnown = d.thumbprintList(at, "signing_certificates", &p.SigningCertificatesRange)
	d.cfg.Parties = append(d.cfg.Parties, p)
}

// thumbprintList reads a list of strings, each with the range of its element
// when the list is written as a literal (so that a malformed thumbprint,
// BP2004, points at the one element), else with the attribute's range. known
// is false when the list depends on a value unknown during validate.
func (d *decoder) thumbprintList(at attrs, name string, rng *hcl.Range) (vs []model.Value[string], known bool) {
	a := at.m[name]
	ev, ok := d.eval(a, cty.List(cty.String), at.what)
	if !ok {
		return nil, a == nil || ev.null // absent or null: known to be empty; invalid: reported
	}
	*rng = ev.rng
	if !ev.known {
		return nil, false
	}
	var elems []hclsyntax.Expression
	if tuple, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok {
		elems = tuple.Exprs
	}
	for i, e := range ev.val.AsValueSlice() {
		e, marks := e.UnmarkDeep()
		_, sensitive := marks[markSensitive]
		r := ev.rng
		if len(elems) == ev.val.LengthInt() {
			r = elems[i].Range()
		}
		if e.IsNull() {
			d.add(diag.Errorf(diag.CodeInvalidValue, r, "Invalid value for "+name,
				"The %s attribute of %s must be a list of thumbprints; element %d is null.", name, at.what, i))
			continue
		}
		vs = append(vs, model.Value[string]{V: e.AsString(), Set: true, Known: true, Sensitive: sensitive || ev.sensitive, Range: r})
	}
	return vs, true
}

// maxAS2IDLen is RFC 4130 §6.2's bound on an AS2-From or AS2-To value.
const maxAS2IDLen = 128

// as2ID reads an as2_id attribute: 1 to 128 printable ASCII characters, as
// RFC 4130 §6.2 allows in AS2-From and AS2-To (a value with a space is sent
// quoted). Anything else could not be sent in a header, or compared with
// what a partner sends, so it is refused (BP1004) where it is written.
func (d *decoder) as2ID(at attrs) model.Value[string] {
	v := d.str(at, "as2_id")
	if !v.Known {
		return v
	}
	bad := len(v.V) == 0 || len(v.V) > maxAS2IDLen
	for i := 0; i < len(v.V) && !bad; i++ {
		bad = v.V[i] < 0x20 || v.V[i] > 0x7e
	}
	if bad {
		d.add(diag.Errorf(diag.CodeInvalidValue, v.Range, "Invalid value for as2_id",
			"The as2_id attribute of %s must be 1 to %d printable ASCII characters (RFC 4130 AS2-From and AS2-To); got %s.", at.what, maxAS2IDLen, shown(v)))
		return model.Value[string]{Range: v.Range}
	}
	return v
}
