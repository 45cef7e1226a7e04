package smime

import (
	crand "crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
)

var _ component.StageConfig = (*Config)(nil)

// NewStage builds the streaming encoder stage of a known configuration
// with the keys its Needs asked for.
func (c *Config) NewStage(env *component.StageEnv) (component.Stage, error) {
	if env == nil {
		env = &component.StageEnv{}
	}
	o, err := c.Options()
	if err != nil {
		return nil, err
	}
	st, err := newStageWith(o, env.Keys, env.Rand)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return st, nil
}

// newStageWith builds the stage of o with keys: the signer, its planned
// rollover, the recipient.
func newStageWith(o Options, keys component.Keys, rand io.Reader) (*Stage, error) {
	st, err := NewStage(o, signerOf(keys.Signer), keys.Recipient, rand)
	if err != nil {
		return nil, err
	}
	if keys.Rollover != nil && st.enc.Signs() {
		return st.withRollover(keys)
	}
	return st, nil
}

func signerOf(id *component.Identity) *Signer {
	if id == nil {
		return nil
	}
	return &Signer{Cert: id.Cert, Key: id.Key, Chain: id.Chain}
}

// withRollover returns a copy of s that signs each message with the
// identity keys give at its start (component.Keys.CurrentSigner: the
// rollover's from its At on), after checking the rollover's signer as
// NewStage checks the signer: a key that cannot sign with the digest must
// stop the start, not the first message after the switch.
func (s *Stage) withRollover(keys component.Keys) (*Stage, error) {
	next := signerOf(keys.Rollover.Signer)
	if next != nil {
		if err := next.check(); err != nil {
			return nil, fmt.Errorf("signing_rollover certificate: %w", err)
		}
		if _, err := signatureOID(next.Key.Public(), s.enc.digest); err != nil {
			return nil, fmt.Errorf("signing_rollover certificate: %w", err)
		}
	}
	c := *s
	c.keys, c.next = keys, next
	return &c, nil
}

// signerNow is the signer of a message started now.
func (s *Stage) signerNow() (*Signer, error) {
	if s.keys.Rollover == nil {
		return s.signer, nil
	}
	id, err := s.keys.CurrentSigner()
	if err != nil {
		return nil, err
	}
	if id == s.keys.Rollover.Signer {
		return s.next, nil
	}
	return s.signer, nil
}

// Stage is the streaming form of Encoder: it produces the same MIME
// structure (header fields, layout, parameters) for the same options, with
// memory that does not grow with the message. The differences from Encode:
//
//   - CMS content is BER with indefinite lengths, the content cut into
//     definite-length OCTET STRING chunks, as "openssl cms -stream" writes
//     it (a detached signature stays DER);
//   - errors found in the body (a 7bit or 8bit body that breaks the rules
//     of its encoding) surface from Write or Close once some output has
//     been written: the caller must discard that output;
//   - the clear-signature boundary is drawn once, before the body is seen;
//     a body that contains it (a 2^-128 chance) fails instead of being
//     encoded again.
//
// A Stage is immutable and safe for concurrent use.
type Stage struct {
	enc    *Encoder
	signer *Signer
	// keys has a Rollover when one is planned (withRollover); next is
	// its signer, nil when the store lacks it.
	keys      component.Keys
	next      *Signer
	recipient *x509.Certificate
	rand      io.Reader
}

var _ component.Stage = (*Stage)(nil)

// NewStage validates o and the keys it needs (signer when signing,
// recipient when encrypting) and returns the stage. rand supplies MIME
// boundaries, content-encryption keys and IVs; nil means crypto/rand. It
// must be safe for concurrent use if Start is called concurrently (as
// crypto/rand.Reader is).
func NewStage(o Options, signer *Signer, recipient *x509.Certificate, rand io.Reader) (*Stage, error) {
	e, err := NewEncoder(o)
	if err != nil {
		return nil, err
	}
	if e.Signs() {
		if err := signer.check(); err != nil {
			return nil, err
		}
		if _, err := signatureOID(signer.Key.Public(), e.digest); err != nil {
			return nil, err
		}
	}
	if e.Encrypts() && recipient == nil {
		return nil, errors.New("smime: encryption requested but no recipient certificate given")
	}
	if rand == nil {
		rand = crand.Reader
	}
	return &Stage{enc: e, signer: signer, recipient: recipient, rand: rand}, nil
}

// Start begins one message. The entity's Content-Type is taken from in,
// and, when in is the header of an earlier stage's entity (in.MIME), its
// Content-Transfer-Encoding (forEarlierEntity); other header fields are not
// carried over, as with Encode on its body. The output header, boundary
// and content-encryption key are fixed here.
func (s *Stage) Start(in component.Header) (component.Encoding, error) {
	e := s.enc
	ct, mt, err := normaliseContentType(in.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	encoded := false
	if in.MIME {
		e, encoded, err = e.forEarlierEntity(mt, in.Get("Content-Transfer-Encoding"))
	} else {
		e, err = e.forEntity(mt)
	}
	if err != nil {
		return nil, err
	}
	enc := &encoding{stage: s, enc: e, ct: ct, text: strings.HasPrefix(mt, "text/"), encoded: encoded}
	if e.Signs() {
		// Chosen once per message, so that a rollover never splits one.
		if enc.signer, err = s.signerNow(); err != nil {
			return nil, err
		}
	}
	if e.sig == signClear {
		var rnd [16]byte
		if _, err := io.ReadFull(s.rand, rnd[:]); err != nil {
			return nil, fmt.Errorf("smime: reading random boundary: %w", err)
		}
		enc.boundary = "----=_bizpipe_" + hex.EncodeToString(rnd[:])
	}
	if e.encrypt {
		enc.env, err = cms.NewEnvelope(s.rand, e.alg, s.recipient)
		if err != nil {
			return nil, fmt.Errorf("smime: encrypting for certificate %q (serial %s): %w", s.recipient.Subject, s.recipient.SerialNumber.Text(16), err)
		}
	}
	return enc, nil
}

// forEarlierEntity is forEntity for the entity an earlier stage of the
// pipeline made, of media type mt, whose Content-Transfer-Encoding is cte
// ("" when it has none); encoded reports that its body comes already
// transfer-encoded. content_transfer_encoding is for the message body,
// which only the first stage sees. A body in base64 or quoted-printable
// (an envelope's or an opaque signature's) is carried as it is, under
// that encoding: encoded again it would be base64 of base64, which no
// reader undoes. A multipart or message entity (a clear signature) goes
// binary when the option is base64 or quoted-printable, which RFC 2045
// §6.4 forbids it, rather than failing every message.
func (e *Encoder) forEarlierEntity(mt, cte string) (_ *Encoder, encoded bool, _ error) {
	if cte != "" {
		i, err := lookupName("Content-Transfer-Encoding of the entity before this stage", cte, transferEncodingNames, int(cteBinary))
		if err != nil {
			return nil, false, err
		}
		if c := transferEncoding(i); !c.identity() {
			carried := *e
			carried.cte = c
			return &carried, true, nil
		}
	}
	if (strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/")) && !e.cte.identity() {
		binary := *e
		binary.cte = cteBinary
		return &binary, false, nil
	}
	return e, false, nil
}

// encoding is one message going through a Stage.
type encoding struct {
	stage  *Stage
	enc    *Encoder // the stage's encoder, as it encodes this message (forEntity, forEarlierEntity)
	signer *Signer  // the signer of this message (signerNow at Start)
	ct     string   // normalised Content-Type of the innermost entity
	text   bool
	// encoded: the body comes in the innermost entity's transfer
	// encoding already (an earlier stage's entity), and passes as it is.
	encoded  bool
	boundary string        // clear signature
	env      *cms.Envelope // encryption
	wrapped  bool
	// tee receives the content entity as signed or encrypted (TeeContent).
	tee io.Writer
}

// TeeContent makes Wrap copy to w the content entity exactly as the
// signature covers it, or, unsigned, as it is encrypted: its header lines
// (when it is an inner entity) and its transfer-encoded body. That is what
// an AS2 MIC digests (RFC 4130 §7.3.1); when the content is the outermost
// entity (no signature, no encryption), only its body. Called before Wrap.
func (c *encoding) TeeContent(w io.Writer) { c.tee = w }

// Header is the outermost entity's header: MIME-Version first, then the
// fields Encode writes for it.
func (c *encoding) Header() component.Header {
	f := []component.Field{{Name: "MIME-Version", Value: "1.0"}}
	return component.Header{Fields: append(f, c.fields(c.outer())...), MIME: true}
}

// layer names the entities an encoding nests, outermost first.
type layer int

const (
	layerContent layer = iota
	layerClear
	layerOpaque
	layerEnveloped
)

func (c *encoding) outer() layer {
	switch {
	case c.env != nil:
		return layerEnveloped
	case c.enc.sig == signClear:
		return layerClear
	case c.enc.sig == signOpaque:
		return layerOpaque
	}
	return layerContent
}

// fields are the header fields of an entity (without MIME-Version).
func (c *encoding) fields(l layer) []component.Field {
	e := c.enc
	p7m := func(smimeType string) []component.Field {
		return []component.Field{
			{Name: "Content-Type", Value: "application/pkcs7-mime; smime-type=" + smimeType + "; name=smime.p7m"},
			{Name: "Content-Transfer-Encoding", Value: "base64"},
			{Name: "Content-Disposition", Value: "attachment; filename=smime.p7m"},
		}
	}
	switch l {
	case layerClear:
		return []component.Field{{Name: "Content-Type",
			Value: `multipart/signed; protocol="application/pkcs7-signature"; micalg=` + e.digest.micalg + `; boundary="` + c.boundary + `"`}}
	case layerOpaque:
		return p7m("signed-data")
	case layerEnveloped:
		return p7m(e.alg.SMIMEType())
	}
	return []component.Field{{Name: "Content-Type", Value: c.ct}, {Name: "Content-Transfer-Encoding", Value: e.cte.String()}}
}

// headerLines serialises the fields of an inner entity and the empty line
// after them; for the outermost entity the header goes to the transport
// and nothing is written in the body.
func (c *encoding) headerLines(l layer) []byte {
	if l == c.outer() {
		return nil
	}
	var b []byte
	for _, f := range c.fields(l) {
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// teeWriter copies what it passes on to tee, whose writes must not fail
// (component.ContentObserver).
type teeWriter struct {
	next io.WriteCloser
	tee  io.Writer
}

func (w *teeWriter) Write(p []byte) (int, error) {
	n, err := w.next.Write(p)
	_, _ = w.tee.Write(p[:n])
	return n, err
}

func (w *teeWriter) Close() error { return w.next.Close() }

var _ component.ContentTeer = (*encoding)(nil)

// Wrap builds the layers, outermost (next to dst) first: base64 of the
// envelope, the signature, the innermost entity's transfer encoding.
func (c *encoding) Wrap(dst io.Writer) io.WriteCloser {
	if c.wrapped {
		return &stickyWriter{err: errors.New("smime: Encoding.Wrap called twice (one Encoding is one message)")}
	}
	c.wrapped = true
	e := c.enc
	var w io.WriteCloser = nopCloser{dst}
	var asyncs []*asyncWriter
	if c.env != nil {
		// Three goroutines for a large message, each a few chunks behind
		// the one above: the signature and the content's encoding; the
		// encryption; the envelope's base64 and the transport's writes.
		// Their costs are of the same order (for 1 GiB with AES-256-CBC,
		// about 0.5, 1.5 and 1.1 s of CPU): with one boundary, the lower
		// half alone took as long as all the rest.
		b64 := newAsyncWriter(newBase64Writer(w))
		ew := c.env.Wrap(b64)
		above := newAsyncWriter(closeChain{Writer: ew, w: ew, next: b64})
		w = above
		asyncs = []*asyncWriter{above, b64} // ended in this order
	}
	switch e.sig {
	case signClear:
		var pre []byte
		pre = append(pre, c.headerLines(layerClear)...)
		pre = append(pre, "This is an S/MIME signed message\r\n\r\n--"...)
		pre = append(pre, c.boundary...)
		pre = append(pre, "\r\n"...)
		w = newClearSignWriter(w, pre, c.boundary, c.signer, e.digest, e.includeCerts)
	case signOpaque:
		w = &prefixWriter{next: w, prefix: c.headerLines(layerOpaque)}
		w = newOpaqueSignWriter(newBase64Writer(w), c.signer, e.digest, e.includeCerts)
	}
	if c.tee != nil {
		// Below the header lines and the transfer encoding, above the
		// signer and the encryption: the bytes they receive.
		w = &teeWriter{next: w, tee: c.tee}
	}
	if h := c.headerLines(layerContent); h != nil {
		w = &prefixWriter{next: w, prefix: h}
	}
	if !c.encoded {
		w = encodeWriter(w, e.cte, c.text)
	}
	return &stickyWriter{w: w, asyncs: asyncs}
}
