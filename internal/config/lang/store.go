package lang

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/model"
)

var storeSchema = schemaOf(blockStore)

func (d *decoder) decodeStoreBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, _ := d.content(b, storeSchema)
	pw := d.str(at, "password")
	invalid := false
	if a, present := at.m["password"]; present && !pw.Set {
		// Written but invalid (already reported): the store has a password
		// we cannot know, not none; opening its PKCS#12 files with the empty
		// password would add a misleading BP2003.
		pw = model.Value[string]{Set: true, Range: a.Expr.Range()}
		invalid = true
	}
	d.cfg.Stores = append(d.cfg.Stores, &model.CertificateStore{
		Name:            b.Labels[0],
		Path:            d.path(at, "path"),
		Password:        pw,
		PasswordInvalid: invalid,
		DeclRange:       b.DefRange,
	})
}
