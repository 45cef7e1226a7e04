package lang

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

var pipelineSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "encoder", LabelNames: []string{"type"}}},
}

// encoderDecoder decodes the body of one encoder type into enc.
type encoderDecoder func(d *decoder, b *hcl.Block, enc *model.Encoder)

// encoderTypes is the registry of encoder stage types by block label. New
// stages (AS2, compression) add an entry here and a field in model.Encoder.
func encoderTypes() map[string]encoderDecoder {
	return map[string]encoderDecoder{
		"smime": decodeSMIMEEncoder,
	}
}

func (d *decoder) decodePipelineBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	_, blocks := d.content(b, pipelineSchema)
	p := &model.Pipeline{Name: b.Labels[0], DeclRange: b.DefRange}
	types := encoderTypes()
	for _, eb := range blocks {
		dec, ok := types[eb.Labels[0]]
		if !ok {
			d.add(diag.Errorf(diag.CodeInvalidValue, eb.LabelRanges[0], "Unknown encoder type",
				"Pipeline %q has an encoder of type %q; the known encoder types are %s.", p.Name, eb.Labels[0], quoteList(sortedKeys(types))))
			continue
		}
		enc := &model.Encoder{Type: eb.Labels[0], DeclRange: eb.DefRange}
		dec(d, eb, enc)
		p.Encoders = append(p.Encoders, enc)
	}
	d.cfg.Pipelines = append(d.cfg.Pipelines, p)
}

var smimeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "signature"}, {Name: "digest"}, {Name: "include_certificate"}, {Name: "encrypt"},
		{Name: "encryption_algorithm"}, {Name: "content_transfer_encoding"},
	},
}

func decodeSMIMEEncoder(d *decoder, b *hcl.Block, enc *model.Encoder) {
	at, _ := d.content(b, smimeSchema)
	enc.SMIME = &model.SMIMEEncoder{
		Signature:               d.enum(at, "signature", "none", "none", "clear", "opaque"),
		Digest:                  d.enum(at, "digest", "sha256", "sha256", "sha384", "sha512", "sha1"),
		IncludeCertificate:      d.boolean(at, "include_certificate", true),
		Encrypt:                 d.boolean(at, "encrypt", false),
		EncryptionAlgorithm:     d.enum(at, "encryption_algorithm", "aes256-cbc", "aes128-cbc", "aes256-cbc", "aes128-gcm", "aes256-gcm", "des3"),
		ContentTransferEncoding: d.enum(at, "content_transfer_encoding", "base64", "base64", "quoted-printable", "7bit", "8bit", "binary"),
	}
}
