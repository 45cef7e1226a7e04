package cms

// A BER walker over an io.ReaderAt, for content too large to hold in
// memory. It reads only identifier and length octets while it walks; the
// small elements around the content (algorithm identifiers, recipient
// infos, certificates, signer infos) are loaded with a size cap and handed
// to the in-memory reader of ber.go, and the content octets are visited
// segment by segment without being gathered.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bizpipe/bizpipe/internal/ber"
)

// streamHead is one element header read from a stream.
type streamHead struct {
	class       uint8
	constructed bool
	tag         uint32
	off         int64 // offset of the identifier octets
	hdrLen      int
	length      int64 // contents length; -1 for indefinite
}

func (h *streamHead) is(class uint8, tag uint32) bool { return h.class == class && h.tag == tag }

// bodyOff returns the offset of the contents octets.
func (h *streamHead) bodyOff() int64 { return h.off + int64(h.hdrLen) }

// ctxCheckEvery is how many elements a walk visits between checks of the
// context: often enough to stop a hostile walk quickly, rarely enough to
// cost nothing.
const ctxCheckEvery = 1024

// berWalker reads element headers from r, never past limit.
type berWalker struct {
	ctx   context.Context
	r     io.ReaderAt
	limit int64
	steps int
	buf   [16]byte
	// A window of the input serves the small header reads, which mostly
	// come in order: one ReadAt per window rather than two per element.
	win    []byte
	winOff int64
	// ends caches where indefinite-length elements end: the iterators
	// ask again for each level of nesting, which would otherwise walk a
	// large streamed content once per level.
	ends map[int64]int64
}

// maxCachedEnds bounds the cache; real messages have a few dozen
// indefinite-length elements.
const maxCachedEnds = 1024

const walkerWindow = 4096

func newBERWalker(ctx context.Context, r io.ReaderAt, size int64) *berWalker {
	return &berWalker{ctx: ctx, r: r, limit: size}
}

// tick counts a step and checks the context now and then.
func (w *berWalker) tick() error {
	w.steps++
	if w.steps%ctxCheckEvery == 0 {
		if err := w.ctx.Err(); err != nil {
			return fmt.Errorf("envelope: %w", err)
		}
	}
	return nil
}

// readAt reads up to len(b) octets at off, fewer only at limit.
func (w *berWalker) readAt(b []byte, off, limit int64) (int, error) {
	if off >= limit {
		return 0, nil
	}
	if rem := limit - off; rem < int64(len(b)) {
		b = b[:rem]
	}
	if len(b) <= len(w.buf) {
		if off < w.winOff || off+int64(len(b)) > w.winOff+int64(len(w.win)) {
			if w.win == nil {
				w.win = make([]byte, walkerWindow)
			}
			n, err := w.r.ReadAt(w.win[:cap(w.win)], off)
			if n < len(b) && err != nil && !errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("envelope: reading input: %w", err)
			}
			w.win, w.winOff = w.win[:n], off
		}
		n := copy(b, w.win[off-w.winOff:])
		if n < len(b) {
			return n, errTruncated
		}
		return n, nil
	}
	n, err := w.r.ReadAt(b, off)
	if n == len(b) {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return n, errTruncated
	}
	return n, fmt.Errorf("envelope: reading input: %w", err)
}

// isEOC reports whether the end-of-contents octets are at off.
func (w *berWalker) isEOC(off, limit int64) (bool, error) {
	if limit-off < 2 {
		return false, errTruncated
	}
	b := w.buf[:2]
	if _, err := w.readAt(b, off, limit); err != nil {
		return false, err
	}
	return b[0] == 0 && b[1] == 0, nil
}

// head parses the header at off; the element must end by limit.
func (w *berWalker) head(off, limit int64) (streamHead, error) {
	if err := w.tick(); err != nil {
		return streamHead{}, err
	}
	n, err := w.readAt(w.buf[:], off, limit)
	if err != nil {
		return streamHead{}, err
	}
	p, err := ber.ParseHead(w.buf[:n])
	switch {
	case errors.Is(err, ber.ErrTruncated):
		return streamHead{}, errTruncated
	case err != nil:
		return streamHead{}, errMalformed
	}
	h := streamHead{off: off, class: p.Class, constructed: p.Constructed, tag: p.Tag, hdrLen: p.Len, length: int64(p.Length)}
	if h.length >= 0 && h.length > limit-off-int64(h.hdrLen) {
		return streamHead{}, errTruncated
	}
	return h, nil
}

// end returns the offset just past the element h, walking the children of
// an indefinite-length element to find its end-of-contents octets.
func (w *berWalker) end(h streamHead, limit int64, depth int) (int64, error) {
	if h.length >= 0 {
		return h.bodyOff() + h.length, nil
	}
	if depth > maxDepth {
		return 0, errTooDeep
	}
	if e, ok := w.ends[h.off]; ok && e <= limit {
		return e, nil
	}
	pos := h.bodyOff()
	for {
		eoc, err := w.isEOC(pos, limit)
		if err != nil {
			return 0, err
		}
		if eoc {
			if w.ends == nil {
				w.ends = make(map[int64]int64)
			}
			if len(w.ends) < maxCachedEnds {
				w.ends[h.off] = pos + 2
			}
			return pos + 2, nil
		}
		c, err := w.head(pos, limit)
		if err != nil {
			return 0, err
		}
		if pos, err = w.end(c, limit, depth+1); err != nil {
			return 0, err
		}
	}
}

// streamChildren iterates over the children of a constructed element.
type streamChildren struct {
	w          *berWalker
	pos, limit int64 // limit: end of a definite parent, or the parent's own limit
	indefinite bool
	depth      int
	done       bool
}

// children returns an iterator over h's children; limit bounds h.
func (w *berWalker) children(h *streamHead, limit int64, depth int) (*streamChildren, error) {
	if !h.constructed {
		return nil, errMalformed
	}
	if depth > maxDepth {
		return nil, errTooDeep
	}
	c := &streamChildren{w: w, pos: h.bodyOff(), limit: limit, indefinite: h.length < 0, depth: depth + 1}
	if h.length >= 0 {
		c.limit = h.bodyOff() + h.length
	}
	return c, nil
}

// more reports whether another child follows, consuming the
// end-of-contents octets of an indefinite parent.
func (c *streamChildren) more() (bool, error) {
	if c.done {
		return false, nil
	}
	if !c.indefinite {
		c.done = c.pos == c.limit
		return !c.done, nil
	}
	eoc, err := c.w.isEOC(c.pos, c.limit)
	if err != nil {
		return false, err
	}
	if eoc {
		c.pos += 2
		c.done = true
	}
	return !c.done, nil
}

// next returns the next child header and moves past the child.
func (c *streamChildren) next() (streamHead, error) {
	ok, err := c.more()
	if err != nil {
		return streamHead{}, err
	}
	if !ok {
		return streamHead{}, errTruncated
	}
	h, err := c.w.head(c.pos, c.limit)
	if err != nil {
		return streamHead{}, err
	}
	if c.pos, err = c.w.end(h, c.limit, c.depth); err != nil {
		return streamHead{}, err
	}
	return h, nil
}

// peek returns the next child header without moving; ok is false at the
// end of the parent.
func (c *streamChildren) peek() (streamHead, bool, error) {
	ok, err := c.more()
	if err != nil || !ok {
		return streamHead{}, false, err
	}
	h, err := c.w.head(c.pos, c.limit)
	return h, err == nil, err
}

// expect returns the next child, which must have the given class and tag.
func (c *streamChildren) expect(class uint8, tag uint32) (streamHead, error) {
	h, err := c.next()
	if err != nil {
		return streamHead{}, err
	}
	if !h.is(class, tag) {
		return streamHead{}, errMalformed
	}
	return h, nil
}

// finish checks that no child is left.
func (c *streamChildren) finish() error {
	ok, err := c.more()
	if err != nil {
		return err
	}
	if ok {
		return errMalformed
	}
	return nil
}

// load reads the whole encoding of h into memory (at most max octets) and
// parses it with the in-memory reader.
func (w *berWalker) load(h *streamHead, limit int64, depth, max int) (element, error) {
	end, err := w.end(*h, limit, depth)
	if err != nil {
		return element{}, err
	}
	n := end - h.off
	if n > int64(max) {
		return element{}, fmt.Errorf("%w: element of %d octets where at most %d are expected", errMalformed, n, max)
	}
	raw := make([]byte, n)
	if _, err := w.readAt(raw, h.off, end); err != nil {
		return element{}, err
	}
	e, rest, err := parseElement(raw, depth)
	if err != nil {
		return element{}, err
	}
	if len(rest) != 0 {
		return element{}, errMalformed
	}
	return e, nil
}

// segments calls fn with the offset and length of each primitive segment
// of a (possibly constructed) string element, in order. Segments of a
// constructed encoding must be universal OCTET STRINGs nested at most
// maxStringNesting deep, as walkOctets requires.
func (w *berWalker) segments(h *streamHead, limit int64, depth int, fn func(off, n int64) error) error {
	return w.segmentsNested(*h, limit, depth, 0, fn)
}

func (w *berWalker) segmentsNested(h streamHead, limit int64, depth, nest int, fn func(off, n int64) error) error {
	if nest > maxStringNesting {
		return fmt.Errorf("%w: constructed string nested too deep", errMalformed)
	}
	if !h.constructed {
		return fn(h.bodyOff(), h.length)
	}
	c, err := w.children(&h, limit, depth)
	if err != nil {
		return err
	}
	for {
		ok, err := c.more()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		s, err := w.head(c.pos, c.limit)
		if err != nil {
			return err
		}
		if !s.is(classUniversal, tagOctetString) {
			return errMalformed
		}
		if err := w.segmentsNested(s, c.limit, depth+1, nest+1, fn); err != nil {
			return err
		}
		// The segment's end is known now without another walk.
		if c.pos, err = w.end(s, c.limit, depth+1); err != nil {
			return err
		}
	}
}
