package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/suggest"
)

// checkFilterLocations warns about a send port filter that compares
// message.receive_location with a name no receive_location declares
// (BP1006): a typo there leaves the port subscribed to nothing, and its
// messages suspended as routing failures once they flow. Only literal names
// are checked (== , != and contains([...], ...)); a name computed from a
// variable or a function is not.
func (c *checker) checkFilterLocations() {
	declared := map[string]bool{}
	for _, rl := range c.cfg.ReceiveLocations {
		declared[rl.Name] = true
	}
	for _, p := range c.cfg.SendPorts {
		expr := p.FilterSyntax
		if expr == nil || !c.runs(p.Host) {
			continue
		}
		for _, lit := range locationLiterals(expr) {
			if declared[lit.name] {
				continue
			}
			c.add(diag.Warningf(diag.CodeFilterLocation, lit.rng, "Filter names an undeclared receive location",
				"The filter of send port %q compares message.receive_location with %q, but no receive_location of that name is declared%s, so that comparison never holds.%s",
				p.Name, lit.name, knownLocations(declared), suggest.Hint(lit.name, sortedNames(declared), "%q")))
		}
	}
}

type locationLiteral struct {
	name string
	rng  hcl.Range
}

// locationLiterals finds the string literals expr compares with
// message.receive_location.
func locationLiterals(expr hclsyntax.Expression) []locationLiteral {
	var out []locationLiteral
	add := func(e hclsyntax.Expression) {
		if s, ok := literalString(e); ok {
			out = append(out, locationLiteral{s, e.Range()})
		}
	}
	hclsyntax.VisitAll(expr, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.BinaryOpExpr:
			if n.Op != hclsyntax.OpEqual && n.Op != hclsyntax.OpNotEqual {
				break
			}
			if isReceiveLocation(n.LHS) {
				add(n.RHS)
			} else if isReceiveLocation(n.RHS) {
				add(n.LHS)
			}
		case *hclsyntax.FunctionCallExpr:
			if n.Name != "contains" || len(n.Args) != 2 || !isReceiveLocation(n.Args[1]) {
				break
			}
			if list, ok := n.Args[0].(*hclsyntax.TupleConsExpr); ok {
				for _, e := range list.Exprs {
					add(e)
				}
			}
		}
		return nil
	})
	return out
}

// isReceiveLocation reports whether e is exactly message.receive_location.
func isReceiveLocation(e hclsyntax.Expression) bool {
	st, ok := e.(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(st.Traversal) != 2 || st.Traversal.RootName() != "message" {
		return false
	}
	attr, ok := st.Traversal[1].(hcl.TraverseAttr)
	return ok && attr.Name == "receive_location"
}

// literalString returns the value of a constant string expression: a
// quoted string without interpolations.
func literalString(e hclsyntax.Expression) (string, bool) {
	switch e := e.(type) {
	case *hclsyntax.TemplateExpr:
		if !e.IsStringLiteral() {
			return "", false
		}
		return literalString(e.Parts[0])
	case *hclsyntax.LiteralValueExpr:
		if e.Val.Type() == cty.String && e.Val.IsKnown() && !e.Val.IsNull() {
			return e.Val.AsString(), true
		}
	}
	return "", false
}

// knownLocations lists the declared names for the detail, when few.
func knownLocations(declared map[string]bool) string {
	if len(declared) == 0 {
		return " (the configuration declares none)"
	}
	if len(declared) > 10 {
		return ""
	}
	names := make([]string, 0, len(declared))
	for n := range declared {
		names = append(names, fmt.Sprintf("%q", n))
	}
	sort.Strings(names)
	return " (declared: " + strings.Join(names, ", ") + ")"
}
