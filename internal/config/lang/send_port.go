package lang

import (
	"math"
	"math/big"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

var (
	sendPortSchema = schemaOf(blockSendPort)
	retrySchema    = schemaOf(blockSendPort, "retry")
)

// BizTalk's defaults: 3 retries, 5 minutes apart.
const (
	defaultRetryAttempts = 3
	defaultRetryInterval = 5 * time.Minute
)

func (d *decoder) decodeSendPortBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, blocks := d.content(b, sendPortSchema)
	p := &model.SendPort{
		Name:                  b.Labels[0],
		EncryptionCertificate: d.str(at, "encryption_certificate"),
		DeclRange:             b.DefRange,
	}
	if a, ok := at.m["host"]; ok {
		p.HostRef, _ = d.ref(a, blockHost)
	}
	if a, ok := at.m["pipeline"]; ok {
		// Set even when broken: the port does name a pipeline (the rules
		// then cannot tell whether it signs or encrypts).
		r, _ := d.ref(a, blockPipeline)
		p.PipelineRef = &r
	}
	if a, ok := at.m["filter"]; ok {
		p.FilterRange = a.Expr.Range()
		if d.checkFilter(a, describe(b)) {
			p.FilterExpr = a.Expr
			p.FilterSyntax = templateSyntax(a.Expr, d.ctxFor(a.Range))
			if w, ok := p.FilterSyntax.(*hclsyntax.TemplateWrapExpr); ok {
				p.FilterSyntax = w.Wrapped // "${...}": the expression
			}
			p.Filter = d.newFilter(a.Expr, d.ctxFor(a.Range), p.Name)
		}
	}
	if tb := d.transportBlock(b, blocks, component.SendTransport); tb != nil {
		p.Transport = d.decodeComponent(b, tb, component.SendTransport)
	}
	p.Retry = model.Retry{
		Attempts: model.Defaulted(defaultRetryAttempts, b.DefRange),
		Interval: model.Defaulted(defaultRetryInterval, b.DefRange),
	}
	var seenRetry bool
	for _, rb := range blocks {
		if rb.Type != "retry" {
			continue
		}
		if seenRetry {
			d.add(diag.Errorf(diag.CodeInvalidValue, rb.DefRange, "More than one retry block",
				"%s has more than one retry block.", describe(b)))
			continue
		}
		seenRetry = true
		rat, _ := d.contentOf(b, rb, retrySchema)
		p.Retry.Interval = d.duration(rat, "interval", defaultRetryInterval)
		p.Retry.Attempts = d.count(rat, "attempts", defaultRetryAttempts)
	}
	d.cfg.SendPorts = append(d.cfg.SendPorts, p)
}

// count reads a whole number from 0 to 1000; def applies when absent.
func (d *decoder) count(at attrs, name string, def int) model.Value[int] {
	return d.wholeNumber(at, name, def, 1000)
}

// integer reads a whole number >= 0 (a component's Int attribute).
func (d *decoder) integer(at attrs, name string, def int) model.Value[int] {
	return d.wholeNumber(at, name, def, math.MaxInt32)
}

// wholeNumber reads a whole number from 0 to max; def applies when absent.
func (d *decoder) wholeNumber(at attrs, name string, def, max int) model.Value[int] {
	ev, ok := d.eval(at.m[name], cty.Number, at.what)
	if !ok {
		return model.Defaulted(def, at.rng)
	}
	v := model.Value[int]{Set: true, Known: ev.known, Sensitive: ev.sensitive, Range: ev.rng}
	if !ev.known {
		return v
	}
	bf := ev.val.AsBigFloat()
	n, acc := bf.Int64()
	if acc != big.Exact || n < 0 || n > int64(max) {
		d.add(diag.Errorf(diag.CodeInvalidValue, ev.rng, "Invalid value for "+name,
			"The %s attribute of %s must be a whole number from 0 to %d.", name, at.what, max))
		return model.Value[int]{Range: ev.rng}
	}
	v.V = int(n)
	return v
}
