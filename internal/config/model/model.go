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
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
)

// Value is an attribute value (see package value).
type Value[T any] = value.Value[T]

// Known returns a set, known value.
func Known[T any](v T, rng hcl.Range) Value[T] { return value.Known(v, rng) }

// Defaulted returns the documented default for an absent attribute.
func Defaulted[T any](v T, rng hcl.Range) Value[T] { return value.Defaulted(v, rng) }

// Ref is a reference to another object, as written (e.g. host.send_host).
type Ref struct {
	Kind  string    // block type expected, e.g. "host"
	Name  string    // label written; "" when Broken
	Range hcl.Range // the reference expression
	// Broken: the attribute is there but is not a reference to a Kind
	// (BP1001, already reported). What it was meant to name is unknown, so
	// no rule may judge the object as if the attribute were absent.
	Broken bool
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
	Parties          []*Party
	ReceiveLocations []*ReceiveLocation
	SendPorts        []*SendPort
	MessageBox       *MessageBox

	// Secrets are the known strings of the sensitive variables and of the
	// locals derived from them: what no output may show. A run scrubs its
	// logs and the reasons it stores of them, behind the marks that keep
	// derived values out of templates.
	Secrets []string

	// BrokenRefKinds are the block types that some reference was meant to
	// name but does not (undeclared, or the wrong kind: BP1001). An object
	// of such a type may be the one meant, so it is not reported unused
	// (BP5002): one typo gives one error, not a cascade.
	BrokenRefKinds map[string]bool
	// Skipped are the block types of which a block was left out of the
	// model (an invalid or duplicate name, reported): rules that judge
	// all blocks of a type together cannot judge that type.
	Skipped map[string]bool

	// Files are the parsed source files by name, for diagnostics snippets.
	Files map[string]*hcl.File
	// Sources are the texts of the configuration files as read, by name,
	// those refused before parsing (too deeply nested), which Files leaves
	// out, included: for converting diagnostics' byte offsets to positions.
	Sources map[string][]byte
	// VarFileSources are the texts of the --var-file files that parsed,
	// by name, for diagnostics snippets, with the value of every variable
	// that is sensitive or that no block declares (a misspelled secret's)
	// masked: '*' for each of its bytes but line ends.
	VarFileSources map[string][]byte
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
	// not processed (default 1 GiB).
	MaxMessageSize Value[int64]
	// AS2ID is the group's AS2 identifier (AS2-From of its sends, the
	// AS2-To it accepts); required when any as2 transport exists (BP7009).
	AS2ID Value[string]
	// SigningRollover is the planned change of signing certificate
	// (language §12); nil when the group has no signing_rollover block.
	SigningRollover *SigningRollover
	DeclRange       hcl.Range
}

// SigningRollover is a planned change of the group signing certificate:
// from At on, the certificate with Thumbprint signs instead of
// SigningCertificate.
type SigningRollover struct {
	Thumbprint Value[string] // the certificate attribute, as written
	// At is the instant of the switch; not Usable when absent, unknown
	// during validate, or not RFC 3339 (BP1004 reported).
	At Value[time.Time]
	// Range is the block's header, what BP3008 points at (the block is
	// to be removed).
	Range hcl.Range
}

// When is the instant of the switch; ok is false without a rollover (r
// nil) or without a usable at.
func (r *SigningRollover) When() (at time.Time, ok bool) {
	if r == nil || !r.At.Usable() {
		return time.Time{}, false
	}
	return r.At.V, true
}

// InEffect reports whether the rollover has taken place at now: the
// rollover certificate signs from its at on.
func (r *SigningRollover) InEffect(now time.Time) bool {
	at, ok := r.When()
	return ok && !now.Before(at)
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
	Name     string
	Path     Value[string] // resolved against the declaring file's directory
	Password Value[string] // Set=false: no password configured
	// PasswordInvalid: the password attribute is in error (reported), so
	// Password is unknown; no rule adds that it has no value (BP2005).
	PasswordInvalid bool
	DeclRange       hcl.Range
	Used            bool
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
	// DecryptionCertificate is the thumbprint of the certificate its
	// decrypting receive locations decrypt with (language §10).
	DecryptionCertificate Value[string]
	// PreviousDecryptionCertificates are the thumbprints of the
	// certificates it still decrypts with while partners switch to
	// DecryptionCertificate, as written, each with the range of its list
	// element; PreviousDecryptionCertificatesRange is the whole attribute
	// (the block when absent). Unknown during validate: Known is false
	// for the whole list (PreviousDecryptionCertificatesKnown).
	PreviousDecryptionCertificates      []Value[string]
	PreviousDecryptionCertificatesKnown bool
	PreviousDecryptionCertificatesRange hcl.Range
	DeclRange                           hcl.Range
	Used                                bool
}

// RunsOn reports whether h has an instance on server srv.
func (h *Host) RunsOn(srv *Server) bool {
	for _, in := range h.Instances {
		if in.Server == srv {
			return true
		}
	}
	return false
}

// Party is a trading partner: the certificates it signs with, and its AS2
// identifier (language §10).
type Party struct {
	Name  string
	AS2ID Value[string]
	// SigningCertificates are the thumbprints as written, each with the
	// range of its list element; SigningCertificatesRange is the whole
	// attribute (the block when absent). Unknown during validate: Known
	// is false for the whole list (SigningCertificatesKnown).
	SigningCertificates      []Value[string]
	SigningCertificatesKnown bool
	SigningCertificatesRange hcl.Range
	DeclRange                hcl.Range
	Used                     bool
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

// Pipeline is an ordered list of stages: encoder blocks (a send pipeline)
// or decoder blocks (a receive pipeline), never both (BP1004).
type Pipeline struct {
	Name   string
	Stages []*Component
	// Incomplete: a stage block was left out of Stages (an unknown
	// component, or a stage of the other kind), so the stages do not say
	// everything the pipeline was written to do.
	Incomplete bool
	DeclRange  hcl.Range
	Used       bool
}

// Needs merges what the stages need. A need that the pipeline's errors
// hide (a stage left out, a stage that could not be decoded) is
// MaybeNeeded, not NotNeeded: the rules skip what they cannot tell rather
// than conclude, from a typo, that the pipeline does not sign or encrypt.
func (p *Pipeline) Needs() component.Needs {
	var n component.Needs
	if p == nil {
		return n
	}
	if p.Incomplete {
		n = unknownNeeds()
	}
	for _, st := range p.Stages {
		n = n.Merge(st.Needs())
	}
	return n
}

// unknownNeeds are the needs of a component whose configuration is not
// known: it may need any key.
func unknownNeeds() component.Needs {
	return component.Needs{Signing: component.MaybeNeeded, Encryption: component.MaybeNeeded,
		Decryption: component.MaybeNeeded, PartySigning: component.MaybeNeeded}
}

// Decodes reports whether the pipeline is a receive pipeline: its stages
// are decoders. A pipeline without stages is neither, and fits anywhere.
func (p *Pipeline) Decodes() bool { return p.hasKind(component.Decoder) }

// Encodes reports whether the pipeline is a send pipeline: its stages are
// encoders.
func (p *Pipeline) Encodes() bool { return p.hasKind(component.Encoder) }

func (p *Pipeline) hasKind(k component.Kind) bool {
	if p == nil {
		return false
	}
	for _, st := range p.Stages {
		if st.Spec != nil && st.Spec.Kind == k {
			return true
		}
	}
	return false
}

// Signs reports whether a stage certainly signs. A stage whose signing
// depends on a value unknown during validate does not count: assuming it
// signs would invent errors.
func (p *Pipeline) Signs() bool { return p.Needs().Signing == component.Needed }

// Encrypts reports whether a stage certainly encrypts.
func (p *Pipeline) Encrypts() bool { return p.Needs().Encryption == component.Needed }

// Component is a transport or stage block, decoded with the spec its label
// names in the registry.
type Component struct {
	Spec *component.Spec
	// Config is the typed configuration Spec.Decode made; nil when the
	// block could not be decoded (the diagnostics say why).
	Config component.Config
	// Sensitive are the values of the block's attributes that derive from
	// sensitive values (a directory, an address): whatever a run prints
	// about the component shows (sensitive value) instead.
	Sensitive []string
	DeclRange hcl.Range
}

// Needs is what the component's configuration needs: nothing without a
// component, and MaybeNeeded for every key when its block could not be
// decoded (what it was written to do is not known, so rules must neither
// require its keys nor conclude that it needs none).
func (c *Component) Needs() component.Needs {
	if c == nil {
		return component.Needs{}
	}
	if c.Config == nil {
		return unknownNeeds()
	}
	return c.Config.Needs()
}

// ReceiveLocation brings messages in.
type ReceiveLocation struct {
	Name        string
	HostRef     Ref
	Host        *Host
	ContentType Value[string]
	Properties  Value[map[string]string]
	PipelineRef *Ref // nil: the body is stored as received
	Pipeline    *Pipeline
	Transport   *Component
	DeclRange   hcl.Range

	// SensitiveProperties are the sorted names of the Properties whose
	// values derive from a sensitive value: stored as such with every
	// message, never shown.
	SensitiveProperties []string

	// UnknownProperties is what is known of Properties when it is unknown
	// during validate because it depends on a variable without a value;
	// nil otherwise, and when Properties is in error (reported), which no
	// rule judges either.
	UnknownProperties *UnknownProperties
}

// UnknownProperties is what validate knows of a receive location's
// properties when they depend on a variable without a value. With
// properties = var.props nothing is known, not even the names; with
// { partner = "x", token = var.token } the names are, and partner's value.
type UnknownProperties struct {
	// NamesKnown: the names are those of Values and Unknown.
	NamesKnown bool
	// Values are the known values (when NamesKnown).
	Values map[string]string
	// Unknown are the sorted names whose values are unknown (when
	// NamesKnown).
	Unknown []string
}

// Needs is what the location's pipeline and transport need on the
// instance that runs the location.
func (r *ReceiveLocation) Needs() component.Needs {
	return r.Pipeline.Needs().Merge(r.Transport.Needs())
}

// SendPort subscribes to messages and delivers them.
type SendPort struct {
	Name                  string
	HostRef               Ref
	Host                  *Host
	PipelineRef           *Ref // nil: pass-through
	Pipeline              *Pipeline
	EncryptionCertificate Value[string]
	// Filter is the compiled filter; nil: subscribes to nothing.
	Filter message.Filter
	// FilterExpr is the filter as written, for the rules that read it.
	FilterExpr hcl.Expression
	// FilterSyntax is FilterExpr in the native syntax, for the rules
	// that walk it: a JSON file's filter is the template of a string
	// ("${...}"), whose expression this is. nil when there is none.
	FilterSyntax hclsyntax.Expression
	FilterRange  hcl.Range
	Transport    *Component
	Retry        Retry
	DeclRange    hcl.Range
}

// Needs is what the port's pipeline and transport need on the instance
// that runs the port.
func (p *SendPort) Needs() component.Needs {
	return p.Pipeline.Needs().Merge(p.Transport.Needs())
}

// Retry is a send port's retry policy.
type Retry struct {
	Attempts Value[int]
	Interval Value[time.Duration]
}

// MessageBox selects the durable store.
type MessageBox struct {
	SQLitePath  *Value[string]
	PostgresURL *Value[string]
	DeclRange   hcl.Range
}
