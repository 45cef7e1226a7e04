package lang

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
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
		// Refused all the same, but the reason is not shown of a sensitive
		// argument (hidingSensitiveErrors).
		{"setproduct marked", "setproduct", []cty.Value{nums(101).Mark(markSensitive), nums(100)}, 0, "setproduct: an argument is sensitive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := callBounded(t, fns, tt.fn, tt.args, tt.wantErr); ok {
				if got.LengthInt() != tt.wantLen {
					t.Fatalf("%s: %d elements, want %d", tt.fn, got.LengthInt(), tt.wantLen)
				}
			}
		})
	}
}

// TestPaddingBounds: format and formatlist refuse a width or precision above
// maxPadding, and indent spaces outside 0..maxPadding, before padding
// anything (format("%1500000000s", "x") took 4.4 GB); within the bound they
// work as before, argument indexes are not widths, and "%%" is no verb.
func TestPaddingBounds(t *testing.T) {
	fns := stdFunctions(ModeValidate, func(string) (string, bool) { return "", false })
	str := cty.StringVal
	list := cty.ListVal([]cty.Value{str("a"), str("b")})
	tests := []struct {
		name, fn string
		args     []cty.Value
		want     string // the result (formatlist: joined by ","), when no error
		wantErr  string
	}{
		{"width within", "format", []cty.Value{str("%4096s|"), str("x")}, strings.Repeat(" ", 4095) + "x|", ""},
		{"width beyond", "format", []cty.Value{str("%1500000000s"), str("x")}, "", "the format's width 1500000000 (at offset 1) is larger than the limit of 4096"},
		{"width after flags", "format", []cty.Value{str("ab %-04097d"), cty.NumberIntVal(1)}, "", "width 4097 (at offset 6)"},
		{"precision beyond", "format", []cty.Value{str("%.999999999f"), cty.NumberIntVal(1)}, "", "precision 999999999"},
		{"precision with zero", "format", []cty.Value{str("%.05000f"), cty.NumberIntVal(1)}, "", "precision 5000"},
		{"overflowing digits", "format", []cty.Value{str("%" + strings.Repeat("9", 40) + "s"), str("x")}, "", "width 99999999999999999999... (40 digits)"},
		{"argument index", "format", []cty.Value{str("%3[1]s%[1]s"), str("x")}, "  xx", ""},
		{"percent", "format", []cty.Value{str("%%9999999999s %s"), str("x")}, "%9999999999s x", ""},
		// Refused, without the width, which is part of the secret.
		{"marked format", "format", []cty.Value{str("%9999s").Mark(markSensitive), str("x")}, "", "format: the argument is sensitive"},
		{"formatlist within", "formatlist", []cty.Value{str("%2s"), list}, " a, b", ""},
		{"formatlist beyond", "formatlist", []cty.Value{str("%5000s"), list}, "", "width 5000"},
		{"huge number", "format", []cty.Value{str("%d"), cty.MustParseNumberVal("1e300000000")}, "", "cannot be printed"},
		{"tiny number", "format", []cty.Value{str("%s"), cty.MustParseNumberVal("1e-300000000")}, "", "cannot be printed"},
		{"huge number in a list", "formatlist", []cty.Value{str("%d"), cty.ListVal([]cty.Value{cty.NumberIntVal(1), cty.MustParseNumberVal("1e300000000")})}, "", "cannot be printed"},
		{"large number within", "format", []cty.Value{str("%d"), cty.MustParseNumberVal("1e300")}, "301 digits", ""},
		{"huge number jsonencode", "jsonencode", []cty.Value{cty.ObjectVal(map[string]cty.Value{"n": cty.MustParseNumberVal("1e300000000")})}, "", "cannot be printed"},
		{"indent within", "indent", []cty.Value{cty.NumberIntVal(2), str("a\nb")}, "a\n  b", ""},
		{"indent beyond", "indent", []cty.Value{cty.NumberIntVal(1 << 31), str("a\nb")}, "", "between 0 and 4096"},
		{"indent negative", "indent", []cty.Value{cty.NumberIntVal(-1), str("a\nb")}, "", "between 0 and 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := callBounded(t, fns, tt.fn, tt.args, tt.wantErr); ok {
				s := ""
				if got.Type() == cty.String {
					s = got.AsString()
				} else {
					var parts []string
					for _, v := range got.AsValueSlice() {
						parts = append(parts, v.AsString())
					}
					s = strings.Join(parts, ",")
				}
				if tt.want == "301 digits" && len(s) == 301 && s[0] == '1' {
					return // 1e300 in go-cty's 512-bit precision
				}
				if s != tt.want {
					t.Fatalf("%s = %q, want %q", tt.fn, s, tt.want)
				}
			}
		})
	}
	// Checked while the other arguments are unknown too (validate, env()).
	if _, err := fns["format"].ReturnTypeForValues([]cty.Value{str("%99999s"), cty.UnknownVal(cty.String)}); err == nil {
		t.Error("format's type check accepts a width beyond the limit")
	}
}

// callBounded calls function fn of fns with args. With wantErr set, the
// call must fail saying it, and ok is false; otherwise it must succeed, and
// its result is returned unmarked.
func callBounded(t *testing.T, fns map[string]function.Function, fn string, args []cty.Value, wantErr string) (cty.Value, bool) {
	t.Helper()
	got, err := fns[fn].Call(args)
	switch {
	case wantErr != "":
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("%s: %v, want an error with %q", fn, err, wantErr)
		}
		return cty.NilVal, false
	case err != nil:
		t.Fatalf("%s: %v", fn, err)
	}
	got, _ = got.Unmark()
	return got, true
}

// TestJSONDecodeNesting: jsondecode refuses text that opens arrays or
// objects more than maxNesting levels deep, closed or not, before go-cty
// decodes it: go-cty recursed once per "[" of a string of a few million,
// and the stack overflow killed the process (the test binary too, before
// the check). Within the bound, and for brackets inside JSON strings, it
// decodes as before.
func TestJSONDecodeNesting(t *testing.T) {
	fns := stdFunctions(ModeValidate, func(string) (string, bool) { return "", false })
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name    string
		text    string
		wantErr string // in the error; "" when the text decodes
		at      int    // the offset jsonTooDeep reports, -1 for none
	}{
		{"flat", `{"a": [1, 2], "b": "c"}`, "", -1},
		{"within", deep(maxNesting), "", -1},
		{"one beyond", deep(maxNesting + 1), "more than 256 levels deep (at offset 256)", maxNesting},
		{"objects", strings.Repeat(`{"a":`, maxNesting+1) + "1" + strings.Repeat("}", maxNesting+1), "at offset 1280", 5 * maxNesting},
		{"unclosed", strings.Repeat("[", 2_000_000), "jsondecode's text nests arrays and objects more than 256 levels deep", maxNesting},
		{"in a string", `["` + strings.Repeat("[", 5000) + `"]`, "", -1},
		{"escaped quote", `["\"` + strings.Repeat("[", 5000) + `"]`, "", -1},
		{"escaped backslash", `["\\", ` + deep(maxNesting) + `]`, "at offset 262", maxNesting + 6},
		{"stray closers", strings.Repeat("]", 1000) + deep(maxNesting+1), "(at offset 1256)", 1000 + maxNesting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jsonTooDeep(tt.text, maxNesting); got != tt.at {
				t.Errorf("jsonTooDeep = %d, want %d", got, tt.at)
			}
			arg := cty.StringVal(tt.text)
			if tt.name == "stray closers" {
				// Not JSON: only the nesting error is of interest.
				if _, err := fns["jsondecode"].Call([]cty.Value{arg}); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("jsondecode: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			callBounded(t, fns, "jsondecode", []cty.Value{arg}, tt.wantErr)
			// Refused when its type is decided too (go-cty's type
			// check decodes the text as well).
			if _, err := fns["jsondecode"].ReturnTypeForValues([]cty.Value{arg.Mark(markSensitive)}); (err != nil) != (tt.wantErr != "") {
				t.Errorf("jsondecode's type check: %v", err)
			}
		})
	}
}
