package lang

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// TestBoundedFunctions: distinct and setproduct, whose cost grows faster
// than their input, refuse inputs beyond what any configuration holds, and
// work as before below that.
func TestBoundedFunctions(t *testing.T) {
	nums := func(n int) cty.Value {
		vs := make([]cty.Value, n)
		for i := range vs {
			vs[i] = cty.NumberIntVal(int64(i))
		}
		return cty.ListVal(vs)
	}
	fns := stdFunctions(ModeValidate, func(string) (string, bool) { return "", false })
	tests := []struct {
		name    string
		fn      string
		args    []cty.Value
		wantLen int    // of the result, when no error
		wantErr string // in the error
	}{
		{"distinct within", "distinct", []cty.Value{nums(maxDistinct)}, maxDistinct, ""},
		{"distinct beyond", "distinct", []cty.Value{nums(maxDistinct + 1)}, 0, "too many elements"},
		{"setproduct within", "setproduct", []cty.Value{nums(100), nums(100)}, 10000, ""},
		{"setproduct beyond", "setproduct", []cty.Value{nums(300), nums(300), nums(30)}, 0, "too many elements in its result"},
		{"setproduct marked", "setproduct", []cty.Value{nums(101).Mark(markSensitive), nums(100)}, 0, "too many elements in its result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fns[tt.fn].Call(tt.args)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("%s: %v, want an error with %q", tt.fn, err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("%s: %v", tt.fn, err)
			default:
				got, _ = got.Unmark()
				if got.LengthInt() != tt.wantLen {
					t.Fatalf("%s: %d elements, want %d", tt.fn, got.LengthInt(), tt.wantLen)
				}
			}
		})
	}
}
