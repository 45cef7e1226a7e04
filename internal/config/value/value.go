// Package value is an attribute value as the configuration language decodes
// it: present or absent, known or (during validate) not, sensitive or not,
// with the source range a diagnostic points at. The model and the
// components' decoded blocks share it.
package value

import "github.com/hashicorp/hcl/v2"

// Value is an attribute value that may be absent or, during validate, unknown
// because it depends on a variable or env() that has no value yet.
type Value[T any] struct {
	V         T
	Set       bool      // the attribute is present (or a default was applied: see Default)
	Known     bool      // V holds the real value
	Default   bool      // V is the documented default, not written by the user
	Sensitive bool      // derived from a sensitive variable: never print V
	Range     hcl.Range // the attribute's expression, or the enclosing block when defaulted
}

// Usable reports whether V can be relied on: present and known.
func (v Value[T]) Usable() bool { return v.Set && v.Known }

// Known returns a set, known value.
func Known[T any](v T, rng hcl.Range) Value[T] {
	return Value[T]{V: v, Set: true, Known: true, Range: rng}
}

// Defaulted returns the documented default for an absent attribute.
func Defaulted[T any](v T, rng hcl.Range) Value[T] {
	return Value[T]{V: v, Set: true, Known: true, Default: true, Range: rng}
}
