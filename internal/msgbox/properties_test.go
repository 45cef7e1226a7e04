package msgbox

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestPropertiesRoundTrip: what a box stores reads back equal, NUL and
// non-ASCII included, empty as nil, and the stored text does not depend on
// map order; the names of sensitive properties read back sorted, once, and
// only for properties that exist.
func TestPropertiesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		p         map[string]string
		sensitive []string
		want      []string
	}{
		{nil, nil, nil},
		{map[string]string{}, []string{"token"}, nil},
		{map[string]string{"partner": "fabrikam"}, nil, nil},
		{map[string]string{"b": "2", "a": "1", "nul": "x\x00y", "é": "ü"}, nil, nil},
		{map[string]string{"partner": "fabrikam", "token": "s3cr3t"}, []string{"token"}, []string{"token"}},
		{map[string]string{"z": "1", "a": "2", "": "3"}, []string{"z", "", "absent", "z"}, []string{"", "z"}},
		{map[string]string{"partner": "fabrikam"}, []string{"absent"}, nil},
	} {
		s, err := EncodeProperties(tc.p, tc.sensitive)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := EncodeProperties(maps.Clone(tc.p), slices.Clone(tc.sensitive))
		if s != again {
			t.Errorf("encoding is not deterministic: %q vs %q", s, again)
		}
		if len(tc.want) == 0 && !strings.HasPrefix(s, "{") {
			t.Errorf("%v without sensitive properties encodes as %q, want the plain object older boxes hold", tc.p, s)
		}
		got, sensitive, err := DecodeProperties(s)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sensitive, tc.want) || (sensitive == nil) != (tc.want == nil) {
			t.Errorf("sensitive names of %v, %q read back as %q, want %q", tc.p, tc.sensitive, sensitive, tc.want)
		}
		if len(tc.p) == 0 {
			if got != nil {
				t.Errorf("empty properties read back as %v, want nil", got)
			}
			continue
		}
		if !maps.Equal(got, tc.p) {
			t.Errorf("round trip of %v gave %v", tc.p, got)
		}
	}
	orig := map[string]string{"a": "1"}
	c := CloneProperties(orig)
	orig["a"] = "changed"
	if c["a"] != "1" || CloneProperties(map[string]string{}) != nil {
		t.Errorf("CloneProperties shares the caller's map or keeps an empty one: %v", c)
	}
}

// TestDecodePropertiesOldAndDamaged: a row written before sensitive
// properties were stored (a plain JSON object) reads back with none, and a
// damaged value is an error, never a guess.
func TestDecodePropertiesOldAndDamaged(t *testing.T) {
	p, sensitive, err := DecodeProperties(`{"partner":"fabrikam","token":"x"}`)
	if err != nil || p["token"] != "x" || sensitive != nil {
		t.Errorf("old row: %v, %q, %v", p, sensitive, err)
	}
	for _, s := range []string{``, `[`, `[]`, `[{"a":"1"}]`, `[{"a":"1"},["a"],3]`, `[{"a":1},["a"]]`, `[{"a":"1"},"a"]`, `7`} {
		if _, _, err := DecodeProperties(s); err == nil {
			t.Errorf("DecodeProperties(%q): no error", s)
		}
	}
}

// TestShownProperties: displays show a sensitive property's value as
// SensitiveValue, and the message keeps the value.
func TestShownProperties(t *testing.T) {
	m := Message{Properties: map[string]string{"partner": "fabrikam", "token": "s3cr3t"}, SensitiveProperties: []string{"token"}}
	shown := m.ShownProperties()
	if shown["partner"] != "fabrikam" || shown["token"] != SensitiveValue || len(shown) != 2 {
		t.Errorf("ShownProperties = %q", shown)
	}
	if m.Properties["token"] != "s3cr3t" {
		t.Errorf("ShownProperties changed the message's own map: %q", m.Properties)
	}
	if (Message{}).ShownProperties() != nil {
		t.Error("ShownProperties of a message without properties is not nil")
	}
}
