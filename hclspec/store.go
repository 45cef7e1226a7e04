package hclspec

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/engine/model"
)

var storeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "path", Required: true},
		{Name: "password"},
	},
}

func (d *decoder) decodeStoreBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, _ := d.content(b, storeSchema)
	d.cfg.Stores = append(d.cfg.Stores, &model.CertificateStore{
		Name:      b.Labels[0],
		Path:      d.path(at, "path"),
		Password:  d.str(at, "password"),
		DeclRange: b.DefRange,
	})
}
