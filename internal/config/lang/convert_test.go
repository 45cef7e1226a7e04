package lang

import (
	"fmt"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

var (
	stdlibDistinct  = stdlib.DistinctFunc
	stdlibSetUnion  = stdlib.SetUnionFunc
	stdlibChunklist = stdlib.ChunklistFunc
)

// TestConvertValueAsGoCty checks that convertValue converts as go-cty does,
// values and errors, whether it converts the elements itself or not.
func TestConvertValueAsGoCty(t *testing.T) {
	num, str := cty.NumberIntVal(1), cty.StringVal("a")
	obj := cty.ObjectVal(map[string]cty.Value{"a": num})
	secret := str.Mark(markSensitive)
	values := map[string]cty.Value{
		"numbers":        cty.TupleVal([]cty.Value{num, num, cty.NumberIntVal(2)}),
		"mixed":          cty.TupleVal([]cty.Value{num, str, cty.True}),
		"unconvertible":  cty.TupleVal([]cty.Value{num, obj}),
		"objects":        cty.TupleVal([]cty.Value{obj, obj}),
		"objects_differ": cty.TupleVal([]cty.Value{obj, cty.ObjectVal(map[string]cty.Value{"b": str})}),
		"nested":         cty.TupleVal([]cty.Value{cty.TupleVal([]cty.Value{num}), cty.TupleVal([]cty.Value{num, num})}),
		"unknown_elem":   cty.TupleVal([]cty.Value{num, cty.UnknownVal(cty.Number)}),
		"dynamic_elem":   cty.TupleVal([]cty.Value{num, cty.DynamicVal}),
		"marked_elem":    cty.TupleVal([]cty.Value{str, secret}),
		"marked":         cty.TupleVal([]cty.Value{str, str}).Mark(markSensitive),
		"null_elem":      cty.TupleVal([]cty.Value{num, cty.NullVal(cty.Number)}),
		"one":            cty.TupleVal([]cty.Value{num}),
		"empty":          cty.EmptyTupleVal,
		"object":         cty.ObjectVal(map[string]cty.Value{"a": num, "b": str}),
		"object_same":    cty.ObjectVal(map[string]cty.Value{"a": num, "b": num}),
		"object_marked":  cty.ObjectVal(map[string]cty.Value{"a": secret, "b": str}),
		"list":           cty.ListVal([]cty.Value{num, num}),
		"unknown":        cty.UnknownVal(cty.Tuple([]cty.Type{cty.Number, cty.Number})),
		"null":           cty.NullVal(cty.Tuple([]cty.Type{cty.Number, cty.Number})),
	}
	types := []cty.Type{
		cty.List(cty.DynamicPseudoType), cty.Set(cty.DynamicPseudoType), cty.Map(cty.DynamicPseudoType),
		cty.List(cty.Number), cty.List(cty.String), cty.Set(cty.String), cty.Map(cty.String),
		cty.List(cty.List(cty.DynamicPseudoType)), cty.List(cty.Object(map[string]cty.Type{"a": cty.Number})),
		cty.DynamicPseudoType, cty.Tuple([]cty.Type{cty.Number, cty.Number}),
	}
	for name, v := range values {
		for _, ty := range types {
			want, wantErr := convert.Convert(v, ty)
			got, err := convertValue(v, ty)
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Errorf("%s to %s: error %v, go-cty's %v", name, ty.FriendlyName(), err, wantErr)
				continue
			}
			if err == nil && !got.RawEquals(want) {
				t.Errorf("%s to %s: %#v, go-cty's %#v", name, ty.FriendlyName(), got, want)
			}
		}
	}
}

// TestConvertValueLong checks that a long tuple or object converts to a
// collection in time linear in its elements: go-cty compares every two
// elements' types, which for 200,000 took minutes.
func TestConvertValueLong(t *testing.T) {
	const n = 200_000
	elems := make([]cty.Value, n)
	attrs := make(map[string]cty.Value, n)
	for i := range elems {
		elems[i] = cty.NumberIntVal(int64(i))
		attrs[fmt.Sprint("a", i)] = cty.StringVal("x")
	}
	tuple, object := cty.TupleVal(elems), cty.ObjectVal(attrs)
	tests := []struct {
		val  cty.Value
		ty   cty.Type
		want cty.Type
	}{
		{tuple, cty.List(cty.DynamicPseudoType), cty.List(cty.Number)},
		{tuple, cty.Set(cty.DynamicPseudoType), cty.Set(cty.Number)},
		{tuple, cty.List(cty.String), cty.List(cty.String)},
		{object, cty.Map(cty.DynamicPseudoType), cty.Map(cty.String)},
	}
	for _, tt := range tests {
		got, err := convertValue(tt.val, tt.ty)
		if err != nil || !got.Type().Equals(tt.want) || got.LengthInt() != n {
			t.Errorf("to %s: %s of %d, %v; want %s of %d", tt.ty.FriendlyName(), got.Type().FriendlyName(), got.LengthInt(), err, tt.want.FriendlyName(), n)
		}
	}
	// And through a function whose parameter is list(any) (distinct,
	// quadratic itself, is bounded: see TestBoundedFunctions), as long
	// as a value may be: two chunks and their elements.
	ones := make([]cty.Value, maxValueElements-2)
	for i := range ones {
		ones[i] = cty.NumberIntVal(1)
	}
	chunklist := stdFunctions(ModeValidate, noEnv)["chunklist"]
	got, err := chunklist.Call([]cty.Value{cty.TupleVal(ones), cty.NumberIntVal(int64(len(ones) / 2))})
	if err != nil || got.LengthInt() != 2 {
		t.Errorf("chunklist: %v, %v; want 2 chunks", got, err)
	}
}

// TestAnyCollectionArgs checks that a wrapped function behaves as the
// function: results, and errors naming the argument.
func TestAnyCollectionArgs(t *testing.T) {
	num := cty.NumberIntVal(1)
	tests := []struct {
		name string
		f    function.Function
		args []cty.Value
	}{
		{"distinct", stdFunctionsRaw()["distinct"], []cty.Value{cty.TupleVal([]cty.Value{num, num, cty.NumberIntVal(2)})}},
		{"distinct_mixed", stdFunctionsRaw()["distinct"], []cty.Value{cty.TupleVal([]cty.Value{num, cty.StringVal("1")})}},
		{"distinct_bad", stdFunctionsRaw()["distinct"], []cty.Value{cty.TupleVal([]cty.Value{num, cty.EmptyObjectVal})}},
		{"distinct_unknown", stdFunctionsRaw()["distinct"], []cty.Value{cty.UnknownVal(cty.List(cty.Number))}},
		{"distinct_marked", stdFunctionsRaw()["distinct"], []cty.Value{cty.TupleVal([]cty.Value{num, num}).Mark(markSensitive)}},
		{"setunion", stdFunctionsRaw()["setunion"], []cty.Value{cty.TupleVal([]cty.Value{num, num}), cty.TupleVal([]cty.Value{cty.NumberIntVal(2)})}},
		{"setunion_bad_var", stdFunctionsRaw()["setunion"], []cty.Value{cty.TupleVal([]cty.Value{num}), cty.StringVal("x")}},
		{"chunklist", stdFunctionsRaw()["chunklist"], []cty.Value{cty.TupleVal([]cty.Value{num, num, num}), cty.NumberIntVal(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// HCL converts the arguments to the parameters' types.
			args := make([]cty.Value, len(tt.args))
			var wantErr error
			for i, a := range tt.args {
				p := tt.f.VarParam()
				if i < len(tt.f.Params()) {
					p = &tt.f.Params()[i]
				}
				c, err := convert.Convert(a, p.Type)
				if err != nil && wantErr == nil {
					wantErr = function.NewArgError(i, err)
				}
				args[i] = c
			}
			var want cty.Value
			if wantErr == nil {
				want, wantErr = tt.f.Call(args)
			}
			got, err := anyCollectionArgs(tt.f).Call(tt.args)
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("error %v, want %v", err, wantErr)
			}
			if err == nil && !got.RawEquals(want) {
				t.Errorf("%#v, want %#v", got, want)
			}
			if err != nil {
				var ae, we function.ArgError
				if !asArgError(err, &ae) || !asArgError(wantErr, &we) || ae.Index != we.Index {
					t.Errorf("error %#v, want the argument's %#v", err, wantErr)
				}
			}
		})
	}
}

// stdFunctionsRaw returns the functions as go-cty has them, not wrapped.
func stdFunctionsRaw() map[string]function.Function {
	return map[string]function.Function{
		"distinct":  stdlibDistinct,
		"setunion":  stdlibSetUnion,
		"chunklist": stdlibChunklist,
	}
}

func asArgError(err error, out *function.ArgError) bool {
	ae, ok := err.(function.ArgError)
	if ok {
		*out = ae
	}
	return ok
}
