// Package message is what the engine knows of a message while it routes and
// delivers it, and the compiled forms of the configuration's expressions
// that read it: filters and templates (the language's §3.1 message object).
//
// It sits between the configuration front end, which compiles filters and
// templates from HCL, and the run-time components, which evaluate them: the
// components import this package, never the front end.
package message

import (
	"time"

	"github.com/bizpipe/bizpipe/internal/redact"
)

// Message is a stored message's metadata, as filters and templates see it.
type Message struct {
	ID              string
	ReceiveLocation string
	FileName        string // original base name; "" when not from a file
	ContentType     string
	Size            int64
	ReceivedAt      time.Time
	Properties      map[string]string
	// SensitiveProperties names the properties whose values derive from a
	// sensitive value: usable by filters and templates, never shown.
	SensitiveProperties []string
	// Party is the party whose signature a decoder verified (language
	// §10); "" when none did.
	Party string
}

// Text is the result of a template: a string, and where its parts came
// from. A part derived from a sensitive value must never be shown; a part
// derived from what the message's sender chose (its file name, its content
// type) must not decide where a message goes (a URL's scheme and host).
type Text struct {
	Value string
	// Sensitive reports that some of Value derives from a sensitive value
	// (a sensitive variable, or a message property set from one).
	// SensitiveAt is where the first such part starts: the bytes before it
	// derive from no sensitive value.
	Sensitive   bool
	SensitiveAt int
	// FromSender reports that some of Value derives from what the
	// message's sender chose; FromSenderAt is where the first such part
	// starts.
	FromSender   bool
	FromSenderAt int
}

// Shown is t as it may appear in logs, errors and history.
func (t Text) Shown() string {
	if t.Sensitive {
		return Redacted
	}
	return t.Value
}

// Redacted stands for a sensitive value in every output.
const Redacted = redact.Shown

// Template is a compiled template over the message (a transport's
// file_name, url or header value).
type Template interface {
	Eval(m *Message) (Text, error)
}

// Constant is a Template that can tell its value before any message
// exists, when it reads nothing of the message: a transport checks a
// constant url at validation rather than at the first delivery.
type Constant interface {
	Template
	// Constant returns the template's value, and false when it reads the
	// message or is sensitive (a check would quote it).
	Constant() (string, bool)
	// ConstantText is Constant for a sensitive value too, marked so: a
	// check may judge it as long as it never quotes it.
	ConstantText() (Text, bool)
}

// Prefixed is a Template that can tell, before any message exists, the
// text every one of its values starts with (its leading literal): a
// transport judges a url's scheme by it when the rest reads the message.
type Prefixed interface {
	Template
	// LiteralPrefix returns that text, "" when the template starts with
	// an interpolation.
	LiteralPrefix() string
}

// Literal is a Template that can tell, before any message exists, text
// every one of its values holds: a transport judges a file_name by it
// ("${var.dir}/${message.id}" always has a path separator).
type Literal interface {
	Template
	// LiteralParts returns the template's literal texts, between its
	// interpolations; none when it is not a template of text and
	// interpolations.
	LiteralParts() []string
}

// Filter is a compiled send-port filter.
type Filter interface {
	Match(m *Message) (bool, error)
}

// Partial is what is known, before any message exists, of every message a
// receive location will receive: its receive_location and, when
// PropertiesKnown, its properties. Everything else (id, size, content
// type, party, ...) is decided by the sender, a decoder or the clock.
type Partial struct {
	ReceiveLocation string
	Properties      map[string]string
	PropertiesKnown bool
	// SensitiveProperties are not reasoned about: their values count as
	// unknown.
	SensitiveProperties []string
	// UnknownProperties are set, with values unknown during validate (a
	// variable without a value); Properties leaves them out.
	UnknownProperties []string
}

// StaticFilter is a Filter that can be judged before any message exists,
// for validation.
type StaticFilter interface {
	Filter
	// MayMatch reports whether the filter may hold for a message of which
	// p is all that is known: false only when it is certainly false,
	// whatever the rest turns out to be. A filter that cannot be
	// evaluated (a property the message lacks) may match as far as
	// MayMatch says: other rules report such filters.
	MayMatch(p Partial) bool
	// MustMatch reports whether the filter holds for every message of
	// which p is all that is known: true only when it is certainly
	// true, whatever the rest turns out to be.
	MustMatch(p Partial) bool
}
