// Package model is the typed form of a bizpipe configuration.
//
// lang decodes HCL files into a *Config; validation rules and the run-time
// engine read it. Every object keeps the source ranges a diagnostic needs to
// point at the construct a user must change. References between objects are
// resolved to pointers; a pointer is nil when its reference could not be
// resolved (lang has then already reported BP1001).
package model

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

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

// Ref is a reference to another object, as written (e.g. host.send_host).
type Ref struct {
	Kind  string    // block type written, e.g. "host"
	Name  string    // label written
	Range hcl.Range // the reference expression
}

// Config is a whole configuration: all files of the directories and files
// named on the command line.
type Config struct {
	Group            *Group
	Groups           []*Group // every group block; more than one is BP1003
	Variables        []*Variable
	Locals           []*Local
	Stores           []*CertificateStore
	Accounts         []*ServiceAccount
	Servers          []*Server
	Hosts            []*Host
	Pipelines        []*Pipeline
	ReceiveLocations []*ReceiveLocation
	SendPorts        []*SendPort
	MessageBox       *MessageBox

	// Files are the parsed source files by name, for diagnostics snippets.
	Files map[string]*hcl.File
	// EvalContext has var, local and the functions; filters and templates are
	// evaluated with it plus the message object. It is per-file because file()
	// resolves against the declaring file's directory: look it up by filename.
	EvalContexts map[string]*hcl.EvalContext
}

// EvalContextFor returns the evaluation context for expressions in filename.
func (c *Config) EvalContextFor(filename string) *hcl.EvalContext {
	return c.EvalContexts[filename]
}

// Group is the BizTalk group: it owns the signing certificate.
type Group struct {
	Name                     string
	SigningCertificate       Value[string] // thumbprint as written
	CertificateExpiryWarning Value[time.Duration]
	// MaxMessageSize bounds a message's body: a larger one is suspended,
	// not processed (default 256 MiB).
	MaxMessageSize Value[int64]
	DeclRange      hcl.Range
}

// Variable is an input variable.
type Variable struct {
	Name        string
	Type        cty.Type
	Default     cty.Value // cty.NilVal when absent
	Description string
	Sensitive   bool
	Value       cty.Value // resolved value (unknown during validate when none given)
	DeclRange   hcl.Range
}

// Local is one named local value.
type Local struct {
	Name      string
	Expr      hcl.Expression
	Value     cty.Value
	DeclRange hcl.Range
}

// CertificateStore is a directory of certificates and keys.
type CertificateStore struct {
	Name      string
	Path      Value[string] // resolved against the declaring file's directory
	Password  Value[string] // Set=false: no password configured
	DeclRange hcl.Range
	Used      bool
}

// ServiceAccount is the identity a host instance runs as.
type ServiceAccount struct {
	Name             string
	User             Value[string]
	PersonalStoreRef Ref
	PersonalStore    *CertificateStore
	DeclRange        hcl.Range
	Used             bool
}

// Server is a machine that runs host instances.
type Server struct {
	Name                string
	OtherPeopleStoreRef *Ref // nil when not declared
	OtherPeopleStore    *CertificateStore
	DeclRange           hcl.Range
	Used                bool
}

// Host is a logical host; its instances run on servers.
type Host struct {
	Name      string
	Instances []*Instance
	DeclRange hcl.Range
	Used      bool
}

// Instance is a host instance: a host on one server, as one service account.
type Instance struct {
	Host       *Host
	ServerRef  Ref
	Server     *Server
	AccountRef Ref
	Account    *ServiceAccount
	DeclRange  hcl.Range // the whole instance block, header to closing brace
}

// Pipeline is an ordered list of encoder stages.
type Pipeline struct {
	Name      string
	Encoders  []*Encoder
	DeclRange hcl.Range
	Used      bool
}

// Signs reports whether any stage signs.
func (p *Pipeline) Signs() bool {
	for _, e := range p.Encoders {
		if e.SMIME != nil && e.SMIME.Signs() {
			return true
		}
	}
	return false
}

// Encrypts reports whether any stage encrypts.
func (p *Pipeline) Encrypts() bool {
	for _, e := range p.Encoders {
		if e.SMIME != nil && e.SMIME.Encrypt.Known && e.SMIME.Encrypt.V {
			return true
		}
	}
	return false
}

// Encoder is one pipeline stage. Type is the block label ("smime"); exactly
// one of the type-specific fields is set.
type Encoder struct {
	Type      string
	SMIME     *SMIMEEncoder
	DeclRange hcl.Range
}

// SMIMEEncoder signs and/or encrypts (§6).
type SMIMEEncoder struct {
	Signature               Value[string] // none | clear | opaque
	Digest                  Value[string] // sha256 | sha384 | sha512 | sha1
	IncludeCertificate      Value[bool]
	Encrypt                 Value[bool]
	EncryptionAlgorithm     Value[string]
	ContentTransferEncoding Value[string]
}

// Signs reports whether this stage signs. An unknown signature mode counts as
// not signing: validate cannot tell, and assuming it signs would invent errors.
func (s *SMIMEEncoder) Signs() bool {
	return s.Signature.Known && s.Signature.V != "none"
}

// ReceiveLocation brings messages in.
type ReceiveLocation struct {
	Name        string
	HostRef     Ref
	Host        *Host
	ContentType Value[string]
	Properties  Value[map[string]string]
	Transport   *Transport
	DeclRange   hcl.Range

	// SensitiveProperties are the sorted names of the Properties whose
	// values derive from a sensitive value: stored as such with every
	// message, never shown.
	SensitiveProperties []string
}

// SendPort subscribes to messages and delivers them.
type SendPort struct {
	Name                  string
	HostRef               Ref
	Host                  *Host
	PipelineRef           *Ref // nil: pass-through
	Pipeline              *Pipeline
	EncryptionCertificate Value[string]
	Filter                hcl.Expression // nil: subscribes to nothing
	FilterRange           hcl.Range
	Transport             *Transport
	Retry                 Retry
	DeclRange             hcl.Range
}

// Retry is a send port's retry policy.
type Retry struct {
	Attempts Value[int]
	Interval Value[time.Duration]
}

// Transport is a receive or send transport block. Kind is its label.
type Transport struct {
	Kind      string // "file" | "http"
	File      *FileTransport
	HTTP      *HTTPTransport
	DeclRange hcl.Range
}

// FileTransport is the file adapter, receive or send side.
type FileTransport struct {
	Path Value[string] // resolved against the declaring file's directory
	// Receive side.
	Pattern      Value[string]
	PollInterval Value[time.Duration]
	// Send side. FileName is a template over the message object.
	FileName hcl.Expression
	CopyMode Value[string]
}

// HTTPTransport is the HTTP adapter, receive or send side.
type HTTPTransport struct {
	// Receive side.
	Listen  Value[string]
	Path    Value[string]
	MaxBody Value[int64]
	// Send side. URL and header values are templates over the message object.
	URL     hcl.Expression
	Headers map[string]hcl.Expression
	Timeout Value[time.Duration]
	TLS     *TLSConfig
}

// TLSConfig is the client TLS material of an HTTP send transport.
type TLSConfig struct {
	CAFile    Value[string]
	CertFile  Value[string]
	KeyFile   Value[string]
	DeclRange hcl.Range
}

// MessageBox selects the durable store.
type MessageBox struct {
	SQLitePath  *Value[string]
	PostgresURL *Value[string]
	DeclRange   hcl.Range
}
