package lang

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/config/suggest"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// buildContexts makes the evaluation context of every file: var, local and the
// functions in a shared parent, and file() bound to the file's directory in a
// child, so that relative paths resolve against the declaring file (§2).
func (d *decoder) buildContexts(files []*hcl.File) {
	vars := map[string]cty.Value{}
	for _, v := range d.cfg.Variables {
		vars[v.Name] = v.Value
	}
	root := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":   cty.ObjectVal(vars),
			"local": cty.EmptyObjectVal,
		},
		Functions: meteredFunctions(d.envMode(), d.opts.LookupEnv, d.meter),
	}
	d.root = root
	for name := range d.cfg.Files {
		child := root.NewChild()
		child.Functions = map[string]function.Function{"file": metered(fileFunction(filepath.Dir(name)), d.meter, true, nil)}
		setSource(child, d.cfg.Sources[name]) // for a JSON string's template (parseJSONTemplate)
		d.cfg.EvalContexts[name] = child
	}
	_ = files
}

// decodeLocals evaluates locals in dependency order, each in the context of
// its own file. A cycle or a reference to an undeclared local is BP1001.
func (d *decoder) decodeLocals(blocks []*hcl.Block) {
	d.locals = map[string]*model.Local{}
	for _, b := range blocks {
		attrs, ds := b.Body.JustAttributes()
		d.add(diag.Tag(ds, diag.CodeInvalidValue)...)
		names := make([]string, 0, len(attrs))
		for n := range attrs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			a := attrs[n]
			if first, dup := d.locals[n]; dup {
				d.add(diag.Errorf(diag.CodeDuplicate, a.NameRange, "Duplicate local value",
					"A local value named %q was already declared at %s.", n, first.DeclRange))
				continue
			}
			l := &model.Local{Name: n, Expr: a.Expr, DeclRange: a.Range}
			d.locals[n] = l
			d.cfg.Locals = append(d.cfg.Locals, l)
		}
	}
	d.evalLocals()
}

// evalLocals evaluates the declared locals in dependency order (Kahn's
// algorithm: linear in locals and references, where re-scanning them pass
// after pass was quadratic). Each local is evaluated with only its own
// dependencies in scope, so that no growing object of every value is
// rebuilt per local. Locals left when nothing more can be evaluated are on
// a cycle, or depend on one: BP1001.
func (d *decoder) evalLocals() {
	deps := make(map[*model.Local][]string, len(d.cfg.Locals))
	dependents := map[string][]*model.Local{}
	waiting := make(map[*model.Local]int, len(d.cfg.Locals))
	var ready []*model.Local
	for _, l := range d.cfg.Locals {
		seen := map[string]bool{}
		for _, tr := range l.Expr.Variables() {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			a, ok := tr[1].(hcl.TraverseAttr)
			if !ok || seen[a.Name] {
				continue
			}
			if _, declared := d.locals[a.Name]; !declared {
				continue // checkRefs reports it
			}
			seen[a.Name] = true
			deps[l] = append(deps[l], a.Name)
			dependents[a.Name] = append(dependents[a.Name], l)
		}
		waiting[l] = len(deps[l])
		if waiting[l] == 0 {
			ready = append(ready, l)
		}
	}
	values := make(map[string]cty.Value, len(d.cfg.Locals))
	for len(ready) > 0 {
		l := ready[0]
		ready = ready[1:]
		l.Value = cty.DynamicVal
		if d.checkRefs(l.Expr, false) {
			scope := make(map[string]cty.Value, len(deps[l]))
			for _, n := range deps[l] {
				scope[n] = values[n]
			}
			ctx := d.ctxFor(l.DeclRange).NewChild()
			ctx.Variables = map[string]cty.Value{"local": cty.ObjectVal(scope)}
			val, ds := evaluate(l.Expr, ctx, d.meter)
			d.add(tagEval(ds)...)
			if !ds.HasErrors() && !d.meter.spent {
				l.Value = val
			}
		}
		values[l.Name] = l.Value
		for _, dep := range dependents[l.Name] {
			if waiting[dep]--; waiting[dep] == 0 {
				ready = append(ready, dep)
			}
		}
	}
	for _, l := range d.cfg.Locals {
		if _, evaluated := values[l.Name]; evaluated {
			continue
		}
		d.add(diag.Errorf(diag.CodeUndeclared, l.DeclRange, "Cycle in local values",
			"Local value %q depends, directly or through other locals, on itself.", l.Name))
		l.Value = cty.DynamicVal
		values[l.Name] = l.Value
	}
	d.root.Variables["local"] = cty.ObjectVal(values)
}

func (d *decoder) ctxFor(r hcl.Range) *hcl.EvalContext {
	if ctx, ok := d.cfg.EvalContexts[r.Filename]; ok {
		return ctx
	}
	return d.root
}

// tagEval codes HCL's evaluation diagnostics: an unknown name is BP1001,
// anything else an invalid value.
func tagEval(ds hcl.Diagnostics) hcl.Diagnostics {
	for _, x := range ds {
		if x.Summary == "Unknown variable" || x.Summary == "Variables not allowed" {
			diag.WithCode(x, diag.CodeUndeclared)
		}
	}
	return diag.Tag(ds, diag.CodeInvalidValue)
}

// referenceKinds are the block types that references (host.NAME, ...) name.
var referenceKinds = map[string]bool{
	blockStore: true, blockAccount: true, blockServer: true, blockHost: true, blockPipeline: true,
	blockParty: true, blockReceiveLocation: true, blockSendPort: true, blockGroup: true,
}

// checkRefs reports references to undeclared variables and locals, to the
// message object outside filters and templates, and to objects where a value
// is needed. It returns false when the expression must not be evaluated.
func (d *decoder) checkRefs(expr hcl.Expression, messageAllowed bool) bool {
	ok := true
	for _, tr := range variables(expr, d.ctxFor(expr.Range())) {
		root := tr.RootName()
		switch {
		case root == "var" || root == "local":
			name, rng, valid := secondStep(tr)
			if !valid {
				d.add(diag.Errorf(diag.CodeUndeclared, tr.SourceRange(), "Invalid reference",
					"A reference to %s needs a name, as in %s.NAME.", root, root))
				ok = false
				continue
			}
			declared := false
			if root == "var" {
				_, declared = d.vars[name]
			} else {
				_, declared = d.locals[name]
			}
			if !declared {
				what := map[string]string{"var": "input variable", "local": "local value"}[root]
				block := map[string]string{"var": "a variable block", "local": "a locals block"}[root]
				var names []string
				if root == "var" {
					names = sortedKeys(d.vars)
				} else {
					names = sortedKeys(d.locals)
				}
				d.add(diag.Errorf(diag.CodeUndeclared, rng, "Reference to undeclared "+what,
					"%s.%s is not declared; declare it in %s.%s", root, name, block, suggest.Hint(name, names, root+".%s")))
				ok = false
			}
		case root == "message":
			if !messageAllowed {
				d.add(diag.Errorf(diag.CodeUndeclared, tr.SourceRange(), "Message not available here",
					"The message object can only be used in a send port's filter and in transport templates (file_name, url, headers)."))
				ok = false
			} else if !d.checkMessageTraversal(tr) {
				ok = false
			}
		case referenceKinds[root]:
			d.add(diag.Errorf(diag.CodeUndeclared, tr.SourceRange(), "Object reference is not a value",
				"%s is a reference to a %s; it can only be used where an attribute expects one (for example host = host.NAME), not as a value.",
				traversalString(tr), root))
			ok = false
		default:
			d.add(diag.Errorf(diag.CodeUndeclared, tr.SourceRange(), "Unknown name",
				"There is no object named %q. Values come from var.NAME, local.NAME and, in filters and templates, message.", root))
			ok = false
		}
	}
	return ok
}

func secondStep(tr hcl.Traversal) (string, hcl.Range, bool) {
	if len(tr) < 2 {
		return "", hcl.Range{}, false
	}
	a, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return "", hcl.Range{}, false
	}
	return a.Name, hcl.RangeBetween(tr[0].SourceRange(), tr[1].SourceRange()), true
}

func traversalString(tr hcl.Traversal) string {
	var sb strings.Builder
	for i, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			sb.WriteString(s.Name)
		case hcl.TraverseAttr:
			sb.WriteString("." + s.Name)
		default:
			if i > 0 {
				sb.WriteString("[...]")
			}
		}
	}
	return sb.String()
}

// evaluated is an attribute's value after reference checks and evaluation.
type evaluated struct {
	val       cty.Value // unmarked, converted; never null when ok
	known     bool
	sensitive bool
	rng       hcl.Range
	// null: ok is false because the value is null, which the language
	// reads as the attribute not set, not as an error or unknown value.
	null bool
}

// eval evaluates attribute a (which may be nil: absent) as type ty. ok is
// false when the attribute is absent, null (ev.null), or invalid (already
// reported).
func (d *decoder) eval(a *hcl.Attribute, ty cty.Type, what string) (evaluated, bool) {
	if a == nil {
		return evaluated{}, false
	}
	if !d.checkRefs(a.Expr, false) {
		return evaluated{}, false
	}
	val, ds := evaluate(a.Expr, d.ctxFor(a.Range), d.meter)
	d.add(tagEval(ds)...)
	if ds.HasErrors() || d.meter.spent {
		return evaluated{}, false
	}
	raw, marks := val.Unmark()
	_, sensitive := marks[markSensitive]
	if raw.IsNull() {
		return evaluated{null: true, rng: a.Expr.Range()}, false
	}
	out, err := convertValue(raw, ty)
	if err != nil {
		d.add(diag.Errorf(diag.CodeInvalidValue, a.Expr.Range(), "Invalid value for "+a.Name,
			"The %s attribute of %s must be %s.", a.Name, what, ty.FriendlyName()))
		return evaluated{}, false
	}
	known := out.IsWhollyKnown()
	if !known && (d.opts.Mode == ModeRun || d.needKnown) {
		notKnown := diag.Errorf(diag.CodeInvalidValue, a.Expr.Range(), "Value not known",
			"The %s attribute of %s depends on a value that is not known.", a.Name, what)
		switch {
		case d.deferInputs && !d.needKnown:
			// Unknown, as in ModeValidate, unless the host needs it.
			d.pending = append(d.pending, pendingInput{block: d.block, missing: d.missingInputs(a.Expr), notKnown: notKnown})
			return evaluated{val: out, known: false, sensitive: sensitive, rng: a.Expr.Range()}, true
		case d.opts.Mode != ModeRun || d.deferInputs:
			// ModeRun without Options.Host has reported each variable
			// without a value; here only those this value depends on
			// are needed.
			d.add(d.missingInputs(a.Expr)...)
		case len(d.missingInputs(a.Expr)) > 0:
			// ModeRun needs every variable and has reported each one
			// without a value at its declaration: a second error at
			// each use would add nothing (Terraform reports one).
			return evaluated{}, false
		}
		d.add(notKnown)
		return evaluated{}, false
	}
	return evaluated{val: out, known: known, sensitive: sensitive, rng: a.Expr.Range()}, true
}

// attrs is the attribute map of a decoded block, with the block's range for
// defaults and the object description used in messages ("send_port \"x\"").
type attrs struct {
	m    hcl.Attributes
	rng  hcl.Range
	what string
}

func (d *decoder) str(at attrs, name string) model.Value[string] {
	ev, ok := d.eval(at.m[name], cty.String, at.what)
	if !ok {
		return model.Value[string]{Range: at.rng}
	}
	v := model.Value[string]{Set: true, Known: ev.known, Sensitive: ev.sensitive, Range: ev.rng}
	if ev.known {
		v.V = ev.val.AsString()
	}
	return v
}

func (d *decoder) boolean(at attrs, name string, def bool) model.Value[bool] {
	ev, ok := d.eval(at.m[name], cty.Bool, at.what)
	if !ok {
		return model.Defaulted(def, at.rng)
	}
	v := model.Value[bool]{Set: true, Known: ev.known, Sensitive: ev.sensitive, Range: ev.rng}
	if ev.known {
		v.V = ev.val.True()
	}
	return v
}

// enum reads a string that must be one of allowed; def applies when absent.
func (d *decoder) enum(at attrs, name, def string, allowed ...string) model.Value[string] {
	v := d.str(at, name)
	if !v.Set {
		return model.Defaulted(def, at.rng)
	}
	if !v.Known {
		return v
	}
	for _, a := range allowed {
		if v.V == a {
			return v
		}
	}
	hint := ""
	if !v.Sensitive { // a hint would tell how close the secret is
		hint = suggest.Hint(v.V, allowed, "%q")
	}
	d.add(diag.Errorf(diag.CodeInvalidValue, v.Range, "Invalid value for "+name,
		"The %s attribute of %s must be one of %s; got %s.%s", name, at.what, quoteList(allowed), shown(v), hint))
	return model.Value[string]{Range: v.Range}
}

// duration reads a Go duration; def applies when absent. Zero and negative
// durations are invalid: no attribute has a use for them (a zero poll or
// retry interval would spin, a zero timeout fail at once).
func (d *decoder) duration(at attrs, name string, def time.Duration) model.Value[time.Duration] {
	s := d.str(at, name)
	if !s.Set {
		return model.Defaulted(def, at.rng)
	}
	v := model.Value[time.Duration]{Set: true, Known: s.Known, Sensitive: s.Sensitive, Range: s.Range}
	if !s.Known {
		return v
	}
	dur, err := time.ParseDuration(s.V)
	if err != nil || dur <= 0 {
		d.add(diag.Errorf(diag.CodeInvalidValue, s.Range, "Invalid duration for "+name,
			"The %s attribute of %s must be a positive duration such as \"90s\", \"5m\" or \"720h\"; got %s.", name, at.what, shown(s)))
		return model.Value[time.Duration]{Range: s.Range}
	}
	v.V = dur
	return v
}

// size reads a byte size such as "64MiB"; def applies when absent.
func (d *decoder) size(at attrs, name string, def int64) model.Value[int64] {
	s := d.str(at, name)
	if !s.Set {
		return model.Defaulted(def, at.rng)
	}
	v := model.Value[int64]{Set: true, Known: s.Known, Sensitive: s.Sensitive, Range: s.Range}
	if !s.Known {
		return v
	}
	n, err := ParseSize(s.V)
	if err != nil {
		reason := err.Error()
		if s.Sensitive {
			reason = "got (sensitive value)" // the parse error quotes the value
		}
		d.add(diag.Errorf(diag.CodeInvalidValue, s.Range, "Invalid size for "+name,
			"The %s attribute of %s must be a size such as \"512KiB\", \"64MiB\" or \"1GiB\"; %s.", name, at.what, reason))
		return model.Value[int64]{Range: s.Range}
	}
	v.V = n
	return v
}

// path reads a path and resolves it against the declaring file's directory.
func (d *decoder) path(at attrs, name string) model.Value[string] {
	v := d.str(at, name)
	if v.Known && v.V == "" {
		d.add(diag.Errorf(diag.CodeInvalidValue, v.Range, "Empty path",
			"The %s attribute of %s must not be empty.", name, at.what))
		return model.Value[string]{Range: v.Range}
	}
	if v.Known && !filepath.IsAbs(v.V) {
		v.V = filepath.Join(filepath.Dir(v.Range.Filename), v.V)
	}
	return v
}

// shown renders a value for a message, hiding sensitive ones.
func shown(v model.Value[string]) string {
	if v.Sensitive {
		return redact.Shown
	}
	return fmt.Sprintf("%q", v.V)
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// sortedKeys returns m's keys in order, for stable suggestions.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
