package smime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bizpipe/bizpipe/internal/fsop"
)

// spool owns the temporary files of one DecodeStream call, unlinked as
// soon as they are created (fsop.Unlinked), so nothing is left behind even
// if the process dies.
type spool struct {
	ctx   context.Context
	dir   string
	files []*fsop.Unlinked
}

func (s *spool) create() (*os.File, error) {
	f, err := fsop.CreateUnlinked(s.dir, "bizpipe-smime-*")
	if err != nil {
		return nil, fmt.Errorf("smime: %w", err)
	}
	s.files = append(s.files, f)
	return f.File, nil
}

// discard frees the disk space of a file whose content must not be used
// (unverified plaintext) before close.
func (s *spool) discard(f *os.File) {
	_ = f.Truncate(0)
}

func (s *spool) close() {
	for _, f := range s.files {
		_ = f.Close()
	}
	s.files = nil
}

// fill runs write on a new spool file and returns its content as a
// section. On error the file is discarded.
func (s *spool) fill(write func(w io.Writer) error) (*io.SectionReader, error) {
	f, err := s.create()
	if err != nil {
		return nil, err
	}
	// Buffered: decoders (base64, quoted-printable) write small pieces.
	bw := bufio.NewWriterSize(f, copyBuf)
	cw := &countWriter{w: bw}
	err = write(cw)
	if err == nil {
		if err = bw.Flush(); err != nil {
			err = fmt.Errorf("smime: writing a spool file: %w", err)
		}
	}
	if err != nil {
		s.discard(f)
		return nil, err
	}
	return io.NewSectionReader(f, 0, cw.n), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("smime: writing a spool file: %w", err)
	}
	return n, nil
}

// ctxReader checks the context before every read, so that copies of
// large content stop when the caller gives up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err // the caller adds the context
	}
	return c.r.Read(b)
}

// copyBuf is the chunk size of the decoder's copies.
const copyBuf = 64 << 10

// copyCtx copies src to dst in chunks, checking ctx.
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	return io.CopyBuffer(onlyWriter{dst}, ctxReader{ctx, src}, make([]byte, copyBuf))
}

// onlyWriter hides ReadFrom, so io.CopyBuffer uses the bounded buffer.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(b []byte) (int, error) { return o.w.Write(b) }

// readAllCapped reads a whole section that must be small.
func readAllCapped(sec *io.SectionReader, max int64, what string) ([]byte, error) {
	if sec.Size() > max {
		return nil, fmt.Errorf("%s of %d octets is larger than the %d this decoder accepts", what, sec.Size(), max)
	}
	b := make([]byte, sec.Size())
	if n, err := sec.ReadAt(b, 0); n != len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	return b, nil
}
