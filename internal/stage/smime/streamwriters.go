package smime

import (
	"errors"
	"io"

	"github.com/bizpipe/bizpipe/internal/component"
)

// Plumbing of the streaming encoder: each layer is an io.WriteCloser whose
// Close finishes its own output and then closes the next layer, down to
// the destination, which is never closed (nopCloser).

// streamBuf is the size of the work buffers of the layers: a few of them
// per message, whatever the message size.
const streamBuf = 32 << 10

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// prefixWriter writes prefix (header lines of an inner entity, the start of
// a multipart body) before the first byte, or at Close for an empty body,
// so that nothing reaches the destination before the caller writes.
type prefixWriter struct {
	next   io.WriteCloser
	prefix []byte
}

func (w *prefixWriter) flushPrefix() error {
	if w.prefix == nil {
		return nil
	}
	_, err := w.next.Write(w.prefix)
	w.prefix = nil
	return err
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	if err := w.flushPrefix(); err != nil {
		return 0, err
	}
	return w.next.Write(p)
}

func (w *prefixWriter) Close() error {
	if err := w.flushPrefix(); err != nil {
		return err
	}
	return w.next.Close()
}

// closeChain closes w, then next (a writer that does not close its
// destination, such as a cms envelope, followed by the layer under it).
type closeChain struct {
	io.Writer
	w    io.Closer
	next io.Closer
}

func (c closeChain) Close() error {
	if err := c.w.Close(); err != nil {
		return err
	}
	return c.next.Close()
}

// stickyWriter is what Wrap returns: after the first error every Write and
// Close return it, and nothing more reaches the layers (whose state is
// undefined after a failure).
type stickyWriter struct {
	w      io.WriteCloser
	err    error
	closed bool
	// asyncs are the goroutine boundaries inside the chain, outermost
	// first, which Close ends also after a failure.
	asyncs []*asyncWriter
}

// abort ends the goroutines, each after the one above it, which may still
// be writing into it.
func (s *stickyWriter) abort() {
	for _, a := range s.asyncs {
		a.abort()
	}
}

var errClosed = errors.New("smime: write after Close")

// Write and Close make a panic in the layers (a bug) a failure like any
// other: the state of the layers is undefined after it, and Close must
// still end the goroutines.
func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.closed {
		return 0, errClosed
	}
	n, err := s.write(p)
	if err != nil {
		s.err = err
		return n, err
	}
	return len(p), nil
}

func (s *stickyWriter) write(p []byte) (n int, err error) {
	defer component.Recover(&err, "")
	return s.w.Write(p)
}

func (s *stickyWriter) Close() error {
	if s.err != nil {
		s.abort()
		return s.err
	}
	if s.closed {
		return nil
	}
	s.closed = true
	s.err = s.close()
	if s.err != nil {
		s.abort()
	}
	return s.err
}

func (s *stickyWriter) close() (err error) {
	defer component.Recover(&err, "")
	return s.w.Close()
}
