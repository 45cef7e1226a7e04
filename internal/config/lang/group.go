package lang

import (
	"fmt"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

var groupSchema = schemaOf(blockGroup)

// defaultExpiryWarning is 30 days, BizTalk administrators' usual renewal lead.
const defaultExpiryWarning = 720 * time.Hour

// DefaultMaxMessageSize is the largest message body processed by default.
const DefaultMaxMessageSize = component.DefaultMaxMessageSize

func (d *decoder) decodeGroupBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, _ := d.content(b, groupSchema)
	g := &model.Group{
		Name:                     b.Labels[0],
		SigningCertificate:       d.str(at, "signing_certificate"),
		CertificateExpiryWarning: d.duration(at, "certificate_expiry_warning", defaultExpiryWarning),
		MaxMessageSize:           d.size(at, "max_message_size", DefaultMaxMessageSize),
		AS2ID:                    d.as2ID(at),
		DeclRange:                b.DefRange,
	}
	d.cfg.Groups = append(d.cfg.Groups, g)
}

// content decodes a block body against schema, reporting unknown and missing
// arguments as BP1004.
func (d *decoder) content(b *hcl.Block, schema *hcl.BodySchema) (attrs, hcl.Blocks) {
	content, ds := b.Body.Content(schema)
	d.add(diag.Tag(ds, diag.CodeInvalidValue)...)
	return attrs{m: content.Attributes, rng: b.DefRange, what: describe(b)}, content.Blocks
}

// describe names a block for messages: `send_port "fabrikam"`.
func describe(b *hcl.Block) string {
	if len(b.Labels) == 0 {
		return b.Type
	}
	return fmt.Sprintf("%s %q", b.Type, b.Labels[0])
}
