package lang

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

var pipelineSchema = schemaOf(blockPipeline)

func (d *decoder) decodePipelineBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	_, blocks := d.content(b, pipelineSchema)
	p := &model.Pipeline{Name: b.Labels[0], DeclRange: b.DefRange}
	// The first stage decides what the pipeline is: a send pipeline
	// (encoders) or a receive pipeline (decoders). A stage of the other
	// kind is reported where it is written, the one block to move or
	// remove, and left out so that the pipeline stays one kind.
	var first *hcl.Block
	for _, sb := range blocks {
		kind := component.Encoder
		if sb.Type == component.Decoder.Block() {
			kind = component.Decoder
		}
		if first == nil {
			first = sb
		} else if sb.Type != first.Type {
			d.add(diag.Errorf(diag.CodeInvalidValue, sb.DefRange, "Encoder and decoder stages in one pipeline",
				"Pipeline %q starts with %s stages (%s at %s) and also has this %s stage. A pipeline is a send pipeline (encoder stages, used by send ports) or a receive pipeline (decoder stages, used by receive locations), never both: declare two pipelines.",
				p.Name, first.Type, describe(first), first.DefRange, sb.Type))
			p.Incomplete = true
			continue
		}
		if st := d.decodeComponent(b, sb, kind); st != nil {
			p.Stages = append(p.Stages, st)
		} else {
			p.Incomplete = true // an unknown component, reported
		}
	}
	d.cfg.Pipelines = append(d.cfg.Pipelines, p)
}

// checkPipelineUse reports a receive pipeline used by a send port, or a send
// pipeline used by a receive location (BP1004), at the reference.
func (d *decoder) checkPipelineUse(pl *model.Pipeline, ref *model.Ref, user string, receive bool) {
	if pl == nil || ref == nil {
		return
	}
	switch {
	case receive && pl.Encodes():
		d.add(diag.Errorf(diag.CodeInvalidValue, ref.Range, "Send pipeline used by a receive location",
			"%s uses pipeline %q, which has encoder stages: a send pipeline, for send ports. A receive location takes a receive pipeline, whose stages are decoder blocks such as decoder \"smime\" { decrypt = true }.",
			capitalize(user), pl.Name))
	case !receive && pl.Decodes():
		d.add(diag.Errorf(diag.CodeInvalidValue, ref.Range, "Receive pipeline used by a send port",
			"%s uses pipeline %q, which has decoder stages: a receive pipeline, for receive locations. A send port takes a send pipeline, whose stages are encoder blocks such as encoder \"smime\" { signature = \"clear\" }.",
			capitalize(user), pl.Name))
	}
}
