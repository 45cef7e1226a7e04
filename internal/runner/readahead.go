package runner

import (
	"io"
	"sync"

	"github.com/bizpipe/bizpipe/internal/component"
)

// Readahead reads a large body from the box in a goroutine of its own, a
// few pieces ahead of the stages: reading the box costs CPU and I/O (SQLite
// pages, a PostgreSQL round trip per chunk) that then overlaps the crypto
// instead of adding to it.
const (
	readaheadMin    = 4 << 20 // bodies smaller than this are read directly
	readaheadPiece  = 1 << 20
	readaheadPieces = 4
)

// readahead is an io.ReadCloser over rc that reads ahead when the body is
// large. Close stops the reading goroutine and closes rc.
type readahead struct {
	rc io.ReadCloser
	// Set when reading ahead.
	full  chan []byte // pieces read, in order; closed at the end
	free  chan []byte // pieces to read into
	stop  chan struct{}
	done  chan struct{}
	err   error  // the reading error, valid once full is closed
	piece []byte // the piece being read from, whole
	cur   []byte // its unread rest
	close sync.Once
}

func newReadahead(rc io.ReadCloser, size int64) *readahead {
	ra := &readahead{rc: rc}
	if size < readaheadMin {
		return ra
	}
	ra.full = make(chan []byte, readaheadPieces)
	ra.free = make(chan []byte, readaheadPieces)
	ra.stop = make(chan struct{})
	ra.done = make(chan struct{})
	for range readaheadPieces {
		ra.free <- make([]byte, readaheadPiece)
	}
	go ra.fill()
	return ra
}

// fill reads pieces until the end, an error or stop. A panic in the
// box's reader (a bug) is the reading error: this goroutine is the
// runner's, and nothing else could recover it.
func (ra *readahead) fill() {
	defer close(ra.done)
	defer close(ra.full)
	defer component.Recover(&ra.err, "the message box")
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.stop:
			return
		}
		n, err := io.ReadFull(ra.rc, buf[:cap(buf)])
		if n > 0 {
			select {
			case ra.full <- buf[:n]:
			case <-ra.stop:
				return
			}
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return
		default:
			ra.err = err
			return
		}
	}
}

func (ra *readahead) Read(p []byte) (int, error) {
	if ra.full == nil {
		return ra.rc.Read(p)
	}
	if len(ra.cur) == 0 {
		if ra.piece != nil {
			ra.free <- ra.piece // never blocks: it has room for every piece
			ra.piece = nil
		}
		buf, ok := <-ra.full
		if !ok {
			if ra.err != nil {
				return 0, ra.err
			}
			return 0, io.EOF
		}
		ra.piece, ra.cur = buf, buf
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops reading ahead and closes the body.
func (ra *readahead) Close() error {
	ra.close.Do(func() {
		if ra.full != nil {
			close(ra.stop)
			<-ra.done
		}
	})
	return ra.rc.Close()
}
