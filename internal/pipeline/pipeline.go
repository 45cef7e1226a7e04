// Package pipeline runs a send port's encoder stages (spec §3 pipeline, §6).
//
// Stage types form a registry keyed by the encoder block's label, so a new
// encoder (AS2, compression) plugs in with a Factory and a model field,
// without touching the runner.
package pipeline

import (
	"crypto/x509"
	"fmt"
	"io"
	"strings"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// Field is a top-level header field of an entity.
type Field = smime.HeaderField

// Entity is what flows between stages and out to the transport.
type Entity struct {
	// Header holds the top-level header fields: just Content-Type for a raw
	// message, the MIME headers once a stage has produced an entity.
	Header []Field
	// Body is the raw message, or the entity's body.
	Body []byte
	// Data is what a file transport writes: the whole entity (headers,
	// blank line, body) once a stage produced one, else the raw body.
	Data []byte
	// MIME reports that a stage produced a MIME entity.
	MIME bool
}

// ContentType returns the Content-Type header field's value.
func (e Entity) ContentType() string {
	for _, f := range e.Header {
		if strings.EqualFold(f.Name, "Content-Type") {
			return f.Value
		}
	}
	return ""
}

// Raw is a message that no stage has touched yet.
func Raw(contentType string, body []byte) Entity {
	return Entity{Header: []Field{{Name: "Content-Type", Value: contentType}}, Body: body, Data: body}
}

// Keys are the certificates a port's stages use on the instance that runs
// them: the group signing identity from the service account's personal
// store, and the partner certificate from the server's other-people store.
type Keys struct {
	Signer    *smime.Signer
	Recipient *x509.Certificate
}

// Stage is one encoder stage. Implementations are immutable and safe for
// concurrent use.
type Stage interface {
	Apply(rand io.Reader, in Entity) (Entity, error)
}

// Factory builds a stage from its configuration block and keys.
type Factory func(enc *model.Component, keys Keys) (Stage, error)

// Registry maps encoder types (block labels) to factories.
type Registry map[string]Factory

// DefaultRegistry returns the built-in stage types.
func DefaultRegistry() Registry {
	return Registry{"smime": newSMIMEStage}
}

// Pipeline is a built, ready-to-run pipeline.
type Pipeline struct {
	Name   string
	stages []Stage
}

// Build instantiates every stage of p with keys. A nil p is a pass-through.
func (r Registry) Build(p *model.Pipeline, keys Keys) (*Pipeline, error) {
	if p == nil {
		return &Pipeline{}, nil
	}
	out := &Pipeline{Name: p.Name}
	for i, enc := range p.Stages {
		f, ok := r[enc.Spec.Name]
		if !ok {
			return nil, fmt.Errorf("pipeline %q stage %d: unknown encoder type %q", p.Name, i+1, enc.Spec.Name)
		}
		st, err := f(enc, keys)
		if err != nil {
			return nil, fmt.Errorf("pipeline %q stage %d (%s): %w", p.Name, i+1, enc.Spec.Name, err)
		}
		out.stages = append(out.stages, st)
	}
	return out, nil
}

// Run applies every stage in order.
func (p *Pipeline) Run(rand io.Reader, in Entity) (Entity, error) {
	cur := in
	for i, st := range p.stages {
		next, err := st.Apply(rand, cur)
		if err != nil {
			return Entity{}, fmt.Errorf("pipeline %q stage %d: %w", p.Name, i+1, err)
		}
		cur = next
	}
	return cur, nil
}

// smimeStage adapts internal/stage/smime to a Stage.
type smimeStage struct {
	enc       *smime.Encoder
	signer    *smime.Signer
	recipient *x509.Certificate
}

func newSMIMEStage(enc *model.Component, keys Keys) (Stage, error) {
	c, ok := enc.Config.(*smime.Config)
	if !ok {
		return nil, fmt.Errorf("encoder has no smime settings")
	}
	o, err := c.Options()
	if err != nil {
		return nil, err
	}
	e, err := smime.NewEncoder(o)
	if err != nil {
		return nil, err
	}
	if e.Signs() && keys.Signer == nil {
		return nil, fmt.Errorf("signs, but no signing certificate with a private key was found")
	}
	if e.Encrypts() && keys.Recipient == nil {
		return nil, fmt.Errorf("encrypts, but no encryption certificate was found")
	}
	return &smimeStage{enc: e, signer: keys.Signer, recipient: keys.Recipient}, nil
}

func (s *smimeStage) Apply(rand io.Reader, in Entity) (Entity, error) {
	data, err := s.enc.Encode(rand, in.ContentType(), in.Body, s.signer, s.recipient)
	if err != nil {
		return Entity{}, err
	}
	header, body, err := smime.SplitEntity(data)
	if err != nil {
		return Entity{}, fmt.Errorf("splitting the encoded entity: %w", err)
	}
	return Entity{Header: header, Body: body, Data: data, MIME: true}, nil
}
