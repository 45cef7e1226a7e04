package lang

import (
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/config/suggest"
)

// ref reads an attribute that names another object, as KIND.NAME. The kind
// is checked here; whether NAME exists is checked by resolve, once every file
// has been read. An invalid reference is reported and returned Broken, with
// ok false.
func (d *decoder) ref(a *hcl.Attribute, kind string) (model.Ref, bool) {
	broken := model.Ref{Kind: kind, Range: a.Expr.Range(), Broken: true}
	tr, ds := hcl.AbsTraversalForExpr(a.Expr)
	if ds.HasErrors() || len(tr) != 2 {
		d.add(diag.Errorf(diag.CodeUndeclared, a.Expr.Range(), "Invalid reference",
			"The %s attribute takes a reference to a %s, written %s.NAME (no quotes).", a.Name, kind, kind))
		d.brokenRef(kind)
		return broken, false
	}
	step, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		d.add(diag.Errorf(diag.CodeUndeclared, a.Expr.Range(), "Invalid reference",
			"The %s attribute takes a reference to a %s, written %s.NAME.", a.Name, kind, kind))
		d.brokenRef(kind)
		return broken, false
	}
	root := tr.RootName()
	if root != kind {
		// A misspelled kind (certificate_stor.x) gets a hint; a
		// reference to another kind of object does not.
		hint := ""
		if !referenceKinds[root] {
			hint = suggest.Hint(root, []string{kind}, "%s."+step.Name)
		}
		d.add(diag.Errorf(diag.CodeUndeclared, a.Expr.Range(), "Reference to the wrong kind of object",
			"The %s attribute takes a reference to a %s (%s.NAME); %s.%s is not one.%s", a.Name, kind, kind, root, step.Name, hint))
		d.brokenRef(kind)
		return broken, false
	}
	return model.Ref{Kind: kind, Name: step.Name, Range: a.Expr.Range()}, true
}

// brokenRef records that a reference meant to name a kind of object does
// not (see model.Config.BrokenRefKinds).
func (d *decoder) brokenRef(kind string) {
	if d.cfg.BrokenRefKinds == nil {
		d.cfg.BrokenRefKinds = map[string]bool{}
	}
	d.cfg.BrokenRefKinds[kind] = true
}

// resolve links references to the objects they name, reporting undeclared
// ones (BP1001) and marking what is used (for BP5002).
func (d *decoder) resolve() {
	c := d.cfg
	stores := index(c.Stores, func(s *model.CertificateStore) string { return s.Name })
	accounts := index(c.Accounts, func(a *model.ServiceAccount) string { return a.Name })
	servers := index(c.Servers, func(s *model.Server) string { return s.Name })
	hosts := index(c.Hosts, func(h *model.Host) string { return h.Name })
	pipelines := index(c.Pipelines, func(p *model.Pipeline) string { return p.Name })
	parties := index(c.Parties, func(p *model.Party) string { return p.Name })

	for _, a := range c.Accounts {
		a.PersonalStore = lookup(d, stores, a.PersonalStoreRef)
	}
	for _, s := range c.Servers {
		if s.OtherPeopleStoreRef != nil {
			s.OtherPeopleStore = lookup(d, stores, *s.OtherPeopleStoreRef)
		}
	}
	for _, h := range c.Hosts {
		for _, in := range h.Instances {
			in.Server = lookup(d, servers, in.ServerRef)
			in.Account = lookup(d, accounts, in.AccountRef)
		}
	}
	for _, r := range c.ReceiveLocations {
		r.Host = lookup(d, hosts, r.HostRef)
		if r.PipelineRef != nil {
			r.Pipeline = lookup(d, pipelines, *r.PipelineRef)
			d.checkPipelineUse(r.Pipeline, r.PipelineRef, "receive location "+quote(r.Name), true)
		}
	}
	for _, p := range c.SendPorts {
		p.Host = lookup(d, hosts, p.HostRef)
		if p.PipelineRef != nil {
			p.Pipeline = lookup(d, pipelines, *p.PipelineRef)
			d.checkPipelineUse(p.Pipeline, p.PipelineRef, "send port "+quote(p.Name), false)
		}
	}
	for _, r := range d.partyRefs {
		if p := lookup(d, parties, r); p != nil {
			p.Used = true
		}
	}
	d.markUsed()
}

// markUsed marks every object something refers to (BP5002 reports the rest).
func (d *decoder) markUsed() {
	for _, a := range d.cfg.Accounts {
		if a.PersonalStore != nil {
			a.PersonalStore.Used = true
		}
	}
	for _, s := range d.cfg.Servers {
		if s.OtherPeopleStore != nil {
			s.OtherPeopleStore.Used = true
		}
	}
	for _, h := range d.cfg.Hosts {
		for _, in := range h.Instances {
			if in.Server != nil {
				in.Server.Used = true
			}
			if in.Account != nil {
				in.Account.Used = true
			}
		}
	}
	for _, r := range d.cfg.ReceiveLocations {
		if r.Host != nil {
			r.Host.Used = true
		}
		if r.Pipeline != nil {
			r.Pipeline.Used = true
		}
	}
	for _, p := range d.cfg.SendPorts {
		if p.Host != nil {
			p.Host.Used = true
		}
		if p.Pipeline != nil {
			p.Pipeline.Used = true
		}
	}
}

func index[T any](xs []*T, name func(*T) string) map[string]*T {
	m := make(map[string]*T, len(xs))
	for _, x := range xs {
		m[name(x)] = x
	}
	return m
}

func lookup[T any](d *decoder, m map[string]*T, r model.Ref) *T {
	if r.Name == "" {
		return nil // invalid reference, already reported
	}
	if x, ok := m[r.Name]; ok {
		return x
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names) // a stable suggestion whatever the map order
	d.add(diag.Errorf(diag.CodeUndeclared, r.Range, "Reference to undeclared "+r.Kind,
		"%s.%s is not declared: no %s block is named %q.%s", r.Kind, r.Name, r.Kind, r.Name,
		suggest.Hint(r.Name, names, r.Kind+".%s")))
	d.brokenRef(r.Kind)
	return nil
}

func quote(s string) string { return strconv.Quote(s) }

// convertString renders a primitive value as a string.
func convertString(v cty.Value) (string, error) {
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", err
	}
	return s.AsString(), nil
}
