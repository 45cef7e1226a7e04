package lang

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/config/suggest"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
)

// decodeComponent decodes a transport or encoder block with the spec that
// its label names in the registry: the schema's attributes are checked and
// decoded generically (types, enums, defaults, templates), then the spec's
// Decode makes the typed configuration. nil when the label names no
// component of that kind (reported).
func (d *decoder) decodeComponent(owner, b *hcl.Block, kind component.Kind) *model.Component {
	name := b.Labels[0]
	spec, ok := d.registry.Lookup(kind, name)
	if !ok {
		known := d.registry.Names(kind)
		d.add(diag.Errorf(diag.CodeInvalidValue, b.LabelRanges[0], "Unknown "+kind.String(),
			"The %s has %s %q; the known %ss are %s.%s", describe(owner), kind.Block(), name, kind, quoteList(known), suggest.Hint(name, known, "%q")))
		return nil
	}
	c := &model.Component{Spec: spec, DeclRange: b.DefRange}
	before := d.errorCount()
	body := d.componentBody(owner, b, spec.Attributes, spec.Blocks, &c.Sensitive)
	c.Config = spec.Decode(body)
	if d.errorCount() > before {
		// The block has errors: a configuration built from it would hold
		// defaults where the user wrote something else.
		c.Config = nil
	}
	return c
}

// errorCount counts the errors reported so far.
func (d *decoder) errorCount() int {
	n := 0
	for _, x := range d.diags {
		if x.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

// componentBody decodes the attributes and nested blocks of b against a
// schema, adding the values that derive from sensitive ones to sensitive.
func (d *decoder) componentBody(owner, b *hcl.Block, attrSpecs []component.Attribute, blockSpecs []component.BlockSpec, sensitive *[]string) *component.Body {
	schema := &hcl.BodySchema{}
	for _, a := range attrSpecs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a.Name, Required: a.Required})
	}
	for _, bs := range blockSpecs {
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: bs.Type})
	}
	at, blocks := d.contentOf(owner, b, schema)
	body := component.NewBody(at.what, b.DefRange, func(x *hcl.Diagnostic) { d.add(x) })
	for _, a := range attrSpecs {
		body.Set(a.Name, d.componentAttr(at, a, body, sensitive))
	}
	for _, bs := range blockSpecs {
		var found *hcl.Block
		for _, nb := range blocks {
			if nb.Type != bs.Type {
				continue
			}
			if found != nil {
				d.add(diag.Errorf(diag.CodeInvalidValue, nb.DefRange, "More than one "+bs.Type+" block",
					"%s has more than one %s block; it takes at most one.", at.what, bs.Type))
				continue
			}
			found = nb
		}
		if found != nil {
			body.SetBlock(bs.Type, d.componentBody(owner, found, bs.Attributes, nil, sensitive))
		}
	}
	return body
}

// componentAttr decodes one attribute of body as its type says; the
// result is the model.Value that component.Body documents for that type.
func (d *decoder) componentAttr(at attrs, a component.Attribute, body *component.Body, sensitive *[]string) any {
	note := func(v value.Value[string]) value.Value[string] {
		if v.Sensitive && v.Known && v.V != "" {
			*sensitive = append(*sensitive, v.V)
		}
		return v
	}
	switch a.Type {
	case component.String, component.Path:
		var v value.Value[string]
		if a.Type == component.Path {
			v = d.path(at, a.Name)
		} else {
			v = d.str(at, a.Name)
		}
		if def, ok := a.Default.(string); ok && !v.Set {
			v = model.Defaulted(def, at.rng)
			if a.Type == component.Path {
				v = d.resolvePath(v)
			}
		}
		return note(v)
	case component.Enum:
		def, _ := a.Default.(string)
		v := d.enum(at, a.Name, def, a.Values...)
		if v.Default && a.Default == nil {
			v = value.Value[string]{Range: at.rng}
		}
		return note(v)
	case component.Bool:
		def, ok := a.Default.(bool)
		v := d.boolean(at, a.Name, def)
		if !ok && v.Default {
			v = value.Value[bool]{Range: at.rng}
		}
		return v
	case component.Int:
		def, ok := a.Default.(int)
		v := d.integer(at, a.Name, def)
		if !ok && v.Default {
			v = value.Value[int]{Range: at.rng}
		}
		return v
	case component.Duration:
		def, ok := a.Default.(time.Duration)
		v := d.duration(at, a.Name, def)
		if !ok && v.Default {
			v = value.Value[time.Duration]{Range: at.rng}
		}
		return v
	case component.Size:
		def, ok := a.Default.(int64)
		v := d.size(at, a.Name, def)
		if !ok && v.Default {
			v = value.Value[int64]{Range: at.rng}
		}
		return v
	case component.StringMap:
		v, _, _ := d.stringMap(at, a.Name)
		if v.Sensitive {
			for _, x := range v.V {
				*sensitive = append(*sensitive, x)
			}
		}
		return v
	case component.PartyRef:
		v := value.Value[string]{Range: at.rng}
		if attr, ok := at.m[a.Name]; ok {
			if r, ok := d.ref(attr, blockParty); ok {
				v = value.Known(r.Name, r.Range)
				d.partyRefs = append(d.partyRefs, r)
			} else {
				// Present but broken (reported): unknown, like a value
				// validate cannot know, so that no rule reports it absent.
				v = value.Value[string]{Set: true, Range: attr.Expr.Range()}
			}
		}
		return v
	case component.Template:
		return d.template(at, a)
	case component.TemplateMap:
		v := value.Value[map[string]message.Template]{Range: at.rng}
		if attr, ok := at.m[a.Name]; ok {
			v = value.Known(map[string]message.Template{}, attr.Expr.Range())
			for k, e := range d.headers(attr, at.what) {
				v.V[k] = d.newTemplate(e.value, d.ctxFor(e.value.Range()))
				body.SetEntryRange(a.Name, k, hcl.RangeBetween(e.key, e.value.Range()))
			}
		}
		return v
	}
	panic(fmt.Sprintf("lang: attribute %q of %s has unknown type %v", a.Name, at.what, a.Type))
}

// template compiles a Template attribute, or its default.
func (d *decoder) template(at attrs, a component.Attribute) value.Value[message.Template] {
	if attr, ok := at.m[a.Name]; ok {
		if !d.checkTemplate(attr.Expr, a.Name, at.what) {
			return value.Value[message.Template]{Range: attr.Expr.Range()}
		}
		return value.Known[message.Template](d.newTemplate(attr.Expr, d.ctxFor(attr.Range)), attr.Expr.Range())
	}
	def, ok := a.Default.(string)
	if !ok {
		return value.Value[message.Template]{Range: at.rng}
	}
	expr, ds := hclsyntax.ParseTemplate([]byte(def), at.rng.Filename, at.rng.Start)
	if ds.HasErrors() {
		// The spec's own default: a programming error the registry's
		// tests catch.
		panic(fmt.Sprintf("lang: default %q of %s: %s", def, at.what, ds.Error()))
	}
	return value.Defaulted[message.Template](d.newTemplate(expr, d.ctxFor(at.rng)), at.rng)
}

// resolvePath resolves a relative default path against the declaring file's
// directory, as path does for written ones.
func (d *decoder) resolvePath(v value.Value[string]) value.Value[string] {
	if v.Known && !filepath.IsAbs(v.V) {
		v.V = filepath.Join(filepath.Dir(v.Range.Filename), v.V)
	}
	return v
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
