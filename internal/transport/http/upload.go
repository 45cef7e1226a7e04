package http

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
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

// Upload is one request body on its way to a Sink, read under a Budget:
// the receive locations over HTTP (this transport's, and AS2's for its
// messages and asynchronous MDNs) read every body through one, so that
// all their uploads together hold at most the Budget's limit. It holds the
// spooled start of the body and the share of the Budget it has taken. It
// is used by one goroutine: the handler, and the Sink it calls. Close it
// once the Sink returned.
type Upload struct {
	body    *Body
	budget  *Budget
	wait    time.Duration // how long acquire may wait
	held    int64         // bytes of budget taken, given back by Close
	segs    [][]byte      // the spooled bytes not yet read by the Sink
	n       int64         // bytes spooled
	done    bool          // the body was spooled to its end
	started bool          // Stream was called: no more spooling
	keep    bool          // the segments' budget stays taken once read: the box's chunk's
}

// NewUpload starts the upload of body under b; wait is how long it may
// wait for room (the location's body idle timeout) before it fails.
func (b *Budget) NewUpload(body *Body, wait time.Duration) *Upload {
	return &Upload{body: body, budget: b, wait: wait}
}

// Spool reads the body until its end or until spoolBytes are read,
// taking budget for each segment before reading into it; complete
// reports that the end was reached. An error is the body's or the
// Budget's: Refuse answers it.
func (u *Upload) Spool(ctx context.Context) (complete bool, err error) {
	return u.spool(ctx, spoolBytes)
}

// ReadAll reads the whole body into memory, under the Budget as Spool
// does, for a body read whole rather than streamed (AS2's asynchronous
// MDN): ok is false, and nothing returned, when it is longer than max
// bytes. The bytes returned stay counted until Close.
func (u *Upload) ReadAll(ctx context.Context, max int64) (b []byte, ok bool, err error) {
	// One more than max: a body of max bytes ends there. More were read
	// when Spool read further.
	complete, err := u.spool(ctx, max+1)
	if err != nil || !complete || u.n > max {
		return nil, false, err
	}
	b = make([]byte, 0, u.n)
	for _, s := range u.segs {
		b = append(b, s...)
	}
	// The segments go; their budget stays taken, for b.
	u.segs, u.started = nil, true
	return b, true, nil
}

func (u *Upload) spool(ctx context.Context, limit int64) (bool, error) {
	// Whatever happens, its spool is over: the reserve is another's turn.
	defer u.budget.leave(u)
	for !u.done && !u.started && u.n < limit {
		if len(u.segs) == 0 || len(u.segs[len(u.segs)-1]) == segmentBytes {
			if err := u.take(ctx, segmentBytes); err != nil {
				return false, err
			}
			u.segs = append(u.segs, make([]byte, 0, segmentBytes))
		}
		last := &u.segs[len(u.segs)-1]
		// Not past limit: a body read whole is bounded by it.
		end := int64(len(*last)) + limit - u.n
		// The grower that waits for its client lets another have the
		// turn (see Budget).
		var pass *time.Timer
		if u.budget.growing(u) {
			pass = time.AfterFunc(u.budget.turnWait, func() { u.budget.leave(u) })
		}
		m, err := u.body.Read((*last)[len(*last):min(segmentBytes, end)])
		if pass != nil {
			pass.Stop()
		}
		*last = (*last)[:len(*last)+m]
		u.n += int64(m)
		if err == io.EOF {
			u.done = true
		} else if err != nil {
			return false, err
		}
	}
	return u.done, nil
}

// Head is up to n of the body's first bytes, of those spooled: all of
// them when the body is shorter. Call it before the Sink reads.
func (u *Upload) Head(n int) []byte {
	var h []byte
	for _, s := range u.segs {
		if len(h) >= n {
			break
		}
		h = append(h, s[:min(len(s), n-len(h))]...)
	}
	return h
}

// Stream spools the body's start, unless Spool did, and returns the
// reader of the whole body for the Sink: the spooled bytes, then, for a
// body that did not end there, the rest as it arrives. Such a body keeps
// the budget of its spooled bytes for the box's chunk buffer, which fills
// while it waits for the client: the box has read every spooled byte into
// that buffer (of spoolBytes, as the spool) before it waits. Taking more
// instead would have each of several large uploads hold a spool while it
// waits for another's. An error is as Spool's.
func (u *Upload) Stream(ctx context.Context) (io.Reader, error) {
	complete, err := u.Spool(ctx)
	if err != nil {
		return nil, err
	}
	u.started = true
	if complete {
		return (*spooled)(u), nil
	}
	u.keep = true
	return io.MultiReader((*spooled)(u), u.body), nil
}

// Refuse answers the request whose upload failed with err, by the cause,
// as Body.Refuse does, or 503 with Retry-After when the Budget had no
// room, logged as a warning; it reports false, having answered nothing,
// when neither was the cause (the failure was the Sink's own).
func (u *Upload) Refuse(w http.ResponseWriter, log *slog.Logger, err error, write func(w http.ResponseWriter, code int, msg string)) bool {
	if u.body.Refuse(w, log, write) {
		return true
	}
	if !errors.Is(err, errBusy) {
		return false
	}
	log.Warn("request refused: too many uploads in flight", "error", err, "in_flight_limit", u.budget.Limit())
	w.Header().Set("Connection", "close") // the body was not read
	w.Header().Set("Retry-After", "5")
	write(w, http.StatusServiceUnavailable, "too many uploads in flight; try again later")
	return true
}

// take takes n bytes of the budget for this upload.
func (u *Upload) take(ctx context.Context, n int64) error {
	if err := u.budget.acquire(ctx, u, n, u.wait); err != nil {
		return err
	}
	u.held += n
	return nil
}

// spooled reads an Upload's spooled bytes.
type spooled Upload

// Read hands the spooled bytes to the Sink. Each segment is dropped once
// the Sink has read it, the box having copied it into its own chunk
// buffer; its budget is given back, unless the body streams on (keep):
// then it is the chunk buffer's until Close.
func (s *spooled) Read(p []byte) (int, error) {
	u := (*Upload)(s)
	for len(u.segs) > 0 && len(u.segs[0]) == 0 {
		u.segs[0] = nil
		u.segs = u.segs[1:]
		if !u.keep {
			u.give(segmentBytes)
		}
	}
	if len(u.segs) == 0 {
		return 0, io.EOF
	}
	n := copy(p, u.segs[0])
	u.segs[0] = u.segs[0][n:]
	return n, nil
}

// give gives n bytes of budget back.
func (u *Upload) give(n int64) {
	u.budget.release(n)
	u.held -= n
}

// Close drops the spooled bytes and gives back all the budget the upload
// holds.
func (u *Upload) Close() {
	u.budget.leave(u)
	u.segs = nil
	u.give(u.held)
}
