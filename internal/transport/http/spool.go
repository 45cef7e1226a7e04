package http

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bizpipe/bizpipe/internal/fsop"
)

// spoolMemory is how much of a payload a spool keeps in memory before it
// moves to a file: most messages are a few KiB and never touch the disk.
const spoolMemory = 1 << 20

// spool holds a payload written in pieces, in memory up to spoolMemory and
// in an unlinked temporary file beyond, so that it can be sent with a
// Content-Length, and sent again, without ever being held whole in memory.
type spool struct {
	dir  string // where the file goes; "" is os.TempDir()
	mem  bytes.Buffer
	file *fsop.Unlinked
	size int64
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && s.mem.Len()+len(p) <= spoolMemory {
		s.size += int64(len(p))
		return s.mem.Write(p)
	}
	if s.file == nil {
		// Unlinked: a crash leaves nothing behind, and the space comes
		// back when the file is closed.
		f, err := fsop.CreateUnlinked(s.dir, ".bizpipe-spool-*")
		if err != nil {
			return 0, fmt.Errorf("spooling the payload: %w", err)
		}
		s.file = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			return 0, fmt.Errorf("spooling the payload: %w", err)
		}
		s.mem = bytes.Buffer{}
	}
	n, err := s.file.Write(p)
	s.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("spooling the payload: %w", err)
	}
	return n, nil
}

// reader returns a new reader of the whole payload.
func (s *spool) reader() io.Reader {
	if s.file == nil {
		return bytes.NewReader(s.mem.Bytes())
	}
	return io.NewSectionReader(s.file, 0, s.size)
}

// close releases the memory and the file.
func (s *spool) close() error {
	s.mem = bytes.Buffer{}
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
