package lang

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/redact"
)

var receiveLocationSchema = schemaOf(blockReceiveLocation)

const defaultContentType = message.DefaultContentType

// checkContentType reports (BP1004) a known content type attribute that is
// not a valid MIME content type: it labels every message and becomes a
// Content-Type header field, and the encoder refuses it at run time, so
// every message would be suspended. The value is quoted unless sensitive.
func (d *decoder) checkContentType(v model.Value[string], what string) {
	if !v.Known || v.Default {
		return
	}
	_, _, err := message.NormaliseContentType(v.V)
	if err == nil {
		return
	}
	shown := fmt.Sprintf("%q", v.V)
	if v.Sensitive {
		shown = redact.Shown
	}
	d.add(diag.Errorf(diag.CodeInvalidValue, v.Range, "Invalid value for content_type",
		"The content_type of %s is %s, which is not a valid MIME content type (%s): the messages it labels would be suspended at run time. Write type/subtype with optional ; name=value parameters, such as \"application/xml\" or \"text/plain; charset=utf-8\".",
		what, shown, err))
}

func (d *decoder) decodeReceiveLocationBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	at, blocks := d.content(b, receiveLocationSchema)
	r := &model.ReceiveLocation{
		Name:        b.Labels[0],
		ContentType: d.str(at, "content_type"),
		DeclRange:   b.DefRange,
	}
	r.Properties, r.SensitiveProperties, r.UnknownProperties = d.stringMap(at, "properties")
	if !r.ContentType.Set {
		r.ContentType = model.Defaulted(defaultContentType, at.rng)
	}
	d.checkContentType(r.ContentType, at.what)
	if a, ok := at.m["host"]; ok {
		r.HostRef, _ = d.ref(a, blockHost)
	}
	if a, ok := at.m["pipeline"]; ok {
		// Set even when broken: the location does name a pipeline, just
		// not one that can be found.
		ref, _ := d.ref(a, blockPipeline)
		r.PipelineRef = &ref
	}
	if tb := d.transportBlock(b, blocks, component.ReceiveTransport); tb != nil {
		r.Transport = d.decodeComponent(b, tb, component.ReceiveTransport)
	}
	d.cfg.ReceiveLocations = append(d.cfg.ReceiveLocations, r)
}

// stringMap reads a map(string) attribute, and the sorted keys whose values
// derive from a sensitive value. Keys are names, shown where the values
// are hidden (bizpipe messages show): a map that is sensitive as a whole,
// whose keys may derive from the secret (var.map, { (var.k) = "v" }), is
// refused, as Terraform refuses it in for_each. When the map is unknown
// (during validate: a variable without a value), unknown says what is
// known of it, for the rules to judge what they can and say what they
// cannot.
func (d *decoder) stringMap(at attrs, name string) (v model.Value[map[string]string], sensitive []string, unknown *model.UnknownProperties) {
	ev, ok := d.eval(at.m[name], cty.Map(cty.String), at.what)
	if !ok {
		if a := at.m[name]; a != nil && !ev.null {
			// Present but in error (reported): unknown, so that no rule
			// judges the messages as if the location set no properties.
			return model.Value[map[string]string]{V: map[string]string{}, Set: true, Range: a.Expr.Range()}, nil, nil
		}
		return model.Value[map[string]string]{V: map[string]string{}, Range: at.rng}, nil, nil
	}
	if ev.sensitive {
		d.add(diag.Errorf(diag.CodeInvalidValue, ev.rng, "Sensitive value as "+name,
			"The %s attribute of %s is a sensitive value as a whole, so its names would derive from it, and names are shown. "+
				"Write the names and make only values sensitive, such as { token = var.token }.", name, at.what))
		return model.Value[map[string]string]{V: map[string]string{}, Set: true, Range: ev.rng}, nil, nil
	}
	v = model.Value[map[string]string]{V: map[string]string{}, Set: true, Known: ev.known, Range: ev.rng}
	if !ev.known {
		unknown = &model.UnknownProperties{}
		if !ev.val.IsKnown() {
			return v, nil, unknown // not even the names
		}
		unknown.NamesKnown, unknown.Values = true, map[string]string{}
	}
	// eval unmarks the map, not its elements: { a = var.secret }.
	for k, e := range ev.val.AsValueMap() {
		e, marks := e.UnmarkDeep()
		if _, ok := marks[markSensitive]; ok {
			v.Sensitive = true
			sensitive = append(sensitive, k)
		}
		switch {
		case !e.IsKnown():
			unknown.Unknown = append(unknown.Unknown, k)
		case e.IsNull():
			d.add(diag.Errorf(diag.CodeInvalidValue, ev.rng, "Invalid value for "+name,
				"The %s attribute of %s must be a map of strings; the value of %q is null.", name, at.what, k))
			// In error, as above: it does set k.
			return model.Value[map[string]string]{V: map[string]string{}, Set: true, Range: ev.rng}, nil, nil
		case unknown != nil:
			unknown.Values[k] = e.AsString()
		default:
			v.V[k] = e.AsString()
		}
	}
	if unknown != nil {
		sort.Strings(unknown.Unknown)
	}
	sort.Strings(sensitive)
	return v, sensitive, unknown
}
