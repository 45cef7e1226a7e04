package msgbox

import (
	"encoding/json"
	"fmt"
	"maps"
)

// EncodeProperties renders context properties as the JSON text boxes store.
// encoding/json sorts map keys and escapes NUL as \u0000, so the text is
// deterministic and storable in SQLite and PostgreSQL alike.
func EncodeProperties(p map[string]string) (string, error) {
	if len(p) == 0 {
		return "{}", nil
	}
	js, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encoding properties: %w", err)
	}
	return string(js), nil
}

// DecodeProperties reads what EncodeProperties wrote: nil when empty.
func DecodeProperties(s string) (map[string]string, error) {
	var p map[string]string
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("decoding properties: %w", err)
	}
	if len(p) == 0 {
		return nil, nil
	}
	return p, nil
}

// CloneProperties returns p as it reads back from a box: nil when empty,
// and never the caller's map, which the caller may go on changing.
func CloneProperties(p map[string]string) map[string]string {
	if len(p) == 0 {
		return nil
	}
	return maps.Clone(p)
}
