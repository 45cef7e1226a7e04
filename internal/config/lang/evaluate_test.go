package lang

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// TestEvalJSONAsHCL: evalJSON evaluates a JSON file's expressions as
// HCL's json package does, values and diagnostics, where neither refuses
// anything.
func TestEvalJSONAsHCL(t *testing.T) {
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var": cty.ObjectVal(map[string]cty.Value{
				"s": cty.StringVal("fabrikam"),
				"n": cty.NumberIntVal(7),
				"l": cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}),
				"u": cty.UnknownVal(cty.String),
				"z": cty.NullVal(cty.String),
			}),
		},
		Functions: stdFunctions(ModeValidate, noEnv),
	}
	for _, src := range []string{
		`"plain"`, `"${var.s}"`, `"x-${var.s}-${var.n}"`, `"%{for x in var.l}${x},%{endfor}"`,
		`"${[for x in var.l : upper(x)]}"`, `"${{for x in var.l : x => length(x)}}"`,
		`1`, `-2.5e10`, `true`, `null`, `[]`, `{}`,
		`[1, "a", "${var.n + 1}", [null, {"k": "v"}]]`,
		`{"a": 1, "b": {"c": "${var.s}"}}`,
		`{"${var.s}": 1, "k": 2}`,
		`{"${var.u}": 1}`,
		`{"a": 1, "a": 2}`,
		`{"${var.z}": 1}`,
		`{"${var.l}": 1}`,
		`"${var.nope}"`,
		`"${"`,
		`"${upper(var.n)}"`,
		`["${var.u}", "${length(var.l)}"]`,
	} {
		t.Run(src, func(t *testing.T) {
			f, ds := json.Parse([]byte(`{"a": `+src+`}`), "main.hcl.json")
			if ds.HasErrors() {
				t.Fatal(ds.Error())
			}
			attrs, ds := f.Body.JustAttributes()
			if ds.HasErrors() {
				t.Fatal(ds.Error())
			}
			expr := attrs["a"].Expr
			if !isJSONExpression(expr) {
				t.Fatalf("%T is not taken for a JSON expression", expr)
			}
			want, wantDiags := expr.Value(ctx)
			got, gotDiags := evalJSON(expr, ctx, nil)
			if !got.RawEquals(want) {
				t.Errorf("value %#v, the json package's %#v", got, want)
			}
			if g, w := summaries(gotDiags), summaries(wantDiags); g != w {
				t.Errorf("diagnostics %q, the json package's %q", g, w)
			}
			// Without a context, strings are taken as they are.
			want, _ = expr.Value(nil)
			if got, _ := evalJSON(expr, nil, nil); !got.RawEquals(want) {
				t.Errorf("without a context: %#v, the json package's %#v", got, want)
			}
		})
	}
}

func summaries(ds hcl.Diagnostics) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Summary+": "+d.Detail+" at "+d.Subject.String())
	}
	return strings.Join(out, "; ")
}

// TestEvalJSONSensitiveKey: an object key derived from a sensitive value
// marks the object, as in the native syntax; HCL's json package panicked
// (cty refuses to give a marked string's text).
func TestEvalJSONSensitiveKey(t *testing.T) {
	f, ds := json.Parse([]byte(`{"a": {"${var.s}": 1}}`), "main.hcl.json")
	if ds.HasErrors() {
		t.Fatal(ds.Error())
	}
	attrs, _ := f.Body.JustAttributes()
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{"s": cty.StringVal("k").Mark(markSensitive)}),
	}}
	v, ds := evalJSON(attrs["a"].Expr, ctx, nil)
	if ds.HasErrors() || !v.HasMark(markSensitive) {
		t.Fatalf("%#v, %v: want an object marked sensitive", v, ds)
	}
	if got, _ := v.UnmarkDeep(); !got.RawEquals(cty.ObjectVal(map[string]cty.Value{"k": cty.NumberIntVal(1)})) {
		t.Errorf("%#v", got)
	}
}
