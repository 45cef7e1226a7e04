package component

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
)

// Body is a component's block as the language front end decoded it against
// the Spec: every attribute of the schema has a value (absent ones are
// unset, or defaulted when the schema gives a default), already checked
// for type and enum. Spec.Decode reads it.
type Body struct {
	// What describes the block in diagnostics: `transport "file" of
	// send_port "orders"`.
	What string
	// Range is the block's header, for diagnostics about the block as a
	// whole.
	Range hcl.Range

	values map[string]any   // attribute name → value.Value[T] (see Set)
	blocks map[string]*Body // nested block type → its body; absent: nil
	// entries: map attribute name → key → where that entry is written.
	entries map[string]map[string]hcl.Range
	report  func(*hcl.Diagnostic)
}

// NewBody returns an empty body that reports diagnostics to report. The
// front end fills it with Set and SetBlock; tests of components may too.
func NewBody(what string, rng hcl.Range, report func(*hcl.Diagnostic)) *Body {
	return &Body{What: what, Range: rng, values: map[string]any{}, blocks: map[string]*Body{}, report: report}
}

// Set records the value of attribute name. v is a model.Value of the Go
// type the attribute's Type decodes to: string (String, Path, Enum), bool,
// int, time.Duration, int64 (Size), string (PartyRef: the party's name),
// message.Template, map[string]
// message.Template (TemplateMap) or map[string]string (StringMap).
func (b *Body) Set(name string, v any) { b.values[name] = v }

// SetEntryRange records where the entry key of map attribute name
// (TemplateMap, StringMap) is written, for EntryRange.
func (b *Body) SetEntryRange(name, key string, rng hcl.Range) {
	if b.entries == nil {
		b.entries = map[string]map[string]hcl.Range{}
	}
	if b.entries[name] == nil {
		b.entries[name] = map[string]hcl.Range{}
	}
	b.entries[name][key] = rng
}

// EntryRange is where the entry key of map attribute name is written, from
// its key to its value, for a diagnostic about that entry alone; whole,
// the attribute's Range, when the front end did not say.
func (b *Body) EntryRange(name, key string, whole hcl.Range) hcl.Range {
	if rng, ok := b.entries[name][key]; ok {
		return rng
	}
	return whole
}

// SetBlock records a nested block.
func (b *Body) SetBlock(typ string, nested *Body) { b.blocks[typ] = nested }

// Block returns the nested block of that type, or nil when it is absent.
func (b *Body) Block(typ string) *Body { return b.blocks[typ] }

// String reads a String, Path or Enum attribute.
func (b *Body) String(name string) value.Value[string] { return get[string](b, name) }

// Bool reads a Bool attribute.
func (b *Body) Bool(name string) value.Value[bool] { return get[bool](b, name) }

// Int reads an Int attribute.
func (b *Body) Int(name string) value.Value[int] { return get[int](b, name) }

// Duration reads a Duration attribute.
func (b *Body) Duration(name string) value.Value[time.Duration] { return get[time.Duration](b, name) }

// Size reads a Size attribute, in bytes.
func (b *Body) Size(name string) value.Value[int64] { return get[int64](b, name) }

// PartyRef reads a PartyRef attribute: the name of the party referred to.
func (b *Body) PartyRef(name string) value.Value[string] { return get[string](b, name) }

// Template reads a Template attribute.
func (b *Body) Template(name string) value.Value[message.Template] {
	return get[message.Template](b, name)
}

// TemplateMap reads a TemplateMap attribute.
func (b *Body) TemplateMap(name string) value.Value[map[string]message.Template] {
	return get[map[string]message.Template](b, name)
}

// StringMap reads a StringMap attribute.
func (b *Body) StringMap(name string) value.Value[map[string]string] {
	return get[map[string]string](b, name)
}

// get returns attribute name as a value.Value[T]. Asking for an attribute
// the schema does not declare, or with the wrong Go type, is a programming
// error in the component: it panics, and the registry's tests decode every
// spec's example, so that it cannot reach a user.
func get[T any](b *Body, name string) value.Value[T] {
	v, ok := b.values[name]
	if !ok {
		panic(fmt.Sprintf("component: %s has no attribute %q in its schema", b.What, name))
	}
	tv, ok := v.(value.Value[T])
	if !ok {
		var zero T
		panic(fmt.Sprintf("component: attribute %q of %s is %T, read as %T", name, b.What, v, zero))
	}
	return tv
}

// Errorf reports an invalid attribute value (BP1004) at rng: the attribute's
// Range, or b.Range for the block as a whole.
func (b *Body) Errorf(rng hcl.Range, summary, format string, args ...any) {
	b.report(diag.Errorf(diag.CodeInvalidValue, rng, summary, format, args...))
}

// Warnf reports a warning with its code at rng (for example BP5001, a weak
// algorithm chosen in the block).
func (b *Body) Warnf(code diag.Code, rng hcl.Range, summary, format string, args ...any) {
	b.report(diag.Warningf(code, rng, summary, format, args...))
}
