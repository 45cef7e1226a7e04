package lang

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/model"
)

var serverSchema = schemaOf(blockServer)

func (d *decoder) decodeServerBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, _ := d.content(b, serverSchema)
	s := &model.Server{Name: b.Labels[0], DeclRange: b.DefRange}
	if attr, ok := at.m["other_people_store"]; ok {
		if r, ok := d.ref(attr, blockStore); ok {
			s.OtherPeopleStoreRef = &r
		}
	}
	d.cfg.Servers = append(d.cfg.Servers, s)
}
