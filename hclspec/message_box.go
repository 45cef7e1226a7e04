package hclspec

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/engine/diag"
	"github.com/bizpipe/bizpipe/engine/model"
)

var messageBoxSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "sqlite"}, {Type: "postgres"}},
}

var sqliteSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "path", Required: true}}}
var postgresSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "url", Required: true}}}

func (d *decoder) decodeMessageBoxBlock(b *hcl.Block) {
	if d.cfg.MessageBox != nil {
		d.add(diag.Errorf(diag.CodeDuplicate, b.DefRange, "More than one message_box block",
			"A configuration has at most one message_box block; the first is at %s.", d.cfg.MessageBox.DeclRange))
		return
	}
	_, blocks := d.content(b, messageBoxSchema)
	mb := &model.MessageBox{DeclRange: b.DefRange}
	d.cfg.MessageBox = mb
	if len(blocks) != 1 {
		d.add(diag.Errorf(diag.CodeInvalidValue, b.DefRange, "message_box needs one backend",
			"The message_box block takes exactly one of sqlite { path = ... } or postgres { url = ... }."))
		if len(blocks) == 0 {
			return
		}
	}
	kb := blocks[0]
	switch kb.Type {
	case "sqlite":
		at, _ := d.contentOf(b, kb, sqliteSchema)
		p := d.path(at, "path")
		mb.SQLitePath = &p
	case "postgres":
		at, _ := d.contentOf(b, kb, postgresSchema)
		u := d.str(at, "url")
		mb.PostgresURL = &u
	}
}
