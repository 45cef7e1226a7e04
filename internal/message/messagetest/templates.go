// Package messagetest has message templates for tests of what reads them
// (the transports' validation of file names, urls and headers), each
// showing validate only what a compiled template of its kind shows.
package messagetest

import (
	"strings"

	"github.com/bizpipe/bizpipe/internal/message"
)

// Constant is a template that reads nothing of the message: its value is
// known at validate, and quoted there unless it is sensitive.
type Constant message.Text

// Text is a Constant of the plain text s.
func Text(s string) Constant { return Constant{Value: s} }

// Eval returns the constant.
func (c Constant) Eval(*message.Message) (message.Text, error) { return message.Text(c), nil }

// Constant returns the value, unless it is sensitive.
func (c Constant) Constant() (string, bool) { return c.Value, !c.Sensitive }

// ConstantText returns the value, sensitive or not.
func (c Constant) ConstantText() (message.Text, bool) { return message.Text(c), true }

// Prefixed is a template that reads the message (its id) after its
// literal text, which validate knows.
type Prefixed string

// Eval returns the prefix and the message's id.
func (p Prefixed) Eval(m *message.Message) (message.Text, error) {
	return message.Text{Value: string(p) + m.ID}, nil
}

// LiteralPrefix returns the prefix.
func (p Prefixed) LiteralPrefix() string { return string(p) }

// Literal is a template that reads the message (its id) around each of its
// literal texts, which validate knows: the id, then each part followed by
// the id.
type Literal []string

// Eval returns the texts around the message's id (Value).
func (l Literal) Eval(m *message.Message) (message.Text, error) {
	return message.Text{Value: l.Value(m.ID)}, nil
}

// LiteralParts returns the literal texts.
func (l Literal) LiteralParts() []string { return l }

// Value is what l makes of a message whose id is id.
func (l Literal) Value(id string) string { return id + strings.Join(l, id) }
