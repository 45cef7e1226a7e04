package msgbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/bizpipe/bizpipe/internal/redact"
)

// SensitiveValue is what displays show instead of a sensitive property's
// value.
const SensitiveValue = redact.Shown

// EncodeProperties renders context properties, and the names of those whose
// values are sensitive, as the JSON text boxes store. encoding/json sorts
// map keys and escapes NUL as \u0000, so the text is deterministic and
// storable in SQLite and PostgreSQL alike.
//
// Without sensitive properties the text is the JSON object of the
// properties, the only form before sensitive properties were recorded, so
// older rows read back unchanged. With some it is the array [properties,
// sorted names]: a reader that does not know it fails on it rather than
// showing the values.
func EncodeProperties(p map[string]string, sensitive []string) (string, error) {
	if len(p) == 0 {
		return "{}", nil
	}
	var v any = p
	if names := SensitiveNames(p, sensitive); names != nil {
		v = []any{p, names}
	}
	js, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encoding properties: %w", err)
	}
	return string(js), nil
}

// DecodeProperties reads what EncodeProperties wrote: nil maps and slices
// when empty.
func DecodeProperties(s string) (map[string]string, []string, error) {
	var p map[string]string
	var sensitive []string
	var err error
	if t := bytes.TrimLeft([]byte(s), " \t\r\n"); len(t) > 0 && t[0] == '[' {
		var both []json.RawMessage
		if err = json.Unmarshal(t, &both); err == nil && len(both) != 2 {
			err = fmt.Errorf("%d elements, want 2", len(both))
		}
		if err == nil {
			err = json.Unmarshal(both[0], &p)
		}
		if err == nil {
			err = json.Unmarshal(both[1], &sensitive)
		}
	} else {
		err = json.Unmarshal([]byte(s), &p)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("decoding properties: %w", err)
	}
	if len(p) == 0 {
		return nil, nil, nil
	}
	return p, SensitiveNames(p, sensitive), nil
}

// CloneProperties returns p as it reads back from a box: nil when empty,
// and never the caller's map, which the caller may go on changing.
func CloneProperties(p map[string]string) map[string]string {
	if len(p) == 0 {
		return nil
	}
	return maps.Clone(p)
}

// SensitiveNames returns the names of sensitive properties as a box keeps
// them: those p has, sorted, without duplicates; nil when none. It never
// returns the caller's slice.
func SensitiveNames(p map[string]string, names []string) []string {
	var out []string
	for _, n := range names {
		if _, ok := p[n]; ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ShownProperties returns m's properties as displays show them: a
// sensitive property's value is SensitiveValue. The box keeps the value
// itself, which filters and templates need; nil when m has none.
func (m Message) ShownProperties() map[string]string {
	p := CloneProperties(m.Properties)
	for _, n := range m.SensitiveProperties {
		if _, ok := p[n]; ok {
			p[n] = SensitiveValue
		}
	}
	return p
}
