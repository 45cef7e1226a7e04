package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestDecimalExponent: the magnitude a number out of range is reported
// with is its exponent in scientific notation. It was the binary exponent
// times 0.301, which made 1e999999 "about 10^999899" and 1e100000 "about
// 10^99990".
func TestDecimalExponent(t *testing.T) {
	tests := []struct {
		number string
		want   int
	}{
		{"1", 0},
		{"9", 0},
		{"10", 1},
		{"123", 2},
		{"0.5", -1},
		{"0.001", -3},
		{"-250", 2},
		{"1e100000", 100000},
		{"1e999999", 999999},
		{"5e999999", 999999},
		{"9.99e4999", 4999},
		{"-1e5000", 5000},
		{"1e-999999", -999999},
		{"2.5e-5000", -5000},
		{"1e300000000", 300000000},
		{"1e-300000000", -300000000},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			if got := decimalExponent(cty.MustParseNumberVal(tt.number).AsBigFloat()); got != tt.want {
				t.Errorf("decimalExponent(%s) = %d, want %d", tt.number, got, tt.want)
			}
		})
	}
	if maxDecimalExponent != 4932 || maxNumberDigits != 4933 { // 2^16384 is about 1.19e4932
		t.Errorf("bounds 10^%d, %d digits; want 10^4932, 4933 digits", maxDecimalExponent, maxNumberDigits)
	}
}

// TestNumberOutOfRangeMessage: the BP1004 of a number literal out of range
// states its magnitude and the bounds as they are.
func TestNumberOutOfRangeMessage(t *testing.T) {
	tests := []struct{ literal, want string }{
		{"1e999999", "This number is about 10^999999;"},
		{"1e100000", "This number is about 10^100000;"},
		{"-3e5000", "This number is about 10^5000;"},
		{"1e-999999", "This number is about 10^-999999;"},
	}
	for _, tt := range tests {
		t.Run(tt.literal, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "main.hcl")
			src := "group \"g\" {}\nlocals {\n  a = " + tt.literal + "\n}\n"
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, diags := Load([]string{path}, Options{LookupEnv: noEnv})
			if len(diags) != 1 || diag.CodeOf(diags[0]) != diag.CodeInvalidValue {
				t.Fatalf("diagnostics %v, want one BP1004", diags)
			}
			if d := diags[0].Detail; !strings.Contains(d, tt.want) || !strings.Contains(d, "between about 10^-4932 and 10^4932") {
				t.Errorf("detail %q, want %q and the bounds 10^-4932 and 10^4932", d, tt.want)
			}
		})
	}
}
