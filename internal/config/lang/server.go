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
		// Set even when broken: the server does declare a store, so the
		// rules must not report it missing (BP4002, BP7006).
		r, _ := d.ref(attr, blockStore)
		s.OtherPeopleStoreRef = &r
	}
	d.cfg.Servers = append(d.cfg.Servers, s)
}
