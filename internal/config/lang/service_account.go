package lang

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/model"
)

var accountSchema = schemaOf(blockAccount)

func (d *decoder) decodeAccountBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, _ := d.content(b, accountSchema)
	a := &model.ServiceAccount{Name: b.Labels[0], User: d.str(at, "user"), DeclRange: b.DefRange}
	if attr, ok := at.m["personal_store"]; ok {
		a.PersonalStoreRef, _ = d.ref(attr, blockStore)
	}
	d.cfg.Accounts = append(d.cfg.Accounts, a)
}
