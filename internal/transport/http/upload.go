package http

import (
	"context"
	"io"
	"time"
)

// spoolBytes is how much of a body the HTTP receiver reads before it hands
// the body to the Sink: the chunk size of both message boxes
// (sqlitebox.ChunkSize, pgbox.ChunkSize; a test checks). A body up to this
// size reaches the box complete, so the box's chunk buffer, which it
// takes for a whole Receive, is never held while a client dawdles; only a
// larger body streams into the box.
const spoolBytes = 1 << 20

// segmentBytes is the step in which a spooled body's memory grows, and is
// counted against the Budget: a stalled client holds what it sent, rounded
// up to a segment, not a whole chunk.
const segmentBytes = 32 << 10

// upload holds the spooled start of one request body and the share of the
// Budget it has taken. It is used by one goroutine: the handler, and the
// Sink it calls.
type upload struct {
	budget *Budget
	idle   time.Duration // how long acquire may wait
	held   int64         // bytes of budget taken, given back by close
	segs   [][]byte      // the spooled bytes not yet read by the Sink
	n      int64         // bytes spooled
}

// spool reads body until its end or until spoolBytes are read, taking
// budget for each segment before reading into it. complete reports that
// the end was reached. An error is the body's (see Body) or wraps
// errBusy.
func (u *upload) spool(ctx context.Context, body io.Reader) (complete bool, err error) {
	for u.n < spoolBytes {
		if len(u.segs) == 0 || len(u.segs[len(u.segs)-1]) == segmentBytes {
			if err := u.take(ctx, segmentBytes); err != nil {
				return false, err
			}
			u.segs = append(u.segs, make([]byte, 0, segmentBytes))
		}
		last := &u.segs[len(u.segs)-1]
		m, err := body.Read((*last)[len(*last):segmentBytes])
		*last = (*last)[:len(*last)+m]
		u.n += int64(m)
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

// take takes n bytes of the budget for this upload.
func (u *upload) take(ctx context.Context, n int64) error {
	if err := u.budget.acquire(ctx, n, u.idle); err != nil {
		return err
	}
	u.held += n
	return nil
}

// Read hands the spooled bytes to the Sink. Each segment's budget is given
// back once the Sink has read it: by then the box has copied it into its
// own chunk buffer, which a streamed body has budget for.
func (u *upload) Read(p []byte) (int, error) {
	for len(u.segs) > 0 && len(u.segs[0]) == 0 {
		u.segs[0] = nil
		u.segs = u.segs[1:]
		u.give(segmentBytes)
	}
	if len(u.segs) == 0 {
		return 0, io.EOF
	}
	n := copy(p, u.segs[0])
	u.segs[0] = u.segs[0][n:]
	return n, nil
}

// give gives n bytes of budget back.
func (u *upload) give(n int64) {
	u.budget.release(n)
	u.held -= n
}

// close drops the spooled bytes and gives back all the budget the upload
// holds.
func (u *upload) close() {
	u.segs = nil
	u.give(u.held)
}
