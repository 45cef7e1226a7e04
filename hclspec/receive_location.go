package hclspec

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/engine/diag"
	"github.com/bizpipe/bizpipe/engine/model"
)

var receiveLocationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "host", Required: true}, {Name: "content_type"}, {Name: "properties"},
	},
	Blocks: []hcl.BlockHeaderSchema{transportHeader},
}

const defaultContentType = "application/octet-stream"

func (d *decoder) decodeReceiveLocationBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, blocks := d.content(b, receiveLocationSchema)
	r := &model.ReceiveLocation{
		Name:        b.Labels[0],
		ContentType: d.str(at, "content_type"),
		Properties:  d.stringMap(at, "properties"),
		DeclRange:   b.DefRange,
	}
	if !r.ContentType.Set {
		r.ContentType = model.Defaulted(defaultContentType, at.rng)
	}
	if a, ok := at.m["host"]; ok {
		r.HostRef, _ = d.ref(a, blockHost)
	}
	if tb := d.transportBlock(b, blocks); tb != nil {
		r.Transport = d.decodeReceiveTransport(b, tb)
	}
	d.cfg.ReceiveLocations = append(d.cfg.ReceiveLocations, r)
}

// stringMap reads a map(string) attribute.
func (d *decoder) stringMap(at attrs, name string) model.Value[map[string]string] {
	ev, ok := d.eval(at.m[name], cty.Map(cty.String), at.what)
	if !ok {
		return model.Value[map[string]string]{V: map[string]string{}, Range: at.rng}
	}
	v := model.Value[map[string]string]{V: map[string]string{}, Set: true, Known: ev.known, Sensitive: ev.sensitive, Range: ev.rng}
	if ev.known {
		// eval unmarks the map, not its elements: { a = var.secret }.
		val, marks := ev.val.UnmarkDeep()
		if _, ok := marks[markSensitive]; ok {
			v.Sensitive = true
		}
		for k, e := range val.AsValueMap() {
			if e.IsNull() {
				d.add(diag.Errorf(diag.CodeInvalidValue, ev.rng, "Invalid value for "+name,
					"The %s attribute of %s must be a map of strings; the value of %q is null.", name, at.what, k))
				return model.Value[map[string]string]{V: map[string]string{}, Range: ev.rng}
			}
			v.V[k] = e.AsString()
		}
	}
	return v
}
