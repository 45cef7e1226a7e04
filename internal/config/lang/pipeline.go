package lang

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

var pipelineSchema = schemaOf(blockPipeline)

func (d *decoder) decodePipelineBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	_, blocks := d.content(b, pipelineSchema)
	p := &model.Pipeline{Name: b.Labels[0], DeclRange: b.DefRange}
	for _, eb := range blocks {
		if st := d.decodeComponent(b, eb, component.Encoder); st != nil {
			p.Stages = append(p.Stages, st)
		}
	}
	d.cfg.Pipelines = append(d.cfg.Pipelines, p)
}
