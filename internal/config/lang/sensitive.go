package lang

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/model"
)

// SensitiveStrings returns the known strings of cfg's sensitive variables
// and of the locals derived from them (the value itself, or the strings of
// a collection or structure), and the literals written where a secret
// goes (literalSecrets), sorted, each once: what no output may show. A run scrubs its
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
	for _, f := range cfg.Files {
		out = append(out, literalSecrets(f)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// literalSecrets are the string literals f writes where a secret goes: a
// sensitive variable's default and a store's password. When they evaluate,
// SensitiveStrings has their values already; one that does not (a default
// of the wrong type, a call that fails) is only text, which a snippet of
// its line would show. A password written as a literal is a secret too.
func literalSecrets(f *hcl.File) []string {
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	var out []string
	for _, b := range body.Blocks {
		var attr *hclsyntax.Attribute
		switch b.Type {
		case "variable":
			if s := b.Body.Attributes["sensitive"]; s != nil {
				if v, diags := evaluateConstant(s.Expr, newMeter()); !diags.HasErrors() && v.Type() == cty.Bool && v.IsKnown() && !v.IsNull() && v.True() {
					attr = b.Body.Attributes["default"]
				}
			}
		case "certificate_store":
			attr = b.Body.Attributes["password"]
		}
		if attr == nil {
			continue
		}
		_ = hclsyntax.VisitAll(attr.Expr, func(n hclsyntax.Node) hcl.Diagnostics {
			if lit, ok := n.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String && lit.Val.IsKnown() && !lit.Val.IsNull() {
				out = append(out, lit.Val.AsString())
			}
			return nil
		})
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
