package lang

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/model"
)

// SensitiveStrings returns the known strings of cfg's sensitive variables
// and of the locals derived from them (the value itself, or the strings of
// a collection or structure): what no output may show. A run scrubs its
// logs and the reasons it stores of them, behind the marks that keep
// derived values out (see Template).
func SensitiveStrings(cfg *model.Config) []string {
	var out []string
	for _, v := range cfg.Variables {
		if v.Sensitive && v.Value != cty.NilVal {
			out = append(out, stringsIn(v.Value)...)
		}
	}
	for _, l := range cfg.Locals {
		if l.Value == cty.NilVal {
			continue
		}
		if _, marks := l.Value.UnmarkDeep(); hasMark(marks, markSensitive) {
			out = append(out, stringsIn(l.Value)...)
		}
	}
	return out
}

// stringsIn returns the known strings in v, unmarked.
func stringsIn(v cty.Value) []string {
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return []string{v.AsString()}
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, stringsIn(e)...)
		}
		return out
	}
	return nil
}

func hasMark(marks cty.ValueMarks, mark string) bool {
	_, ok := marks[mark]
	return ok
}
