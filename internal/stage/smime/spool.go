package smime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/bizpipe/bizpipe/internal/fsop"
)

// spool owns the temporary files of one DecodeStream call, unlinked as
// soon as they are created (fsop.Unlinked), so nothing is left behind even
// if the process dies. A file is closed, and its space freed, as soon as
// no layer still to be read needs it (keepOnly), or when the call ends.
type spool struct {
	ctx   context.Context
	dir   string
	files []spooled
	// live is what the open files hold; peak the most they held at once
	// (DecodeOptions.spoolPeak).
	live, peak int64
}

// spooled is one file of a spool and what fill wrote to it.
type spooled struct {
	u    *fsop.Unlinked
	size int64
}

func (s *spool) create() (*os.File, error) {
	f, err := fsop.CreateUnlinked(s.dir, "bizpipe-smime-*")
	if err != nil {
		return nil, fmt.Errorf("smime: %w", err)
	}
	s.files = append(s.files, spooled{u: f})
	return f.File, nil
}

// discard frees the disk space of a file whose content must not be used
// (unverified plaintext) before close.
func (s *spool) discard(f *os.File) {
	_ = f.Truncate(0)
}

// wrote records that f, the last file created, holds n octets.
func (s *spool) wrote(f *os.File, n int64) {
	if last := &s.files[len(s.files)-1]; last.u.File == f {
		last.size = n
		s.live += n
		s.peak = max(s.peak, s.live)
	}
}

// keepOnly closes every file but those the sections in keep read (nil
// ones ignored): the layers already decoded, which nothing reads again.
// Without it a message decoded layer by layer would need, for a moment,
// room for every layer at once.
func (s *spool) keepOnly(keep ...*io.SectionReader) {
	var needed []io.ReaderAt
	for _, sec := range keep {
		if sec != nil {
			needed = append(needed, backing(sec))
		}
	}
	kept := s.files[:0]
	for _, f := range s.files {
		if slices.Contains(needed, io.ReaderAt(f.u.File)) {
			kept = append(kept, f)
			continue
		}
		_ = f.u.Close()
		s.live -= f.size
	}
	clear(s.files[len(kept):])
	s.files = kept
}

// backing returns what sec reads in the end, through the sections it is
// made of: a spool file's *os.File, or the caller's source.
func backing(sec *io.SectionReader) io.ReaderAt {
	var r io.ReaderAt = sec
	for {
		s, ok := r.(*io.SectionReader)
		if !ok {
			return r
		}
		r, _, _ = s.Outer()
	}
}

func (s *spool) close() {
	for _, f := range s.files {
		_ = f.u.Close()
	}
	s.files = nil
	s.live = 0
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
	s.wrote(f, cw.n)
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
