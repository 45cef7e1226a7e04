// Package component defines bizpipe's plug-in points and their registry.
//
// A component is a transport (how messages come in or go out: file, http,
// ...) or a pipeline stage (what is done to them: the smime encoder on the
// way out, the smime decoder on the way in, ...).
// Each lives in a package of its own and declares one Spec: its block's
// schema (attributes with types, defaults, enums and documentation), how the
// decoded block becomes the component's typed configuration, and what that
// configuration needs and builds. Everything else derives from the Spec:
//
//   - the configuration language decodes the component's block with it, and
//     reports unknown, missing and invalid attributes (BP1004);
//   - the validation rules ask the configuration which keys it needs (Needs)
//     and apply the reachability rules to every instance that runs it;
//   - the live rules check what a configuration that implements LiveConfig
//     uses on the server (directories, TLS files), for every instance on
//     it;
//   - the language reference in docs/ is generated from it;
//   - the runner builds the run-time receiver, sender or stage from it, with
//     a provision and close lifecycle.
//
// A Registry holds the specs a program knows. There is no global registry:
// the program builds one (package registry holds the built-in components)
// and hands it to the language front end, the rules, the docs generator and
// the runner, so that a test can add a component of its own.
package component

import (
	"fmt"
	"strings"
	"time"
)

// Kind is where a component's block appears.
type Kind uint8

// Component kinds.
const (
	// ReceiveTransport: transport "NAME" { ... } in a receive_location.
	ReceiveTransport Kind = iota + 1
	// SendTransport: transport "NAME" { ... } in a send_port.
	SendTransport
	// Encoder: encoder "NAME" { ... } in a (send) pipeline.
	Encoder
	// Decoder: decoder "NAME" { ... } in a (receive) pipeline.
	Decoder
)

// Block is the block type that declares a component of this kind.
func (k Kind) Block() string {
	switch k {
	case ReceiveTransport, SendTransport:
		return "transport"
	case Encoder:
		return "encoder"
	case Decoder:
		return "decoder"
	}
	return ""
}

// String names the kind as the documentation does.
func (k Kind) String() string {
	switch k {
	case ReceiveTransport:
		return "receive transport"
	case SendTransport:
		return "send transport"
	case Encoder:
		return "encoder"
	case Decoder:
		return "decoder"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Kinds lists every kind, in documentation order.
func Kinds() []Kind { return []Kind{ReceiveTransport, SendTransport, Encoder, Decoder} }

// Spec declares a component.
type Spec struct {
	Kind Kind
	// Name is the block label: transport "file", encoder "smime".
	Name string
	// Summary is one sentence; Doc is the reference text (Markdown
	// paragraphs), both for the generated documentation.
	Summary string
	Doc     string
	// Attributes and Blocks are the block's schema.
	Attributes []Attribute
	Blocks     []BlockSpec
	// Example is an HCL snippet of the block for the documentation.
	Example string
	// Decode makes the typed configuration from the decoded block. The
	// front end has already checked every attribute against the schema
	// (types, enums, required, defaults); Decode reads them through b and
	// may report further problems with b.Errorf. It runs during validate,
	// when values may be unknown (see model.Value).
	Decode func(b *Body) Config
}

// Type is an attribute's value type.
type Type uint8

// Attribute types.
const (
	// String is any string.
	String Type = iota + 1
	// Bool is true or false.
	Bool
	// Int is a whole number.
	Int
	// Duration is a positive Go duration string: "90s", "5m", "720h".
	Duration
	// Size is a byte size: "512KiB", "64MiB", "1GiB".
	Size
	// Path is a file or directory path, relative to the declaring file's
	// directory.
	Path
	// Enum is one of Attribute.Values.
	Enum
	// Template is a string template over the message object (§3.1),
	// compiled to a message.Template.
	Template
	// TemplateMap is a map of constant names to templates (headers).
	TemplateMap
	// StringMap is a map of strings.
	StringMap
	// PartyRef is a reference to a party block, written party.NAME (an
	// as2 transport's partner); it decodes to the party's name, and the
	// front end reports a party that is not declared (BP1001).
	PartyRef
)

// String names the type as the documentation does.
func (t Type) String() string {
	switch t {
	case String:
		return "string"
	case Bool:
		return "bool"
	case Int:
		return "number"
	case Duration:
		return "duration"
	case Size:
		return "size"
	case Path:
		return "path"
	case Enum:
		return "enum"
	case Template:
		return "template"
	case TemplateMap:
		return "map of templates"
	case StringMap:
		return "map of strings"
	case PartyRef:
		return "reference to party"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Attribute is one attribute of a component's block.
type Attribute struct {
	Name     string
	Type     Type
	Required bool
	// Default applies when the attribute is absent: a string (String, Path,
	// Enum, and Template, which is then compiled as a template), a bool, an
	// int, a time.Duration or an int64 byte size, as Type says. nil: none.
	Default any
	// Values are an Enum's allowed values.
	Values []string
	// Doc says what the attribute does, for the reference (one or two
	// sentences, Markdown).
	Doc string
	// Credential is the part of the value that is a credential, which the
	// configuration's diagnostics and bizpipe fmt --diff never show as
	// written (lang.LiteralSecrets).
	Credential Credential
}

// Credential is what part of an attribute's value is a credential.
type Credential uint8

// Credential parts.
const (
	// NoCredential: the value is shown.
	NoCredential Credential = iota
	// CredentialURLPassword: the password of a URL
	// (https://user:PASSWORD@host/), the rest of it being shown.
	CredentialURLPassword
	// CredentialHeaders: the values of a map of header fields whose name
	// says they carry one (CredentialHeader).
	CredentialHeaders
)

// CredentialHeader reports whether a header field named name carries a
// credential: Authorization, Proxy-Authorization and Cookie, and a name
// that says it is a key, token, secret or password (X-API-Key,
// X-Auth-Token), in any case.
func CredentialHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie":
		return true
	}
	for _, part := range []string{"api-key", "apikey", "api_key", "token", "secret", "password"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// BlockSpec is a nested block (at most one of each type), such as tls { }.
type BlockSpec struct {
	Type       string
	Doc        string
	Attributes []Attribute
}

// DefaultString renders the default for the documentation ("" when none).
func (a Attribute) DefaultString() string {
	switch v := a.Default.(type) {
	case nil:
		return ""
	case string:
		return fmt.Sprintf("%q", v)
	case time.Duration:
		return fmt.Sprintf("%q", v.String())
	case int64:
		if a.Type == Size {
			return fmt.Sprintf("%q", FormatSize(v))
		}
		return fmt.Sprint(v)
	default:
		return fmt.Sprint(v)
	}
}

// FormatSize renders a byte count the way sizes are written: the largest
// binary unit that divides it.
func FormatSize(n int64) string {
	units := []struct {
		name  string
		bytes int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if n >= u.bytes && n%u.bytes == 0 {
			return fmt.Sprintf("%d%s", n/u.bytes, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// validate reports a malformed spec: a programming error, found when the
// spec is registered.
func (s *Spec) validate() error {
	switch {
	case s.Kind.Block() == "":
		return fmt.Errorf("component %q: unknown kind %d", s.Name, s.Kind)
	case !identifier(s.Name):
		return fmt.Errorf("%s %q: the name must be an identifier", s.Kind, s.Name)
	case s.Decode == nil:
		return fmt.Errorf("%s %q: Decode is required", s.Kind, s.Name)
	case s.Summary == "":
		return fmt.Errorf("%s %q: Summary is required (the reference shows it)", s.Kind, s.Name)
	}
	if err := validateAttributes(s.Attributes); err != nil {
		return fmt.Errorf("%s %q: %w", s.Kind, s.Name, err)
	}
	seen := map[string]bool{}
	for _, b := range s.Blocks {
		if !identifier(b.Type) || seen[b.Type] {
			return fmt.Errorf("%s %q: block %q: invalid or duplicate type", s.Kind, s.Name, b.Type)
		}
		seen[b.Type] = true
		if err := validateAttributes(b.Attributes); err != nil {
			return fmt.Errorf("%s %q block %q: %w", s.Kind, s.Name, b.Type, err)
		}
	}
	return nil
}

func validateAttributes(as []Attribute) error {
	seen := map[string]bool{}
	for _, a := range as {
		if !identifier(a.Name) || seen[a.Name] {
			return fmt.Errorf("attribute %q: invalid or duplicate name", a.Name)
		}
		seen[a.Name] = true
		if a.Doc == "" {
			return fmt.Errorf("attribute %q: Doc is required (the reference shows it)", a.Name)
		}
		if a.Required && a.Default != nil {
			return fmt.Errorf("attribute %q: required and defaulted", a.Name)
		}
		if (a.Type == Enum) != (len(a.Values) > 0) {
			return fmt.Errorf("attribute %q: an enum needs Values, and only an enum has them", a.Name)
		}
		if !defaultFits(a) {
			return fmt.Errorf("attribute %q: default %v (%T) does not fit type %s", a.Name, a.Default, a.Default, a.Type)
		}
	}
	return nil
}

func defaultFits(a Attribute) bool {
	switch v := a.Default.(type) {
	case nil:
		return true
	case string:
		switch a.Type {
		case String, Path, Template:
			return true
		case Enum:
			for _, x := range a.Values {
				if x == v {
					return true
				}
			}
		}
		return false
	case bool:
		return a.Type == Bool
	case int:
		return a.Type == Int
	case time.Duration:
		return a.Type == Duration
	case int64:
		return a.Type == Size
	}
	return false
}

func identifier(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && (c == '-' || '0' <= c && c <= '9'):
		default:
			return false
		}
	}
	return true
}

// DefaultMaxMessageSize is the group's max_message_size default, the
// largest message body processed; transports that bound a body default to
// it too. Bodies stream, so the size costs disk, not memory: the box keeps
// the body and a file delivery its staged copy, twice the size per message
// in flight. 1 GiB takes the largest EDI batches partners exchange, and
// still stops a runaway or hostile upload before it fills a disk.
const DefaultMaxMessageSize = 1 << 30
