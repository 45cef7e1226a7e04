package msgbox

import (
	"maps"
	"testing"
)

// TestPropertiesRoundTrip: what a box stores reads back equal, NUL and
// non-ASCII included, empty as nil, and the stored text does not depend on
// map order.
func TestPropertiesRoundTrip(t *testing.T) {
	for _, p := range []map[string]string{
		nil,
		{},
		{"partner": "fabrikam"},
		{"b": "2", "a": "1", "nul": "x\x00y", "é": "ü"},
	} {
		s, err := EncodeProperties(p)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := EncodeProperties(maps.Clone(p))
		if s != again {
			t.Errorf("encoding is not deterministic: %q vs %q", s, again)
		}
		got, err := DecodeProperties(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 {
			if got != nil {
				t.Errorf("empty properties read back as %v, want nil", got)
			}
			continue
		}
		if !maps.Equal(got, p) {
			t.Errorf("round trip of %v gave %v", p, got)
		}
	}
	orig := map[string]string{"a": "1"}
	c := CloneProperties(orig)
	orig["a"] = "changed"
	if c["a"] != "1" || CloneProperties(map[string]string{}) != nil {
		t.Errorf("CloneProperties shares the caller's map or keeps an empty one: %v", c)
	}
}
