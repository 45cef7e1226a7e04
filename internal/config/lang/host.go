package lang

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/config/model"
)

var (
	hostSchema     = schemaOf(blockHost)
	instanceSchema = schemaOf(blockHost, "instance")
)

func (d *decoder) decodeHostBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, blocks := d.content(b, hostSchema)
	h := &model.Host{Name: b.Labels[0], DecryptionCertificate: d.str(at, "decryption_certificate"),
		PreviousDecryptionCertificatesRange: b.DefRange, DeclRange: b.DefRange}
	h.PreviousDecryptionCertificates, h.PreviousDecryptionCertificatesKnown =
		d.thumbprintList(at, "previous_decryption_certificates", &h.PreviousDecryptionCertificatesRange)
	for _, ib := range blocks {
		at, _ := d.content(ib, instanceSchema)
		in := &model.Instance{Host: h, DeclRange: blockRange(ib)}
		if a, ok := at.m["server"]; ok {
			in.ServerRef, _ = d.ref(a, blockServer)
		}
		if a, ok := at.m["service_account"]; ok {
			in.AccountRef, _ = d.ref(a, blockAccount)
		}
		h.Instances = append(h.Instances, in)
	}
	d.cfg.Hosts = append(d.cfg.Hosts, h)
}

// blockRange is the whole block, header to closing brace: the range of a
// finding whose fix is inside the block (an instance block is four lines).
func blockRange(b *hcl.Block) hcl.Range {
	if body, ok := b.Body.(*hclsyntax.Body); ok {
		return hcl.RangeBetween(b.DefRange, body.SrcRange)
	}
	return b.DefRange
}
