package smime

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/fsop"
)

// DecodeResult describes what DecodeStream wrote: Decoded without the
// body.
type DecodeResult struct {
	// ContentType is the Content-Type of the innermost entity, as in
	// Decoded.
	ContentType string
	// Size is the number of body octets written to dst.
	Size int64
	// Signed reports that at least one signature layer was verified.
	Signed bool
	// Signer is the certificate of the innermost verified signature.
	Signer *x509.Certificate
	// Encrypted reports that at least one layer was enveloped (and
	// decrypted).
	Encrypted bool
	// DecryptedWith is as in Decoded.
	DecryptedWith *x509.Certificate
	// Unauthenticated reports that a layer was an EnvelopedData, whose
	// content encryption (CBC) has no integrity: DecodeStream's errors
	// past its decryption are then component.Unauthenticated.
	Unauthenticated bool
	// MIC is the AS2 message integrity check when DecodeOptions.MICHash
	// was set.
	MIC []byte
	// Whole reports that dst received a signature layer kept whole, header
	// included (DecodeOptions.KeepSignatures); ContentType is its own.
	Whole bool
}

// Limits of DecodeStream beyond those of Decode. They concern parts that
// are small in any real message and are held in memory.
const (
	// maxSignaturePart bounds a detached signature part (a SignedData with
	// its certificates, base64-encoded).
	maxSignaturePart = 4 << 20
	// maxUnattributedContent bounds content signed without signed
	// attributes: the signature is then over the content itself, which
	// pkcs7 needs in memory.
	maxUnattributedContent = 16 << 20
)

// DecodeStream is Decode for messages of any size: it reads the message
// from src, decodes and verifies it layer by layer as Decode does (same
// formats, same checks, same errors for the same causes) and writes the
// innermost body to dst. Memory stays bounded (a few hundred kilobytes of
// buffers plus the small CMS elements: certificates, signer and recipient
// infos); the message (unless it can be read in place: inPlace), every
// intermediate layer that needs a second pass, and decrypted content go to
// unlinked temporary files in opts.SpoolDir, each closed, and so gone, as
// soon as no layer still to be read needs it (at most two at once, but
// for the decrypted layer the MIC may cover or KeepSignatures writes
// whole), and all but the body's before the body is written to dst.
//
// Nothing reaches dst before every layer has been decrypted and every
// signature verified, and AES-GCM plaintext is used only after its tag
// verified; on error dst has received nothing. ctx is checked between
// chunks of every pass.
//
// Beyond Decode's own limits, DecodeStream rejects header sections over
// 256 KiB, quoted-printable lines over 64 KiB, detached signature parts over
// 4 MiB, and content over 16 MiB signed without signed attributes. Both
// refuse a SignedData with more than 16 signer infos. In what it decrypts
// from CBC, DecodeStream also refuses a multipart/signed whose epilogue is
// not blank (see multipartSigned) and, where a signature is to be checked,
// a header section outside any signature that is not printable US-ASCII
// (strictHeader); Decode decrypts for no receiver.
//
// An error's text is at most about 4 KiB, whatever the message quotes into
// it (certificate names, algorithm identifiers, digests).
func DecodeStream(ctx context.Context, src io.Reader, dst io.Writer, opts DecodeOptions) (*DecodeResult, error) {
	res, err := decodeMessage(ctx, src, dst, opts)
	if err != nil {
		return nil, clipError(err)
	}
	return res, nil
}

// maxErrorText bounds the text of DecodeStream's errors. They become a
// suspended message's reason and a log line, and what a hostile message
// quotes into them (a certificate's name, an algorithm's OID, a digest)
// can be megabytes long; real ones are under a kilobyte.
const maxErrorText = 4 << 10

// clippedError is an error whose text was clipped; errors.Is and
// errors.As still see what it wraps.
type clippedError struct {
	text string
	err  error
}

func (e *clippedError) Error() string { return e.text }
func (e *clippedError) Unwrap() error { return e.err }

// clipError returns err, its text clipped to maxErrorText.
func clipError(err error) error {
	s := err.Error()
	if len(s) <= maxErrorText {
		return err
	}
	return &clippedError{text: fmt.Sprintf("%s... (%d octets more)", strings.ToValidUTF8(s[:maxErrorText], ""), len(s)-maxErrorText), err: err}
}

// decodeMessage is DecodeStream with its errors as they come.
func decodeMessage(ctx context.Context, src io.Reader, dst io.Writer, opts DecodeOptions) (*DecodeResult, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.KeepSignatures {
		// A kept signature is the later reader's to verify.
		opts.Unverified = true
	}
	sp := &spool{ctx: ctx, dir: opts.SpoolDir}
	defer sp.close()
	if opts.spoolPeak != nil {
		defer func() { *opts.spoolPeak = sp.peak }()
	}
	msg, err := messageSection(ctx, sp, src)
	if err != nil {
		return nil, err
	}
	sd := &streamDecoder{ctx: ctx, sp: sp, opts: &opts}
	body, err := sd.entity(msg, 0)
	if err == nil {
		err = sd.mic()
	}
	if sd.badPadding != nil {
		// Refused only now, after the work a good padding gets
		// (cms.ErrBadPadding).
		return nil, sd.badPadding
	}
	if err != nil {
		if sd.res.Unauthenticated {
			// A failure past a CBC decryption answers as a bad padding
			// does, or the answer would be a padding oracle.
			err = component.Unauthenticated(err)
		}
		return nil, err
	}
	// The MIC is computed: only the body is read now. A signature layer
	// kept whole leaves the layers read to find it open otherwise (what
	// its SignedData held, decoded), beside the copy dst receives.
	sp.keepOnly(body)
	// dst, the runner's, is a spool file too.
	sp.peak = max(sp.peak, sp.live+body.Size())
	n, err := copyCtx(ctx, dst, io.NewSectionReader(body, 0, body.Size()))
	if err != nil {
		return nil, fmt.Errorf("smime: writing the body: %w", err)
	}
	sd.res.Size = n
	return &sd.res, nil
}

// messageSection returns the message src holds as a section: src itself
// when it can be read in place (inPlace), else a spool file it is copied
// to.
func messageSection(ctx context.Context, sp *spool, src io.Reader) (*io.SectionReader, error) {
	sec, ok, err := inPlace(src)
	if err != nil {
		return nil, fmt.Errorf("smime: reading the message: %w", err)
	}
	if ok {
		return sec, nil
	}
	return sp.fill(func(w io.Writer) error {
		if _, err := copyCtx(ctx, w, src); err != nil {
			return fmt.Errorf("smime: reading the message: %w", err)
		}
		return nil
	})
}

// inPlace returns what is left to read of src as a section, when src is an
// *io.SectionReader, an *fsop.Unlinked (the runner's spool file) or a
// *bytes.Reader: content that does not change while it is decoded, which
// the decoder needs, since it reads a layer more than once (a signature
// is verified over the bytes it then returns). It reports false for any
// other reader, which is to be copied.
func inPlace(src io.Reader) (*io.SectionReader, bool, error) {
	var ra interface {
		io.ReaderAt
		io.Seeker
	}
	switch r := src.(type) {
	case *io.SectionReader:
		ra = r
	case *fsop.Unlinked:
		ra = r.File
	case *bytes.Reader:
		ra = r
	default:
		return nil, false, nil
	}
	start, err := ra.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, false, err
	}
	end, err := ra.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, false, err
	}
	return io.NewSectionReader(ra, start, end-start), true, nil
}

// entityOf returns the entity of header section head and body src:
// read in place when src is (inPlace), so that it is not copied.
func entityOf(head []byte, src io.Reader) (io.Reader, error) {
	body, ok, err := inPlace(src)
	if err != nil {
		return nil, err
	}
	if !ok {
		return io.MultiReader(bytes.NewReader(head), src), nil
	}
	return io.NewSectionReader(headedAt{head, body}, 0, int64(len(head))+body.Size()), nil
}

// headedAt reads a header section, then a body, at offsets.
type headedAt struct {
	head []byte
	body *io.SectionReader
}

func (h headedAt) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(h.head)) {
		n = copy(p, h.head[off:])
		if n == len(p) {
			return n, nil
		}
		p, off = p[n:], int64(len(h.head))
	}
	m, err := h.body.ReadAt(p, off-int64(len(h.head)))
	return n + m, err
}

type streamDecoder struct {
	ctx  context.Context
	sp   *spool
	opts *DecodeOptions
	res  DecodeResult
	// What DecodeOptions.MICHash covers, first found first: the content
	// of the outermost signature, the outermost decrypted entity, the
	// top-level body.
	signed, decrypted, plain *io.SectionReader
	// micDone: the MIC is computed (signature).
	micDone bool
	// unsignedCBC: what is read now was decrypted from CBC and is outside
	// any signature, and a signature is to decide whether the message is
	// accepted: its header sections must be strict (strictHeader).
	// inSignature: a signature layer was entered; what it holds is what
	// its signer signed (or, unverified, what no check protects anyway).
	unsignedCBC, inSignature bool
	// badPadding is the refusal of a CBC layer whose padding did not
	// check, whose content is decoded all the same (decrypt).
	badPadding error
}

// step tells opts.trace, if set, what was just done.
func (sd *streamDecoder) step(format string, args ...any) {
	if sd.opts.trace != nil {
		sd.opts.trace(fmt.Sprintf(format, args...))
	}
}

// strictHeader refuses a header section decrypted from CBC outside any
// signature (its fields and the empty line that ends it) that holds an
// octet other than printable US-ASCII, space, tab, or a CR before an LF:
// what senders write there (Content-Type, MIME-Version,
// Content-Disposition). A field's value may otherwise be any octets but
// LF, and no signature covers it: ciphertext blocks copied into a
// captured message's ciphertext (C[k-1] xor delta, C[k], then the block
// before them, which restores what follows) decrypt there to a random
// block, P[k] xor delta and another random block, and the message would
// be processed exactly when P[k] xor delta holds no line feed, and
// refused otherwise: a format oracle that decrypts the message byte by
// byte, as a padding oracle does. Random blocks pass this test with a
// probability of about 2^-22 each.
func strictHeader(h []byte) error {
	for i, c := range h {
		switch {
		case c >= ' ' && c <= '~', c == '\t', c == '\n':
		case c == '\r' && i+1 < len(h) && h[i+1] == '\n':
		default:
			return fmt.Errorf("a header section decrypted from CBC holds the octet %#02x at offset %d, not printable US-ASCII", c, i)
		}
	}
	return nil
}

// mic computes DecodeResult.MIC (see DecodeOptions.MICHash), unless
// signature did.
func (sd *streamDecoder) mic() error {
	fn := sd.opts.MICHash
	if fn == 0 || sd.micDone {
		return nil
	}
	if !fn.Available() {
		return fmt.Errorf("smime: MIC hash %v not available", fn)
	}
	sec := sd.micSource()
	h := fn.New()
	if sec != nil {
		if _, err := copyCtx(sd.ctx, h, io.NewSectionReader(sec, 0, sec.Size())); err != nil {
			return fmt.Errorf("smime: computing the MIC: %w", err)
		}
	}
	sd.res.MIC = h.Sum(nil)
	return nil
}

// micSource is what the MIC is to be computed over, as far as the layers
// read so far tell (nil: no MIC asked for, or nothing found yet).
func (sd *streamDecoder) micSource() *io.SectionReader {
	if sd.opts.MICHash == 0 || sd.micDone {
		return nil
	}
	switch {
	case sd.signed != nil:
		return sd.signed
	case sd.decrypted != nil:
		return sd.decrypted // unless a signature inside it turns up
	}
	return sd.plain
}

// signature records content, what a signature layer verified (or, with
// KeepSignatures, holds). The outermost one's is what the MIC covers,
// whatever the layers inside it hold, so the MIC is computed at once: the
// layer content is a section of need not stay for it (keepOnly).
func (sd *streamDecoder) signature(content *io.SectionReader) error {
	if sd.signed != nil {
		return nil
	}
	sd.signed = content
	if err := sd.mic(); err != nil {
		return err
	}
	sd.micDone = sd.opts.MICHash != 0
	return nil
}

// keep records sec in *dst unless an outer layer was recorded there.
func keep(dst **io.SectionReader, sec *io.SectionReader) {
	if *dst == nil {
		*dst = sec
	}
}

// entity decodes one layer (see decodeEntity) and returns the innermost
// body with its transfer encoding undone.
func (sd *streamDecoder) entity(raw *io.SectionReader, depth int) (*io.SectionReader, error) {
	if depth >= maxNesting {
		return nil, fmt.Errorf("smime: more than %d nested S/MIME layers", maxNesting)
	}
	if err := sd.ctx.Err(); err != nil {
		return nil, fmt.Errorf("smime: %w", err)
	}
	// The layers that raw was decoded from are read no more.
	sd.sp.keepOnly(raw, sd.micSource())
	fields, bodyOff, err := readHeaderSection(raw)
	if err != nil && depth > 0 {
		// What a signature or an envelope protected is not an entity:
		// OpenSSL's cms -sign of a bare file signs its bytes alone.
		return nil, fmt.Errorf("smime: the signed or encrypted content is not a MIME entity (S/MIME protects a whole entity, header and blank line included): %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("smime: %w", err)
	}
	if sd.unsignedCBC {
		h := make([]byte, bodyOff)
		if _, err := raw.ReadAt(h, 0); err != nil {
			return nil, fmt.Errorf("smime: rereading a header section: %w", err)
		}
		if err := strictHeader(h); err != nil {
			return nil, fmt.Errorf("smime: %w", err)
		}
	}
	body := io.NewSectionReader(raw, bodyOff, raw.Size()-bodyOff)
	ct, ok, err := headerValue(fields, "Content-Type")
	if err != nil {
		return nil, fmt.Errorf("smime: %w", err)
	}
	if !ok {
		ct = "text/plain; charset=us-ascii" // RFC 2045 §5.2
	}
	cte, _, err := headerValue(fields, "Content-Transfer-Encoding")
	if err != nil {
		return nil, fmt.Errorf("smime: %w", err)
	}
	cte = strings.ToLower(cte)
	mt, params, err := ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("smime: invalid Content-Type %q: %w", clip(ct), err)
	}
	sd.step("layer %d: %s", depth, mt)

	switch mt {
	case "multipart/signed":
		content, err := sd.multipartSigned(body, params)
		if err != nil {
			return nil, err
		}
		if err := sd.signature(content); err != nil {
			return nil, err
		}
		if sd.opts.KeepSignatures {
			return sd.kept(raw, ct), nil
		}
		sd.enterSignature()
		return sd.entity(content, depth+1)

	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		der, err := sd.transfer(body, cte)
		if err != nil {
			return nil, fmt.Errorf("smime: %s body: %w", mt, err)
		}
		if !sd.opts.KeepSignatures {
			// raw, once its body is decoded, is read no more (a kept
			// signature layer is raw itself: sd.kept).
			sd.sp.keepOnly(der, sd.micSource())
		}
		var prefix [512]byte
		n, _ := der.ReadAt(prefix[:], 0)
		oid, err := contentInfoType(prefix[:n])
		if err != nil {
			return nil, fmt.Errorf("smime: %s body: %w", mt, err)
		}
		var content *io.SectionReader
		switch {
		case oid.Equal(oidSignedData):
			content, err = sd.opaqueSigned(der)
			if err == nil {
				err = sd.signature(content)
			}
			if err == nil {
				if sd.opts.KeepSignatures {
					return sd.kept(raw, ct), nil
				}
				sd.enterSignature()
			}
		case oid.Equal(oidEnvelopedData), oid.Equal(oidAuthEnvelopedData):
			content, err = sd.decrypt(der)
			sd.res.Encrypted = true
			if oid.Equal(oidEnvelopedData) {
				// CBC, the only cipher cms takes in EnvelopedData.
				sd.res.Unauthenticated = true
				// Outside any signature, where one is to be checked
				// (here, or by the next stage: KeepSignatures), what it
				// holds is read strictly (strictHeader).
				if !sd.inSignature && (!sd.opts.Unverified || sd.opts.KeepSignatures) {
					sd.unsignedCBC = true
				}
			}
			if err == nil {
				keep(&sd.decrypted, content)
			}
		default:
			err = fmt.Errorf("smime: unsupported CMS %s in %s", contentTypeName(oid), mt)
		}
		if err != nil {
			return nil, err
		}
		return sd.entity(content, depth+1)

	case "application/pkcs7-signature", "application/x-pkcs7-signature":
		return nil, errors.New("smime: a detached signature without its multipart/signed container")
	}

	sd.res.ContentType = ct
	if depth == 0 {
		sd.plain = body
	}
	out, err := sd.transfer(body, cte)
	if err != nil {
		return nil, fmt.Errorf("smime: %s body: %w", mt, err)
	}
	sd.sp.keepOnly(out, sd.micSource())
	return out, nil
}

// enterSignature records that what is read next is a signature layer's
// content.
func (sd *streamDecoder) enterSignature() {
	sd.inSignature, sd.unsignedCBC = true, false
}

// kept is the result of a signature layer kept whole
// (DecodeOptions.KeepSignatures): the entity raw, header included, whose
// Content-Type is ct.
func (sd *streamDecoder) kept(raw *io.SectionReader, ct string) *io.SectionReader {
	sd.res.ContentType, sd.res.Whole = ct, true
	return raw
}

// transfer undoes a transfer encoding; identity encodings cost nothing,
// the others are decoded to a spool file.
func (sd *streamDecoder) transfer(body *io.SectionReader, cte string) (*io.SectionReader, error) {
	switch cte {
	case "", "7bit", "8bit", "binary":
		return body, nil
	}
	return sd.sp.fill(func(w io.Writer) error { return decodeTransferTo(sd.ctx, w, body, cte) })
}

func (sd *streamDecoder) decrypt(der *io.SectionReader) (*io.SectionReader, error) {
	recips, err := sd.opts.recipients()
	if err != nil {
		return nil, component.Refusal(component.ErrDecryptionFailed, err)
	}
	// The spool file holds unauthenticated plaintext until
	// DecryptStreamAny returns nil; fill discards it otherwise. A bad CBC
	// padding is the exception: refused as soon as found, it would be
	// answered sooner than a good padding whose content a later check
	// refuses (blocks appended to a captured message: see
	// multipartSigned), and the time would tell the sender which padding
	// was good. So its content is decoded as any other, and refused at
	// the end (decodeMessage).
	i := -1
	var badPadding error
	out, err := sd.sp.fill(func(w io.Writer) error {
		var err error
		i, err = cms.DecryptStreamAny(sd.ctx, der, der.Size(), recips, w)
		if errors.Is(err, cms.ErrBadPadding) {
			badPadding, err = err, nil
		}
		return err
	})
	if err != nil {
		return nil, component.Refusal(component.ErrDecryptionFailed, decryptError(recips, i, err))
	}
	if badPadding != nil && sd.badPadding == nil {
		sd.badPadding = component.Refusal(component.ErrDecryptionFailed, decryptError(recips, i, badPadding))
	}
	if sd.res.DecryptedWith == nil {
		sd.res.DecryptedWith = recips[i].Cert
	}
	return out, nil
}

func (sd *streamDecoder) opaqueSigned(der *io.SectionReader) (*io.SectionReader, error) {
	if sd.opts.Roots == nil && !sd.opts.Unverified {
		return nil, errSignedWithoutRoots
	}
	var detached []byte
	content, err := sd.sp.fill(func(w io.Writer) error {
		var err error
		detached, err = cms.StreamSignedData(sd.ctx, der, der.Size(), w)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("smime: parsing SignedData: %w", err)
	}
	if sd.opts.Unverified {
		return content, nil
	}
	return sd.verify(detached, []func() (*io.SectionReader, error){
		func() (*io.SectionReader, error) { return content, nil },
	}, false)
}

// multipartSigned is verifyMultipartSigned over sections.
func (sd *streamDecoder) multipartSigned(body *io.SectionReader, params map[string]string) (*io.SectionReader, error) {
	switch p := strings.ToLower(params["protocol"]); p {
	case "application/pkcs7-signature", "application/x-pkcs7-signature":
	default:
		return nil, fmt.Errorf("smime: multipart/signed with unsupported protocol %q", clip(params["protocol"]))
	}
	parts, epilogue, err := splitMultipartSection(sd.ctx, body, params["boundary"])
	if err != nil {
		return nil, fmt.Errorf("smime: multipart/signed: %w", err)
	}
	if sd.res.Unauthenticated {
		// What follows the close delimiter is signed by nobody, and what
		// CBC decrypted there is anyone's: blocks appended to a captured
		// message's ciphertext. Were it ignored, as MIME has it, a valid
		// padding of the last one would be processed, a bad one
		// decryption-failed: a padding oracle. No sender writes more than
		// line breaks there.
		if err := blankEpilogue(sd.ctx, epilogue); err != nil {
			return nil, fmt.Errorf("smime: multipart/signed decrypted from CBC: %w", err)
		}
	}
	sd.step("multipart/signed: %d parts", len(parts))
	if len(parts) != 2 {
		return nil, fmt.Errorf("smime: multipart/signed has %d parts, want 2", len(parts))
	}
	sigRaw, err := readAllCapped(parts[1].body, maxSignaturePart, "signature part")
	if err != nil {
		return nil, fmt.Errorf("smime: %w", err)
	}
	if sd.unsignedCBC {
		// The signature part's header is signed by nobody either.
		if _, sigBody, err := parseEntity(sigRaw); err == nil {
			if err := strictHeader(sigRaw[:len(sigRaw)-len(sigBody)]); err != nil {
				return nil, fmt.Errorf("smime: signature part: %w", err)
			}
		}
	}
	der, err := signaturePart(sigRaw)
	if err != nil {
		return nil, err
	}

	signed := parts[0]
	if sd.opts.Unverified {
		// The signed part as it came: nothing chooses among readings.
		return signed.body, nil
	}
	// Readings of the signed part, most likely first (see Decode); the
	// LF→CRLF one is written out only if the others do not verify.
	candidates := []func() (*io.SectionReader, error){
		func() (*io.SectionReader, error) { return signed.body, nil },
	}
	if signed.lfBody != nil {
		candidates = append(candidates, func() (*io.SectionReader, error) { return signed.lfBody, nil })
	}
	candidates = append(candidates, func() (*io.SectionReader, error) {
		bare, err := hasBareLF(sd.ctx, signed.body)
		if err != nil || !bare {
			return nil, err
		}
		return sd.sp.fill(func(w io.Writer) error {
			_, err := copyCtx(sd.ctx, &lfToCRLFWriter{w: w}, io.NewSectionReader(signed.body, 0, signed.body.Size()))
			return err
		})
	})
	return sd.verify(der, candidates, true)
}

// verify is verifySignedData with the content in sections: der is the
// SignedData without (or, detached, never with) its content, and the
// candidates yield the possible readings of the content (nil: none).
func (sd *streamDecoder) verify(der []byte, candidates []func() (*io.SectionReader, error), detached bool) (*io.SectionReader, error) {
	opts := sd.opts
	p7, err := parseSignedData(der, opts, detached)
	if err != nil {
		return nil, err
	}
	unattributed := false
	for i := range p7.Signers {
		if len(p7.Signers[i].AuthenticatedAttributes) == 0 {
			unattributed = true
		}
	}

	var (
		content  *io.SectionReader
		firstErr error
	)
	for _, next := range candidates {
		c, err := next()
		if err != nil {
			return nil, err
		}
		if c == nil {
			continue
		}
		// The digest is computed by streaming the section (sectionHasher);
		// only a signature over the content itself needs it in memory.
		p7.Content = nil
		if unattributed {
			if p7.Content, err = readAllCapped(c, maxUnattributedContent, "content signed without signed attributes"); err != nil {
				return nil, fmt.Errorf("smime: %w", err)
			}
		}
		h := &sectionHasher{ctx: sd.ctx, sec: c, sums: map[crypto.Hash][]byte{}}
		p7.Hasher = h
		err = verifyPKCS7(p7)
		if h.err != nil {
			return nil, fmt.Errorf("smime: hashing the signed content: %w", h.err)
		}
		if err == nil {
			content = c
			break
		}
		if firstErr == nil {
			firstErr = err
		}
		var mismatch *pkcs7.MessageDigestMismatchError
		if !errors.As(err, &mismatch) {
			break
		}
	}
	if content == nil {
		return nil, component.Refusal(component.ErrAuthenticationFailed, fmt.Errorf("smime: signature verification failed: %w", firstErr))
	}
	first, err := checkSigners(p7, opts)
	if err != nil {
		return nil, component.Refusal(component.ErrAuthenticationFailed, err)
	}
	sd.res.Signed = true
	sd.res.Signer = first
	return content, nil
}

// sectionHasher gives pkcs7 the digest of a section, computed by
// streaming it once per hash function, instead of hashing p7.Content.
type sectionHasher struct {
	ctx  context.Context
	sec  *io.SectionReader
	sums map[crypto.Hash][]byte
	err  error // an I/O or context failure, reported instead of pkcs7's
}

func (h *sectionHasher) Hash(fn crypto.Hash, _ io.Reader) ([]byte, error) {
	if s, ok := h.sums[fn]; ok {
		return s, nil
	}
	if !fn.Available() {
		return nil, fmt.Errorf("hash function %v not available", fn)
	}
	d := fn.New()
	if _, err := copyCtx(h.ctx, d, io.NewSectionReader(h.sec, 0, h.sec.Size())); err != nil {
		h.err = err
		return nil, err
	}
	s := d.Sum(nil)
	h.sums[fn] = s
	return s, nil
}

// blankEpilogue checks that a multipart epilogue holds nothing but white
// space and line breaks.
func blankEpilogue(ctx context.Context, epilogue *io.SectionReader) error {
	buf := make([]byte, 32<<10)
	for off := int64(0); off < epilogue.Size(); {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := epilogue.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the epilogue: %w", err)
		}
		if n == 0 {
			break
		}
		for _, c := range buf[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				return fmt.Errorf("data after the close delimiter (an epilogue of %d octets)", epilogue.Size())
			}
		}
		off += int64(n)
	}
	return nil
}
