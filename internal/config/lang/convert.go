package lang

import (
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// go-cty converts a tuple to a list or set, and an object to a map, by
// unifying the types of its elements, for which it compares every
// element's type with every other's: a variable of type list(number) or
// list(any) given 24,000 numbers, or distinct() of them, took 7 s. So
// convertValue converts such a value element by element, and unifies only
// the distinct element types.

// maxDistinctTypes bounds the distinct element types convertValue looks
// for: a value with more is left to go-cty (it is at most a few hundred
// elements of distinct types, within maxExprTokens).
const maxDistinctTypes = 16

// convertValue is convert.Convert, without the cost of the elements squared
// for a tuple converted to a list or set, or an object to a map.
func convertValue(val cty.Value, ty cty.Type) (cty.Value, error) {
	if out, ok := convertElements(val, ty); ok {
		return out, nil
	}
	return convert.Convert(val, ty)
}

// convertElements converts a known tuple to a list or set, or a known
// object to a map, converting each element to the collection's element type
// (for `any`, to the type the distinct element types unify into, as go-cty
// does). It returns false when go-cty must convert val: another conversion,
// an element that does not convert, or elements of types that differ after
// conversion.
func convertElements(val cty.Value, ty cty.Type) (cty.Value, bool) {
	if !(ty.IsListType() || ty.IsSetType() || ty.IsMapType()) || !val.IsKnown() || val.IsNull() {
		return cty.NilVal, false
	}
	raw, marks := val.Unmark()
	from := raw.Type()
	if ty.IsMapType() && !from.IsObjectType() || !ty.IsMapType() && !from.IsTupleType() || raw.LengthInt() < 2 {
		return cty.NilVal, false
	}
	ety := ty.ElementType()
	if ety == cty.DynamicPseudoType {
		t, ok := unifyDistinct(from)
		if !ok {
			return cty.NilVal, false
		}
		ety = t
	}
	if ety.HasDynamicTypes() {
		return cty.NilVal, false
	}
	var elems []cty.Value
	var attrs map[string]cty.Value
	if ty.IsMapType() {
		attrs = make(map[string]cty.Value, raw.LengthInt())
	}
	for it := raw.ElementIterator(); it.Next(); {
		k, v := it.Element()
		c, err := convert.Convert(v, ety)
		if err != nil || !c.Type().Equals(ety) {
			return cty.NilVal, false
		}
		if attrs != nil {
			attrs[k.AsString()] = c
		} else {
			elems = append(elems, c)
		}
	}
	var out cty.Value
	switch {
	case ty.IsListType():
		out = cty.ListVal(elems)
	case ty.IsSetType():
		out = cty.SetVal(elems)
	default:
		out = cty.MapVal(attrs)
	}
	return out.WithMarks(marks), true
}

// unifyDistinct returns the type that the element types of a tuple or
// object type unify into, unifying only the distinct ones: go-cty's
// unification gives the same type for them as for all of them.
func unifyDistinct(t cty.Type) (cty.Type, bool) {
	var etys []cty.Type
	if t.IsTupleType() {
		etys = t.TupleElementTypes()
	} else {
		for _, at := range t.AttributeTypes() {
			etys = append(etys, at)
		}
	}
	var distinct []cty.Type
Elements:
	for _, et := range etys {
		for _, d := range distinct {
			if et.Equals(d) {
				continue Elements
			}
		}
		if len(distinct) == maxDistinctTypes {
			return cty.NilType, false
		}
		distinct = append(distinct, et)
	}
	ety, _ := convert.UnifyUnsafe(distinct)
	return ety, ety != cty.NilType
}

// anyCollectionArgs wraps f so that its arguments for parameters of type
// list(any), set(any) or map(any) are converted by convertValue rather than
// by HCL, which converts with go-cty (see convertValue). f is returned as
// it is when it has no such parameter.
func anyCollectionArgs(f function.Function) function.Function {
	params := f.Params()
	varParam := f.VarParam()
	types := make([]cty.Type, len(params)) // the types f declares
	changed := false
	take := func(p function.Parameter) (function.Parameter, cty.Type) {
		t := p.Type
		if isAnyCollection(t) {
			p.Type = cty.DynamicPseudoType
			changed = true
		}
		// f decides what to make of unknown, null and marked
		// arguments, as it did unwrapped (it refines unknown results).
		p.AllowUnknown, p.AllowDynamicType, p.AllowNull, p.AllowMarked = true, true, true, true
		return p, t
	}
	wrapped := make([]function.Parameter, len(params))
	for i, p := range params {
		wrapped[i], types[i] = take(p)
	}
	var wrappedVar *function.Parameter
	var varType cty.Type
	if varParam != nil {
		p, t := take(*varParam)
		wrappedVar, varType = &p, t
	}
	if !changed {
		return f
	}
	convertArgs := func(args []cty.Value) ([]cty.Value, error) {
		out := make([]cty.Value, len(args))
		for i, a := range args {
			t := varType
			if i < len(types) {
				t = types[i]
			}
			if !isAnyCollection(t) {
				out[i] = a
				continue
			}
			v, err := convertValue(a, t)
			if err != nil {
				return nil, function.NewArgError(i, err)
			}
			out[i] = v
		}
		return out, nil
	}
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      wrapped,
		VarParam:    wrappedVar,
		Type: func(args []cty.Value) (cty.Type, error) {
			converted, err := convertArgs(args)
			if err != nil {
				return cty.NilType, err
			}
			return f.ReturnTypeForValues(converted)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			converted, err := convertArgs(args)
			if err != nil {
				return cty.NilVal, err
			}
			return f.Call(converted)
		},
	})
}

// isAnyCollection reports whether t is list(any), set(any) or map(any).
func isAnyCollection(t cty.Type) bool {
	return (t.IsListType() || t.IsSetType() || t.IsMapType()) && t.ElementType() == cty.DynamicPseudoType
}
