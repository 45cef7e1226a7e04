package lang

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

var (
	groupSchema    = schemaOf(blockGroup)
	rolloverSchema = schemaOf(blockGroup, blockSigningRollover)
)

// defaultExpiryWarning is 30 days, BizTalk administrators' usual renewal lead.
const defaultExpiryWarning = 720 * time.Hour

// DefaultMaxMessageSize is the largest message body processed by default.
const DefaultMaxMessageSize = component.DefaultMaxMessageSize

func (d *decoder) decodeGroupBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, blocks := d.content(b, groupSchema)
	g := &model.Group{
		Name:                     b.Labels[0],
		SigningCertificate:       d.str(at, "signing_certificate"),
		CertificateExpiryWarning: d.duration(at, "certificate_expiry_warning", defaultExpiryWarning),
		MaxMessageSize:           d.size(at, "max_message_size", DefaultMaxMessageSize),
		AS2ID:                    d.as2ID(at),
		DeclRange:                b.DefRange,
	}
	g.SigningRollover = d.decodeRollover(b, blocks)
	d.cfg.Groups = append(d.cfg.Groups, g)
}

// decodeRollover decodes the group's signing_rollover block (language §12);
// nil when there is none. A second one is BP1004: which of two planned
// switches is meant cannot be guessed.
func (d *decoder) decodeRollover(group *hcl.Block, blocks hcl.Blocks) *model.SigningRollover {
	var r *model.SigningRollover
	for _, rb := range blocks {
		if rb.Type != blockSigningRollover {
			continue
		}
		if r != nil {
			d.add(diag.Errorf(diag.CodeInvalidValue, rb.DefRange, "More than one signing_rollover block",
				"%s has more than one signing_rollover block; a group rolls over to one certificate at a time. Remove all but one (after a rollover, make its certificate signing_certificate and remove its block).",
				describe(group)))
			continue
		}
		at, _ := d.contentOf(group, rb, rolloverSchema)
		r = &model.SigningRollover{
			Thumbprint: d.str(at, "certificate"),
			At:         d.timestamp(at, "at"),
			Range:      rb.DefRange,
		}
	}
	return r
}

// timestamp reads an RFC 3339 timestamp with a time zone, such as
// "2027-01-15T00:00:00Z" or "2027-01-15T01:00:00+01:00".
func (d *decoder) timestamp(at attrs, name string) model.Value[time.Time] {
	s := d.str(at, name)
	v := model.Value[time.Time]{Set: s.Set, Known: s.Known, Sensitive: s.Sensitive, Range: s.Range}
	if !s.Usable() {
		return v
	}
	// RFC 3339 (5.6) allows "t" and "z" in lower case, which time.RFC3339
	// does not; the other characters of a timestamp have no case.
	t, err := time.Parse(time.RFC3339, strings.ToUpper(s.V))
	if err != nil {
		d.add(diag.Errorf(diag.CodeInvalidValue, s.Range, "Invalid timestamp for "+name,
			"The %s attribute of %s must be an RFC 3339 timestamp with a time zone, such as \"2027-01-15T00:00:00Z\"; got %s.", name, at.what, shown(s)))
		return model.Value[time.Time]{Range: s.Range}
	}
	v.V = t
	return v
}

// content decodes a block body against schema, reporting unknown and missing
// arguments as BP1004.
func (d *decoder) content(b *hcl.Block, schema *hcl.BodySchema) (attrs, hcl.Blocks) {
	content, ds := b.Body.Content(schema)
	d.add(diag.Tag(ds, diag.CodeInvalidValue)...)
	return attrs{m: content.Attributes, rng: b.DefRange, what: describe(b)}, withUnlabeled(b.Body, schema, content.Blocks)
}

// withUnlabeled is blocks, the content of body under schema, with the
// blocks of body that schema declares without labels but that have some,
// in source order. HCL reports those ("Extraneous label for instance") and
// leaves them out; decoded as if their labels were not there, they do not
// also make their owner lack them (a host's instance, and then BP3006 for
// a host that has one, BP5002 for its server and service account).
func withUnlabeled(body hcl.Body, schema *hcl.BodySchema, blocks hcl.Blocks) hcl.Blocks {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return blocks
	}
	var out hcl.Blocks
	for _, b := range sb.Blocks {
		for _, bs := range schema.Blocks {
			if b.Type == bs.Type && len(bs.LabelNames) == 0 && len(b.Labels) > 0 {
				hb := b.AsHCLBlock()
				hb.Labels, hb.LabelRanges = nil, nil
				out = append(out, hb)
			}
		}
	}
	if len(out) == 0 {
		return blocks
	}
	out = append(out, blocks...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].DefRange.Start.Byte < out[j].DefRange.Start.Byte })
	return out
}

// describe names a block for messages: `send_port "fabrikam"`.
func describe(b *hcl.Block) string {
	if len(b.Labels) == 0 {
		return b.Type
	}
	return fmt.Sprintf("%s %q", b.Type, b.Labels[0])
}
