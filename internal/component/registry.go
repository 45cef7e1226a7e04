package component

import (
	"cmp"
	"fmt"
	"slices"
)

// Registry is the set of components a program knows, by kind and name. It
// is built once at start and read concurrently afterwards; Register is not
// safe to call concurrently with anything else.
type Registry struct {
	specs map[Kind]map[string]*Spec
}

// NewRegistry returns a registry of specs; it fails on a malformed spec or
// on two specs of one kind and name.
func NewRegistry(specs ...*Spec) (*Registry, error) {
	r := &Registry{specs: map[Kind]map[string]*Spec{}}
	for _, s := range specs {
		if err := r.Register(s); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds a spec.
func (r *Registry) Register(s *Spec) error {
	if err := s.validate(); err != nil {
		return err
	}
	byName := r.specs[s.Kind]
	if byName == nil {
		byName = map[string]*Spec{}
		r.specs[s.Kind] = byName
	}
	if _, dup := byName[s.Name]; dup {
		return fmt.Errorf("%s %q is registered twice", s.Kind, s.Name)
	}
	byName[s.Name] = s
	return nil
}

// Lookup returns the spec of a kind and name.
func (r *Registry) Lookup(k Kind, name string) (*Spec, bool) {
	s, ok := r.specs[k][name]
	return s, ok
}

// Names returns the names of a kind's components, sorted.
func (r *Registry) Names(k Kind) []string {
	names := make([]string, 0, len(r.specs[k]))
	for n := range r.specs[k] {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Specs returns every spec, by kind (in Kinds order), then name.
func (r *Registry) Specs() []*Spec {
	var out []*Spec
	for _, k := range Kinds() {
		for _, s := range r.specs[k] {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b *Spec) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return out
}
