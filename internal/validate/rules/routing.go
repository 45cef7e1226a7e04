package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/config/suggest"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// checkUnrouted warns about a receive location whose messages no send
// port's filter can match (BP1007): each would be suspended as a routing
// failure, which validate alone can foresee.
//
// A filter is judged by evaluating it for a message that has the
// location's name and properties and unknown everything else (size,
// content type, party, a property value from a variable without a value,
// ...): only a filter that is false whatever the unknown parts are counts
// as not matching. A filter that reads a missing property, or that cannot
// be evaluated, counts as matching: BP1008 and BP1005 speak for those.
// Properties unknown as a whole may match anything (BP1009 says so). The
// result is never a guess.
func (c *checker) checkUnrouted() {
	if c.cfg.Skipped[blockSendPort] {
		return // a send port left out of the model may match anything
	}
	ports := c.filterPorts()
	for _, rl := range c.cfg.ReceiveLocations {
		// Every port counts (a covered location routes to any), but
		// only a covered location is reported.
		if !c.runs(rl.Host) || c.mayBeRouted(rl, ports) {
			continue
		}
		why := "No send port has a filter"
		if len(ports) > 0 {
			why = fmt.Sprintf("The filter of %s is false for them", portList(ports))
		}
		c.add(diag.Warningf(diag.CodeUnrouted, rl.DeclRange, "No send port subscribes to this location's messages",
			"Receive location %q stamps its messages with receive_location = %q%s, and no send port's filter can match them: every one would be suspended as a routing failure. %s; check the filters' names and values.",
			rl.Name, rl.Name, propertiesDesc(rl), why))
	}
}

// filterPorts indexes the send ports that have a filter.
func (c *checker) filterPorts() []portIndex {
	var ports []portIndex
	for _, p := range c.cfg.SendPorts {
		if p.FilterExpr == nil && p.FilterRange.Filename == "" {
			continue // no filter: subscribes to nothing
		}
		ports = append(ports, indexFilter(p))
	}
	return ports
}

// blockSendPort is the send_port block type, as model.Config.Skipped names it.
const blockSendPort = "send_port"

// mayBeRouted reports whether some port's filter may match rl's messages.
// The index rules out most ports without evaluating their filters.
func (c *checker) mayBeRouted(rl *model.ReceiveLocation, ports []portIndex) bool {
	props := propertiesOf(rl)
	known := message.Partial{
		ReceiveLocation:     rl.Name,
		PropertiesKnown:     props.namesKnown,
		Properties:          props.values,
		SensitiveProperties: rl.SensitiveProperties,
		UnknownProperties:   props.unknown,
	}
	for _, pi := range ports {
		if !pi.admits(rl) {
			continue
		}
		sf, ok := pi.port.Filter.(message.StaticFilter)
		if !ok || sf.MayMatch(known) {
			return true // a filter in error, or one that cannot be judged, may match
		}
	}
	return false
}

// portIndex is what a filter certainly requires, read from its top-level
// conjuncts (a && b && ...): a receive location among locations, and
// properties with given values. It only rules ports out; what it admits
// is evaluated.
type portIndex struct {
	port      *model.SendPort
	locations map[string]bool   // nil: any
	props     map[string]string // property name → required value
}

func indexFilter(p *model.SendPort) portIndex {
	pi := portIndex{port: p}
	expr := p.FilterSyntax
	if expr == nil {
		return pi
	}
	for _, e := range conjuncts(expr) {
		switch e := e.(type) {
		case *hclsyntax.BinaryOpExpr:
			if e.Op != hclsyntax.OpEqual {
				continue
			}
			for _, side := range [][2]hclsyntax.Expression{{e.LHS, e.RHS}, {e.RHS, e.LHS}} {
				lit, ok := literalString(side[1])
				if !ok {
					continue
				}
				if isReceiveLocation(side[0]) {
					pi.requireLocations([]string{lit})
				} else if key, ok := propertyKey(side[0]); ok {
					if pi.props == nil {
						pi.props = map[string]string{}
					}
					pi.props[key] = lit
				}
			}
		case *hclsyntax.FunctionCallExpr:
			if e.Name != "contains" || len(e.Args) != 2 || !isReceiveLocation(e.Args[1]) {
				continue
			}
			list, ok := e.Args[0].(*hclsyntax.TupleConsExpr)
			if !ok {
				continue
			}
			var names []string
			for _, x := range list.Exprs {
				lit, ok := literalString(x)
				if !ok {
					names = nil // a computed name: any location
					break
				}
				names = append(names, lit)
			}
			if names != nil {
				pi.requireLocations(names)
			}
		}
	}
	return pi
}

// requireLocations narrows the locations the port can match to names.
func (pi *portIndex) requireLocations(names []string) {
	next := map[string]bool{}
	for _, n := range names {
		if pi.locations == nil || pi.locations[n] {
			next[n] = true
		}
	}
	pi.locations = next
}

// admits reports whether the index leaves the port possible for rl. A
// property rl does not set, sets from a sensitive value or from a value
// unknown during validate does not rule the port out.
func (pi portIndex) admits(rl *model.ReceiveLocation) bool {
	if pi.locations != nil && !pi.locations[rl.Name] {
		return false
	}
	props := propertiesOf(rl)
	if len(pi.props) == 0 || !props.namesKnown {
		return true
	}
	for k, want := range pi.props {
		got, ok := props.values[k]
		if ok && got != want && !isSensitiveProperty(rl, k) {
			return false
		}
	}
	return true
}

// locationProperties is what validate knows of the properties of a
// location's messages.
type locationProperties struct {
	// namesKnown: which properties are set is known (an absent
	// properties attribute sets none). Otherwise nothing is: the
	// attribute depends on a variable without a value, or is in error.
	namesKnown bool
	values     map[string]string // the known values
	unknown    []string          // sorted names set with values unknown during validate
}

// propertiesOf reads rl's properties as validate knows them.
func propertiesOf(rl *model.ReceiveLocation) locationProperties {
	switch p := rl.Properties; {
	case !p.Set || p.Known:
		return locationProperties{namesKnown: true, values: p.V}
	case rl.UnknownProperties != nil && rl.UnknownProperties.NamesKnown:
		return locationProperties{namesKnown: true, values: rl.UnknownProperties.Values, unknown: rl.UnknownProperties.Unknown}
	}
	return locationProperties{}
}

// names returns the names of the properties set (namesKnown only).
func (p locationProperties) names() []string {
	names := append([]string{}, p.unknown...)
	for k := range p.values {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func isSensitiveProperty(rl *model.ReceiveLocation, k string) bool {
	i := sort.SearchStrings(rl.SensitiveProperties, k)
	return i < len(rl.SensitiveProperties) && rl.SensitiveProperties[i] == k
}

// conjuncts splits a && b && c (with any parentheses) into its parts.
func conjuncts(e hclsyntax.Expression) []hclsyntax.Expression {
	switch e := e.(type) {
	case *hclsyntax.ParenthesesExpr:
		return conjuncts(e.Expression)
	case *hclsyntax.BinaryOpExpr:
		if e.Op == hclsyntax.OpLogicalAnd {
			return append(conjuncts(e.LHS), conjuncts(e.RHS)...)
		}
	}
	return []hclsyntax.Expression{e}
}

// propertyKey returns KEY for exactly message.properties.KEY or
// message.properties["KEY"].
func propertyKey(e hclsyntax.Expression) (string, bool) {
	st, ok := e.(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(st.Traversal) != 3 {
		return "", false
	}
	key, _, ok := propertyRead(st.Traversal)
	return key, ok
}

// propertyRead returns KEY and the range up to it for a traversal that
// starts message.properties.KEY (or ["KEY"]).
func propertyRead(tr hcl.Traversal) (string, hcl.Range, bool) {
	if len(tr) < 3 || tr.RootName() != "message" {
		return "", hcl.Range{}, false
	}
	if a, ok := tr[1].(hcl.TraverseAttr); !ok || a.Name != "properties" {
		return "", hcl.Range{}, false
	}
	rng := hcl.RangeBetween(tr[0].SourceRange(), tr[2].SourceRange())
	switch s := tr[2].(type) {
	case hcl.TraverseAttr:
		return s.Name, rng, true
	case hcl.TraverseIndex:
		if s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull() {
			return s.Key.AsString(), rng, true
		}
	}
	return "", hcl.Range{}, false
}

// checkFilterProperties warns about a filter that reads
// message.properties.KEY when no receive location sets KEY (BP1008): no
// message will have it, so the filter fails for every one. Reads with a
// default (lookup(message.properties, "KEY", "")) are deliberate and not
// reported. A location whose property names are unknown during validate
// (properties = var.props; BP1009 says what that skips), or in error, or
// one left out of the model, may set any key: then nothing is reported,
// nor when there is no receive location at all. Unknown values do not
// matter here: { token = var.token } sets token.
func (c *checker) checkFilterProperties() {
	if c.cfg.Skipped["receive_location"] || len(c.cfg.ReceiveLocations) == 0 {
		return // nothing to compare with (a send-only test configuration)
	}
	set, ok := c.propertyNames()
	if !ok {
		return // BP1009 says so, for a location whose properties depend on a variable
	}
	keys := sortedNames(set)
	for _, p := range c.cfg.SendPorts {
		for _, r := range c.unsetReads(p, set) {
			key, rng := r.key, r.rng
			c.add(diag.Warningf(diag.CodeFilterProperty, rng, "Filter reads a property no receive location sets",
				"The filter of send port %q reads message.properties.%s, but no receive location sets the property %q%s, so no message has it and the filter fails for every message.%s",
				p.Name, key, key, setList(keys), suggest.Hint(key, keys, "message.properties.%s")))
		}
	}
}

// propertyNames returns the names of the properties that the receive
// locations set, as far as they are known, and whether they all are.
func (c *checker) propertyNames() (set map[string]bool, allKnown bool) {
	set, allKnown = map[string]bool{}, true
	for _, rl := range c.cfg.ReceiveLocations {
		props := propertiesOf(rl)
		allKnown = allKnown && props.namesKnown
		for _, k := range props.names() {
			set[k] = true
		}
	}
	return set, allKnown
}

// propertyReadAt is a filter's read of message.properties.KEY.
type propertyReadAt struct {
	key string
	rng hcl.Range
}

// unsetReads returns the reads of the filter of p, when its host runs
// here, of properties not in set, each key once.
func (c *checker) unsetReads(p *model.SendPort, set map[string]bool) []propertyReadAt {
	if p.FilterExpr == nil || !c.runs(p.Host) {
		return nil
	}
	var out []propertyReadAt
	seen := map[string]bool{}
	// The native syntax, a JSON file's template included, for ranges in
	// the file: a JSON filter's own Variables count its decoded text.
	var expr hcl.Expression = p.FilterExpr
	if p.FilterSyntax != nil {
		expr = p.FilterSyntax
	}
	for _, tr := range expr.Variables() {
		key, rng, ok := propertyRead(tr)
		if !ok || set[key] || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, propertyReadAt{key, rng})
	}
	return out
}

// setList names the properties the locations set, for the detail, when few.
func setList(keys []string) string {
	switch {
	case len(keys) == 0:
		return " (no receive location sets any property)"
	case len(keys) > 10:
		return ""
	}
	return " (the properties set are " + quoted(keys) + ")" // keys are sorted already
}

// propertiesDesc renders a location's known properties for a detail;
// sensitive values are not shown.
func propertiesDesc(rl *model.ReceiveLocation) string {
	p := propertiesOf(rl)
	switch {
	case !p.namesKnown:
		return " and properties unknown during validate"
	case len(p.values)+len(p.unknown) == 0:
		return " and no properties"
	}
	keys := p.names()
	parts := make([]string, len(keys))
	for i, k := range keys {
		v, ok := p.values[k]
		v = fmt.Sprintf("%q", v)
		switch {
		case isSensitiveProperty(rl, k):
			v = redact.Shown
		case !ok:
			v = "(unknown during validate)"
		}
		parts[i] = fmt.Sprintf("%s = %s", k, v)
	}
	return " and properties { " + strings.Join(parts, ", ") + " }"
}

// portList names the ports whose filters were judged, when few.
func portList(ports []portIndex) string {
	if len(ports) > 5 {
		return fmt.Sprintf("every one of the %d send ports with a filter", len(ports))
	}
	names := make([]string, len(ports))
	for i, pi := range ports {
		names[i] = pi.port.Name
	}
	return "send port(s) " + quoted(names)
}

// sortedNames returns the keys of set in order.
func sortedNames(set map[string]bool) []string {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
