package lang

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// TestFunctionDocs checks what functionDocs says of the functions that
// are not Terraform's, or whose go-cty description was wrong: each call
// gives the value (or the error) the documentation promises.
func TestFunctionDocs(t *testing.T) {
	ctx := &hcl.EvalContext{Functions: stdFunctions(ModeValidate, func(string) (string, bool) { return "", false })}
	for _, tc := range []struct {
		expr string
		want cty.Value // cty.NilVal: an error containing fails
		fail string
	}{
		{`coalesce("", "a")`, cty.StringVal(""), ""},
		{`csvdecode("a,b\n1,2\n3,4")`, cty.ListVal([]cty.Value{
			cty.ObjectVal(map[string]cty.Value{"a": cty.StringVal("1"), "b": cty.StringVal("2")}),
			cty.ObjectVal(map[string]cty.Value{"a": cty.StringVal("3"), "b": cty.StringVal("4")}),
		}), ""},
		{`index(["a", "b"], 1)`, cty.StringVal("b"), ""},
		{`index(["a", "b"], "b")`, cty.NilVal, "key for tuple must be number"},
		{`length("abc")`, cty.NilVal, "collection must be"},
		{`strlen("héllo")`, cty.NumberIntVal(5), ""},
		{`lookup({a = 1}, "a")`, cty.NilVal, "expects 3 argument"},
		{`lookup({a = 1}, "b", 2)`, cty.NumberIntVal(2), ""},
		{`replace("a1b2", "/[0-9]/", "X")`, cty.StringVal("a1b2"), ""},
		{`replace("a/1/b", "/1/", "X")`, cty.StringVal("aXb"), ""},
		{`regex_replace("a1b2", "([a-z])([0-9])", "$2$1")`, cty.StringVal("1a2b"), ""},
		{`trimsuffix("abcabc", "abc")`, cty.StringVal("abc"), ""},
		{`trimsuffix("abcx", "abc")`, cty.StringVal("abcx"), ""},
	} {
		e, diags := hclsyntax.ParseExpression([]byte(tc.expr), "test.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", tc.expr, diags.Error())
		}
		v, diags := e.Value(ctx)
		switch {
		case tc.want == cty.NilVal:
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.fail) {
				t.Errorf("%s = %#v (%v), want an error containing %q", tc.expr, v, diags, tc.fail)
			}
		case diags.HasErrors():
			t.Errorf("%s: %s", tc.expr, diags.Error())
		case !v.RawEquals(tc.want):
			t.Errorf("%s = %#v, want %#v", tc.expr, v, tc.want)
		}
	}
	// Every description replaced is one the table shows, and every
	// function not Terraform's says so.
	shown := map[string]Function{}
	for _, f := range Functions() {
		shown[f.Name] = f
	}
	for name, d := range functionDocs {
		if f, ok := shown[name]; !ok || d.description == "" || f.Description != d.description {
			t.Errorf("%s: documented as %q, want %q", name, f.Description, d.description)
		}
		if shown[name].NotTerraform != d.notTerraform {
			t.Errorf("%s: NotTerraform = %v, want %v", name, shown[name].NotTerraform, d.notTerraform)
		}
		if d.notTerraform && !strings.Contains(d.description, "Terraform") {
			t.Errorf("%s: not Terraform's, and its description does not say how", name)
		}
	}
}
