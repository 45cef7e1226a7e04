package http

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultInFlightBytes is the limit of a Budget created with a limit of 0,
// and of the Budget of an HTTP receiver created without one: 64 MiB.
const DefaultInFlightBytes int64 = 64 << 20

// reserveBytes is the part of a Budget's limit kept for its grower (see
// Budget): what one upload's spool can need.
const reserveBytes = spoolBytes

// turnWait is how long the grower may wait for its client before another
// upload may grow into the reserve: a client sending at full speed does
// not pause that long.
const turnWait = time.Second

// MinInFlightBytes is the smallest limit a Budget takes: the reserve, and
// as much again for the other uploads, so that a body larger than
// spoolBytes can always be received eventually, and uploads that do not
// need the reserve are not served one at a time.
const MinInFlightBytes = 2 * reserveBytes

// errBusy: the budget had no room for an upload within the idle timeout.
var errBusy = errors.New("the in-flight upload budget is spent")

// Budget bounds the memory that uploads over HTTP in flight (Upload)
// hold, in total over the receivers that share it (the runner gives all
// its receive locations over HTTP one, the http and as2 transports':
// SharedBudget). It counts what a slow or stalled client can make the
// process hold:
//
//   - the spooled part of every body: up to its first spoolBytes (1 MiB), in
//     segments of segmentBytes (32 KiB), each counted when it is allocated,
//     before the bytes it will hold arrive (all of a body read whole:
//     Upload.ReadAll); and
//   - for a body larger than that, the chunk of spoolBytes that the message
//     box fills while it waits for the rest of the body: the spooled
//     part's budget, kept for it (Upload.Stream), so that such an upload
//     holds spoolBytes and waits for no more once it has them.
//
// A complete body's commit is not counted: the box's chunk buffer is then
// held only for a transaction, which the client cannot delay.
//
// An upload that cannot get room waits, up to the receiver's body idle
// timeout, for another to give some back, and is then answered 503 with
// Retry-After. Waiters are served in order (a large request is not
// starved by small ones).
//
// Uploads arriving together must not stall one another: each holds what
// it has spooled while it waits for more, so uploads that together need
// more than the limit would each wait for room only another could give
// back, until the idle timeout ended them all. So the last reserveBytes
// of the limit are one upload's at a time, the grower's: the others take
// room only while what is taken, by anyone, leaves reserveBytes free; an
// upload that finds no such room becomes the grower when there is none,
// and may fill the limit, so its spool (at most reserveBytes) completes as
// fast as its client sends. It stops being the grower when its spool
// ends, or when it has waited turnWait for its client (a client that
// pauses must not keep the others from the reserve: it keeps only the
// room it took); the room it keeps is given back when it ends. A body
// read whole grows only in its first spoolBytes: past them it takes the
// shared room alone, so the largest it can be is the limit less the
// reserve. The reserve costs a hostile client what the rest costs: a
// request for each segment it holds (a segment is taken before the bytes
// it will hold arrive).
type Budget struct {
	limit    int64
	turnWait time.Duration // turnWait, but in tests
	mu       sync.Mutex
	taken    int64     // the room taken, under mu
	peak     int64     // the most taken at once, under mu
	grow     *Upload   // the grower, nil when none, under mu
	queue    []*waiter // the uploads waiting for room, in order, under mu
}

// waiter is an acquire waiting for room.
type waiter struct {
	u       *Upload
	n       int64
	grow    bool          // u may grow into the reserve
	ready   chan struct{} // closed once granted
	granted bool          // under Budget.mu
}

// NewBudget returns a Budget of limit bytes. 0 or less means
// DefaultInFlightBytes; a limit below MinInFlightBytes is raised to it.
func NewBudget(limit int64) *Budget {
	switch {
	case limit <= 0:
		limit = DefaultInFlightBytes
	case limit < MinInFlightBytes:
		limit = MinInFlightBytes
	}
	return &Budget{limit: limit, turnWait: turnWait}
}

// Limit is the most the uploads sharing b hold at once.
func (b *Budget) Limit() int64 { return b.limit }

// Held is what the uploads in flight hold now.
func (b *Budget) Held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.taken
}

// Peak is the most the uploads have held at once since b was created.
func (b *Budget) Peak() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

// Waiting is how many uploads wait for room now.
func (b *Budget) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// acquire takes n bytes for u, waiting for at most wait (and no longer
// than ctx, nor than u's body is not cancelled by a stop) when there is no
// room now; it fails with an error wrapping errBusy.
func (b *Budget) acquire(ctx context.Context, u *Upload, n int64, wait time.Duration) error {
	if n > b.limit {
		return fmt.Errorf("%w: %d bytes asked of a budget of %d", errBusy, n, b.limit)
	}
	// Only a spool grows into the reserve, which is what one spool
	// needs: a body read whole past its first spoolBytes (ReadAll, up to
	// 4 MiB) could need more than the reserve, and, its grower waiting
	// for room only others could give back, stall all who need it.
	grow := u == nil || u.n < spoolBytes
	b.mu.Lock()
	if !grow && b.grow == u {
		b.grow = nil
		b.serve()
	}
	// Not ahead of the waiters for the shared room; the reserve's is
	// the grower's, or free for whoever comes first.
	if (len(b.queue) == 0 && b.fitsShared(n)) || (grow && b.fitsReserve(u, n)) {
		b.take(u, n)
		b.mu.Unlock()
		return nil
	}
	w := &waiter{u: u, n: n, grow: grow, ready: make(chan struct{})}
	b.queue = append(b.queue, w)
	b.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	var stopped <-chan struct{} // nil, never ready, for an Upload without a body (tests)
	if u != nil && u.body != nil {
		stopped = u.body.stopped
	}
	var err error
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stopped:
		err = errCancelled // Refuse tells the stop's doing by the body
	case <-timer.C:
		err = context.DeadlineExceeded
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.granted {
		return nil // granted as it gave up: the room is its
	}
	b.queue = slices.DeleteFunc(b.queue, func(q *waiter) bool { return q == w })
	b.serve() // those behind it may fit where it did not
	return fmt.Errorf("%w: no room for %d bytes: %w", errBusy, n, err)
}

// fitsShared: n bytes fit in the room outside the reserve.
func (b *Budget) fitsShared(n int64) bool { return b.taken+n <= b.limit-reserveBytes }

// fitsReserve: n bytes fit for u when u may grow into the reserve.
func (b *Budget) fitsReserve(u *Upload, n int64) bool {
	return (b.grow == nil || b.grow == u) && b.taken+n <= b.limit
}

// take gives u n bytes; u becomes the grower when they reach into the
// reserve.
func (b *Budget) take(u *Upload, n int64) {
	b.taken += n
	if b.taken > b.limit-reserveBytes {
		b.grow = u
	}
	b.peak = max(b.peak, b.taken)
}

// serve grants the waiters what fits, in order: the shared room to those
// at the head of the queue, the reserve's to the grower, or to the first
// that fits when there is none.
func (b *Budget) serve() {
	shared := true
	for i := 0; i < len(b.queue); {
		w := b.queue[i]
		fits := shared && b.fitsShared(w.n)
		if !fits {
			shared = false // none behind it jumps ahead for the shared room
			fits = w.grow && b.fitsReserve(w.u, w.n)
		}
		if !fits {
			i++
			continue
		}
		b.take(w.u, w.n)
		w.granted = true
		close(w.ready)
		b.queue = slices.Delete(b.queue, i, i+1)
	}
}

// release gives back n bytes taken with acquire.
func (b *Budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.taken -= n
	b.serve()
}

// growing reports whether u is the grower.
func (b *Budget) growing(u *Upload) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.grow == u
}

// leave ends u's turn as the grower, if it is: its spool is over, or it
// waited turnWait for its client. The room it holds stays taken until it
// gives it back.
func (b *Budget) leave(u *Upload) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.grow == u {
		b.grow = nil
		b.serve()
	}
}
