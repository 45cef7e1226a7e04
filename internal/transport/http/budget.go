package http

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// DefaultInFlightBytes is the limit of a Budget created with a limit of 0,
// and of the Budget of an HTTP receiver created without one: 64 MiB.
const DefaultInFlightBytes int64 = 64 << 20

// MinInFlightBytes is the smallest limit a Budget takes: what one upload
// larger than spoolBytes holds at its peak (its spooled first chunk, whose
// budget it keeps for the chunk the message box fills while it waits for
// the client).
const MinInFlightBytes = spoolBytes

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
type Budget struct {
	limit int64
	sem   *semaphore.Weighted
	held  atomic.Int64
	peak  atomic.Int64
}

// NewBudget returns a Budget of limit bytes. 0 or less means
// DefaultInFlightBytes; a limit below MinInFlightBytes is raised to it, so
// that a body larger than 1 MiB can always be received eventually.
func NewBudget(limit int64) *Budget {
	switch {
	case limit <= 0:
		limit = DefaultInFlightBytes
	case limit < MinInFlightBytes:
		limit = MinInFlightBytes
	}
	return &Budget{limit: limit, sem: semaphore.NewWeighted(limit)}
}

// Limit is the most the uploads sharing b hold at once.
func (b *Budget) Limit() int64 { return b.limit }

// Held is what the uploads in flight hold now.
func (b *Budget) Held() int64 { return b.held.Load() }

// Peak is the most the uploads have held at once since b was created.
func (b *Budget) Peak() int64 { return b.peak.Load() }

// acquire takes n bytes, waiting for at most wait (and no longer than ctx)
// when there is no room now; it fails with an error wrapping errBusy.
func (b *Budget) acquire(ctx context.Context, n int64, wait time.Duration) error {
	if n > b.limit {
		return fmt.Errorf("%w: %d bytes asked of a budget of %d", errBusy, n, b.limit)
	}
	if !b.sem.TryAcquire(n) {
		wctx, cancel := context.WithTimeout(ctx, wait)
		err := b.sem.Acquire(wctx, n)
		cancel()
		if err != nil {
			return fmt.Errorf("%w: no room for %d bytes: %w", errBusy, n, err)
		}
	}
	h := b.held.Add(n)
	for {
		p := b.peak.Load()
		if h <= p || b.peak.CompareAndSwap(p, h) {
			return nil
		}
	}
}

// release gives back n bytes taken with acquire.
func (b *Budget) release(n int64) {
	if n == 0 {
		return
	}
	b.held.Add(-n)
	b.sem.Release(n)
}
