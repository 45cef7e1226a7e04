package runner

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// decodingSink is the Sink of a receive location whose pipeline decodes
// (language §10). It has no PublishBatch: each message is decoded on its
// own before the box sees it, so the file receiver publishes one by one.
type decodingSink struct {
	r      *Runner
	loc    string
	who    string // the location's instance, as its log lines name it
	stages []component.DecodeStage
	hide   secrets
	// decrypters name the certificates the stages decrypt with, by
	// their DER (decryptionNames): the log line of each message received
	// says which one decrypted it.
	decrypters map[string]decryptionName
}

// decryptionName is how the log names a certificate the host decrypts
// with: its SHA-1 thumbprint in upper case, as bizpipe certs and the
// expiry gauge show it (redact.Shown when configured with a sensitive
// value), and whether it is the host's decryption_certificate or one of
// its previous_decryption_certificates.
type decryptionName struct {
	thumbprint string
	previous   bool
}

// decryptionNames names the certificates keys decrypt with, for host h,
// whose decryption_certificate is keys.Decrypter and whose
// previous_decryption_certificates are keys.PreviousDecrypters, in order
// (keysFor).
func decryptionNames(h *model.Host, keys component.Keys) map[string]decryptionName {
	names := map[string]decryptionName{}
	add := func(id *component.DecryptionIdentity, sensitive, previous bool) {
		tp := redact.Shown
		if !sensitive {
			sum := sha1.Sum(id.Cert.Raw)
			tp = strings.ToUpper(hex.EncodeToString(sum[:]))
		}
		names[string(id.Cert.Raw)] = decryptionName{thumbprint: tp, previous: previous}
	}
	if keys.Decrypter != nil {
		add(keys.Decrypter, h.DecryptionCertificate.Sensitive, false)
	}
	for i, id := range keys.PreviousDecrypters {
		add(id, i >= len(h.PreviousDecryptionCertificates) || h.PreviousDecryptionCertificates[i].Sensitive, true)
	}
	return names
}

// decryptionAttrs are the attributes of the "message received" line of a
// message the certificate with DER raw decrypted: decrypted_with (its
// thumbprint, never anything of the key) and decryption_certificate
// ("current" or "previous"), so that an operator rotating the host's
// certificate sees which partners still encrypt for the previous one, and
// when none does any more. None for a message that was not encrypted.
func (s *decodingSink) decryptionAttrs(raw []byte) []any {
	if raw == nil {
		return nil
	}
	n, ok := s.decrypters[string(raw)]
	if !ok {
		return nil
	}
	which := "current"
	if n.previous {
		which = "previous"
	}
	return []any{"decrypted_with", n.thumbprint, "decryption_certificate", which}
}

// AsReceived opens the bytes a stored message arrived as, before it was
// decoded (transport.BodySink): a repeated request is compared with those.
func (s *decodingSink) AsReceived(ctx context.Context, id string) (io.ReadCloser, error) {
	return s.r.opts.Box.AsReceived(ctx, id)
}

// buildDecoders builds the decoder stages of rl's pipeline for instance in,
// with the keys their Needs ask for from the stores in reaches, as
// buildStages does for a send port's encoders.
func (r *Runner) buildDecoders(rl *model.ReceiveLocation, in *model.Instance) ([]component.DecodeStage, map[string]decryptionName, error) {
	p := rl.Pipeline
	keys, err := r.keysFor(p.Needs(), model.Value[string]{}, in)
	if err != nil {
		return nil, nil, err
	}
	var stages []component.DecodeStage
	for i, st := range p.Stages {
		cfg, ok := st.Config.(component.DecoderConfig)
		if !ok {
			return nil, nil, fmt.Errorf("pipeline %q stage %d: %s is not a decoder stage", p.Name, i+1, st.Spec.Name)
		}
		s, err := cfg.NewDecoder(&component.DecoderEnv{Keys: keys, SpoolDir: r.opts.SpoolDir, Followed: i < len(p.Stages)-1})
		if err == nil {
			err = r.provisionComponent(s)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("pipeline %q stage %d (%s): %w", p.Name, i+1, st.Spec.Name, err)
		}
		stages = append(stages, s)
	}
	return stages, decryptionNames(in.Host, keys), nil
}

// Publish keeps the message as received in a spool file, decodes it into
// another, and stores the decoded payload with its party, routed, and the
// bytes as received beside it. A message the decoders refuse is stored
// with its bytes as received and suspended with the reason, never routed;
// the source is acknowledged either way, since the box holds it. Only a
// failure to read the source, to spool or to store leaves it
// unacknowledged (to be received again).
func (s *decodingSink) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	p, err := s.PublishOutcome(ctx, in, body, component.DecodeRequest{})
	return p.Message, p.Dup, err
}

// PublishOutcome is Publish that also says what decoding found
// (component.OutcomeSink): the party, the AS2 MIC in req.MICHash (when not
// zero) over what RFC 4130 §7.3.1 names, computed by the first stage, which
// reads the message as received, or the decoders' refusal. A signature of
// another party than req.Party (when set) refuses the message. req.MDN is
// made from that outcome, known before the box is called.
func (s *decodingSink) PublishOutcome(ctx context.Context, in msgbox.Incoming, body io.Reader, req component.DecodeRequest) (component.Published, error) {
	var p component.Published
	wrap := func(m msgbox.Message, dup bool, err error) (component.Published, error) {
		p.Message, p.Dup = m, dup
		return p, err
	}
	// The time of receipt, at which the signer's certificate must be
	// valid (language §10): by the runner's clock, which also chooses
	// the signing identity of a rollover (language §12).
	at := s.r.opts.Now()
	// The MIME entity as received: the header section the transport
	// made (req.Head), then the body.
	received, err := s.spool(ctx, io.MultiReader(strings.NewReader(req.Head), body))
	if err != nil {
		return p, fmt.Errorf("receive location %q, file %q: keeping the message as received: %w", s.loc, in.FileName, err)
	}
	defer received.Close()
	decoded, dec, derr := s.decode(component.WithMICHash(ctx, req.MICHash), received, in.ContentType, at)
	if decoded != nil {
		defer decoded.Close()
	}
	if derr == nil && req.Party != "" && slices.Contains(dec.Parties, req.Party) {
		// Parties that share the signing certificate: the signer is
		// the AS2-From's party as much as the first one listing it.
		dec.Party = req.Party
	}
	if derr == nil && req.Party != "" && dec.Party != "" && dec.Party != req.Party {
		// The sender named one party (AS2-From) and signed as another:
		// the payload is authentic, but not from whom it claims.
		derr = component.Refusal(component.ErrAuthenticationFailed,
			fmt.Errorf("the message is signed by party %q but was sent as party %q's", dec.Party, req.Party))
	}
	if derr != nil {
		if ctx.Err() != nil {
			// Stopped mid-way: nothing was decided about the message.
			return p, fmt.Errorf("receive location %q, file %q: decoding: %w", s.loc, in.FileName, ctx.Err())
		}
		if isLocal(derr) {
			// The spool failed (a full disk, a missing directory), not
			// the message: it stays at its source, to be received again.
			return p, fmt.Errorf("receive location %q, file %q: decoding: %w", s.loc, in.FileName, s.hide.err(derr))
		}
		if _, err := received.Seek(0, io.SeekStart); err != nil {
			return p, fmt.Errorf("receive location %q, file %q: rereading the message as received: %w", s.loc, in.FileName, err)
		}
		in.Decoding, in.Party = msgbox.DecodingFailed, ""
		reason := decodeFailure(s.loc, s.hide.text(derr.Error()))
		// Logged and counted as suspended by publishWith, with the reason.
		p.Refused = derr
		return wrap(s.r.publishWith(ctx, req.ForBox(in, p), received, func(msgbox.Message) *routing { return &routing{reason: reason} }))
	}
	in.Decoding, in.Party = msgbox.Decoded, dec.Party
	var attrs []any
	if dec.DecryptedWith != nil {
		attrs = s.decryptionAttrs(dec.DecryptedWith.Raw)
	}
	p.Decoded, p.Party, p.MIC = true, dec.Party, dec.MIC
	if ct := dec.Header.Get("Content-Type"); ct != "" {
		// The location's content type described what arrived (the S/MIME
		// envelope); the payload routed is the innermost entity.
		in.ContentType = ct
	}
	// The box keeps the bytes as received beside the payload routed
	// (messages body --as-received), read from the spool file again,
	// unless they are the same bytes (plain input a location that does
	// not require encryption let through).
	same, err := sameContent(received.File, decoded.File)
	if err != nil {
		return p, fmt.Errorf("receive location %q, file %q: comparing the message as received and decoded: %w", s.loc, in.FileName, err)
	}
	if !same {
		if _, err := received.Seek(0, io.SeekStart); err != nil {
			return p, fmt.Errorf("receive location %q, file %q: rereading the message as received: %w", s.loc, in.FileName, err)
		}
		in.AsReceived = received
	}
	return wrap(s.r.publishWith(ctx, req.ForBox(in, p), decoded, s.r.decide, attrs...))
}

// localError is a failure of this process's own files while decoding,
// which says nothing about the message.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

// isLocal reports whether err is a failure of local files rather than a
// refusal of the message: one of decode's own (localError), or a file
// system error from a stage's spool (a decoder's refusals are never
// file system errors).
func isLocal(err error) bool {
	var le localError
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &le) || errors.As(err, &pe) || errors.As(err, &errno)
}

// decodeFailure is the reason a message refused by the decoders of
// location loc is suspended with.
func decodeFailure(loc, why string) string {
	return fmt.Sprintf("decoding failed at receive location %q: %s", loc, why)
}

// neverDecoded is the reason a message that failed decoding stays
// suspended when it is routed again (an operator resumed it): its bytes
// were never authenticated, and routing them would deliver what the
// pipeline refused.
const neverDecoded = "decoding failed when the message was received, so it is never routed (its bytes are as received); receive it again once the cause is fixed"

// decodeGuarded runs st.Decode, making a panic (a bug hostile input
// found) the stage's error, logged with its stack: the message is refused
// as any that does not decode, and the process lives on. Otherwise it
// would die, and die again at every resend of a partner that retries, or
// every restart that decodes a stored message again.
func (s *decodingSink) decodeGuarded(ctx context.Context, st component.DecodeStage, in component.Header, src io.Reader, dst io.Writer, at time.Time) (d component.Decoded, err error) {
	defer func() {
		if p := recover(); p != nil {
			// With the location's secrets hidden, as in the reason
			// the message is suspended with.
			s.hide.logger(s.r.opts.Log).Error("a decoder stage failed with an internal error (a bug in bizpipe: please report it, with this line); the message is refused",
				"receive_location", s.loc, "instance", s.who, "panic", component.PanicText(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in the decoder (a bug in bizpipe, logged): %s", component.PanicText(p))
		}
	}()
	return st.Decode(ctx, in, src, dst, at)
}

// decode runs the stages over received, each from the spool file the
// previous one wrote, and returns the last one's output, positioned at its
// start. On error, the files written are closed and nil is returned.
//
// What arrived is a whole MIME entity when it starts with a MIME header
// section (startsWithHeader: a file written by an S/MIME tool); otherwise
// it is the body of an entity whose Content-Type is contentType (an HTTP
// request's, the location's content_type): what an HTTP client posts, its
// header in the request's.
func (s *decodingSink) decode(ctx context.Context, received *fsop.Unlinked, contentType string, at time.Time) (*fsop.Unlinked, component.Decoded, error) {
	var dec component.Decoded
	src := received
	var h component.Header // the first stage reads the whole entity
	whole, err := startsWithHeader(received)
	if err != nil {
		return nil, dec, localError{err}
	}
	if !whole {
		h = component.Header{Fields: []component.Field{{Name: "Content-Type", Value: contentType}}, MIME: true}
	}
	// closeSrc closes the previous stage's output, which is this
	// function's to close; received is the caller's.
	closeSrc := func() {
		if src != received {
			src.Close()
		}
	}
	for i, st := range s.stages {
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			closeSrc()
			return nil, dec, localError{err}
		}
		out, err := fsop.CreateUnlinked(s.r.opts.SpoolDir, "bizpipe-decode-*")
		if err != nil {
			closeSrc()
			return nil, dec, localError{err}
		}
		sctx := ctx
		if i > 0 {
			// The MIC covers what was received, which only the first
			// stage reads.
			sctx = component.WithMICHash(ctx, 0)
		}
		d, err := s.decodeGuarded(sctx, st, h, src, out, at)
		closeSrc()
		if err != nil {
			out.Close()
			if len(s.stages) > 1 {
				err = fmt.Errorf("stage %d: %w", i+1, err)
			}
			if dec.Unauthenticated {
				// What an earlier stage decrypted without authentication
				// is refused as a bad padding is (component.Unauthenticated).
				err = component.Unauthenticated(err)
			}
			return nil, dec, err
		}
		dec.Unauthenticated = dec.Unauthenticated || d.Unauthenticated
		if d.Party != "" {
			dec.Party, dec.Parties = d.Party, d.Parties
		}
		if dec.DecryptedWith == nil {
			dec.DecryptedWith = d.DecryptedWith // the outermost layer's
		}
		if i == 0 {
			dec.MIC = d.MIC
		}
		dec.Header = d.Header
		h = d.Header
		src = out
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		src.Close()
		return nil, dec, localError{err}
	}
	return src, dec, nil
}

// spool copies body to a new spool file, positioned at its start.
func (s *decodingSink) spool(ctx context.Context, body io.Reader) (*fsop.Unlinked, error) {
	f, err := fsop.CreateUnlinked(s.r.opts.SpoolDir, "bizpipe-decode-*")
	if err != nil {
		return nil, err
	}
	if body != nil {
		if _, err := io.Copy(f, ctxReader{ctx, body}); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// startsWithHeader reports whether f starts with a MIME header section: a
// file written by an S/MIME tool (openssl's MIME-Version and Content-Type),
// not plain data whose first line merely holds a colon, such as EDIFACT's
// "UNA:+.? '", JSON, or a multipart body whose boundary has one. Its first
// line must be a field named as MIME names them (a letter, then letters,
// digits and hyphens), and it and the lines after it, as far as they are
// header fields or continuation lines, must include Content-Type or
// MIME-Version, within the first sniffHeader bytes. DER (0x30 ...) and
// base64 never do.
//
// It reads sniffChunk bytes at a time, and more only while the header
// section goes on: nearly every message is decided by its first line.
func startsWithHeader(f io.ReaderAt) (bool, error) {
	var s headerSniffer
	buf := make([]byte, sniffChunk)
	for off := int64(0); off < sniffHeader; {
		p := buf[:min(sniffChunk, sniffHeader-off)]
		n, err := f.ReadAt(p, off)
		if err != nil && err != io.EOF {
			return false, err
		}
		if done, header := s.feed(p[:n]); done {
			return header, nil
		}
		if n < len(p) {
			break // the end of f
		}
		off += int64(n)
	}
	return false, nil // the end of f, or of what is read, within a field
}

// sniffHeader is how much of a message startsWithHeader reads at most;
// sniffChunk how much at a time. Real header sections are well under a
// kilobyte.
const (
	sniffHeader = 64 << 10
	sniffChunk  = 1 << 10
)

// A headerSniffer decides startsWithHeader a byte at a time, so that a
// line may span reads.
type headerSniffer struct {
	notFirst bool // past the first line
	inLine   bool // past the start of a line
	skip     bool // in the value of a field, or a continuation line
	nameLen  int  // bytes of the field name so far
	// ct and mv: the name so far begins "Content-Type" or "MIME-Version",
	// in any case.
	ct, mv bool
}

// feed reads p, the bytes after those fed so far, and reports whether
// they decide, and then whether there is a header.
func (s *headerSniffer) feed(p []byte) (done, header bool) {
	const contentType, mimeVersion = "content-type", "mime-version"
	for _, c := range p {
		switch {
		case s.skip:
			if c == '\n' {
				s.notFirst, s.inLine, s.skip = true, false, false
			}
			continue
		case !s.inLine:
			s.inLine = true
			if s.notFirst && (c == ' ' || c == '\t') {
				s.skip = true // a folded value
				continue
			}
			s.nameLen, s.ct, s.mv = 0, true, true
		}
		// In the name: a colon ends it; any other byte that cannot be in
		// one (the line's end among them) means this is not a field, and
		// the name is neither Content-Type nor MIME-Version.
		if c == ':' {
			if s.nameLen == 0 {
				return true, false
			}
			if (s.ct || s.mv) && s.nameLen == len(contentType) {
				return true, true
			}
			s.skip = true
			continue
		}
		if !s.nameByte(c) {
			return true, false
		}
		lc := c
		if 'A' <= c && c <= 'Z' {
			lc += 'a' - 'A'
		}
		s.ct = s.ct && s.nameLen < len(contentType) && lc == contentType[s.nameLen]
		s.mv = s.mv && s.nameLen < len(mimeVersion) && lc == mimeVersion[s.nameLen]
		s.nameLen++
	}
	return false, false
}

// nameByte reports whether c may be the next byte of the field name. The
// first line's is one as MIME and mail software write them (RFC 2045 §3
// and the IANA registry): a letter, then letters, digits and hyphens.
// Another's is an RFC 5322 field name: printable US-ASCII but colon.
func (s *headerSniffer) nameByte(c byte) bool {
	if s.notFirst {
		return c >= 0x21 && c <= 0x7e && c != ':'
	}
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || s.nameLen > 0 && (c >= '0' && c <= '9' || c == '-')
}

// sameContent reports whether files a and b hold the same bytes, reading
// them only when their sizes are equal. It leaves their offsets alone.
func sameContent(a, b *os.File) (bool, error) {
	sa, err := a.Stat()
	if err != nil {
		return false, err
	}
	sb, err := b.Stat()
	if err != nil {
		return false, err
	}
	if sa.Size() != sb.Size() {
		return false, nil
	}
	var ba, bb [32 << 10]byte
	for off := int64(0); off < sa.Size(); {
		na, err := a.ReadAt(ba[:], off)
		if err != nil && err != io.EOF {
			return false, err
		}
		nb, err := b.ReadAt(bb[:na], off)
		if err != nil && err != io.EOF {
			return false, err
		}
		if nb != na || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if na == 0 {
			break
		}
		off += int64(na)
	}
	return true, nil
}
