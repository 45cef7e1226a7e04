package sqlitebox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// markerRows counts the bodies rows a test write stored with marker as its
// touched_at: a cheap row a writeFunc can insert and a test can find.
func markerRows(t *testing.T, b *Box, marker int64) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow("SELECT count(*) FROM bodies WHERE touched_at = ?", marker).Scan(&n); err != nil {
		t.Fatalf("counting marker %d: %v", marker, err)
	}
	return n
}

func insertMarker(marker int64) writeFunc {
	return func(ctx context.Context, tx *cachedTx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO bodies (touched_at) VALUES (?)", marker)
		return err
	}
}

// holdWriter occupies the writer goroutine with a write that returns only
// once want callers (itself included) are inside withWrite, so that the
// writes a test starts meanwhile are all queued when the next batch
// begins. It returns once the holding write runs, and a wait for its end.
func holdWriter(t *testing.T, b *Box, want int64) (wait func()) {
	t.Helper()
	running := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- b.withWrite(context.Background(), func(ctx context.Context, tx *cachedTx) error {
			close(running)
			deadline := time.Now().Add(10 * time.Second)
			for b.writers.Load() < want {
				if time.Now().After(deadline) {
					return fmt.Errorf("only %d of %d writers arrived", b.writers.Load(), want)
				}
				time.Sleep(time.Millisecond)
			}
			// A caller counted in writers may not have reached its
			// send yet.
			time.Sleep(20 * time.Millisecond)
			return nil
		})
	}()
	<-running
	return func() {
		if err := <-errc; err != nil {
			t.Errorf("holding write: %v", err)
		}
	}
}

// TestGroupCommitBatches: concurrent Receives share commits, and every one
// of them is stored.
func TestGroupCommitBatches(t *testing.T) {
	const n = 32
	ctx := context.Background()
	b := openTemp(t, Options{})
	wait := holdWriter(t, b, n+1)
	before := b.commits.Load()

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = b.ReceiveRouted(ctx, in(fmt.Sprintf("f%d", i)), strings.NewReader("<order/>"), nil)
		}()
	}
	wg.Wait()
	wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Receive %d: %v", i, err)
		}
	}
	commits := b.commits.Load() - before
	t.Logf("%d concurrent Receives (and the holding write) in %d commits", n, commits)
	if commits >= n/2 {
		t.Errorf("%d concurrent Receives took %d commits: not batched", n, commits)
	}
	if got := count(t, b, "messages"); got != n {
		t.Errorf("%d messages stored, want %d", got, n)
	}
}

// TestBatchIsolatesFailures runs one batch directly: a failing write is
// undone alone and gets its own error; the writes around it commit, in the
// same single commit; a write whose caller's context ended does not run.
func TestBatchIsolatesFailures(t *testing.T) {
	b := openTemp(t, Options{})
	errBoom := errors.New("boom")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	ranCancelled := false

	reqs := []*writeReq{
		{ctx: context.Background(), fn: insertMarker(1)},
		{ctx: context.Background(), fn: func(ctx context.Context, tx *cachedTx) error {
			if err := insertMarker(2)(ctx, tx); err != nil {
				return err
			}
			return errBoom
		}},
		{ctx: cancelled, fn: func(ctx context.Context, tx *cachedTx) error { ranCancelled = true; return nil }},
		{ctx: context.Background(), fn: insertMarker(3)},
	}
	for _, r := range reqs {
		r.done = make(chan error, 1)
	}
	before := b.commits.Load()
	if carry := b.runBatch(reqs); len(carry) != 0 {
		t.Fatalf("runBatch carried %d requests over, want none", len(carry))
	}
	if got := b.commits.Load() - before; got != 1 {
		t.Errorf("one batch took %d commits, want 1", got)
	}
	want := []error{nil, errBoom, context.Canceled, nil}
	for i, r := range reqs {
		if err := <-r.done; !errors.Is(err, want[i]) || (want[i] == nil) != (err == nil) {
			t.Errorf("request %d: %v, want %v", i, err, want[i])
		}
	}
	if ranCancelled {
		t.Error("a write whose context had ended ran")
	}
	for marker, want := range map[int64]int{1: 1, 2: 0, 3: 1} {
		if got := markerRows(t, b, marker); got != want {
			t.Errorf("marker %d: %d rows, want %d", marker, got, want)
		}
	}
}

// TestBatchLostTransactionReruns: a write that makes SQLite drop the whole
// transaction (as SQLITE_FULL or an I/O error can; here an explicit
// ROLLBACK) fails alone: the writes before it, lost with the transaction,
// run again in the next one, and the writes after it run there too.
func TestBatchLostTransactionReruns(t *testing.T) {
	b := openTemp(t, Options{})
	errBoom := errors.New("boom")
	runs := make([]int, 3)
	counted := func(i int, fn writeFunc) writeFunc {
		return func(ctx context.Context, tx *cachedTx) error { runs[i]++; return fn(ctx, tx) }
	}
	reqs := []*writeReq{
		{ctx: context.Background(), fn: counted(0, insertMarker(1))},
		{ctx: context.Background(), fn: counted(1, func(ctx context.Context, tx *cachedTx) error {
			if err := insertMarker(2)(ctx, tx); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "ROLLBACK"); err != nil {
				return err
			}
			return errBoom
		})},
		{ctx: context.Background(), fn: counted(2, insertMarker(3))},
	}
	for _, r := range reqs {
		r.done = make(chan error, 1)
	}
	carry := b.runBatch(reqs)
	if len(carry) != 2 || carry[0] != reqs[0] || carry[1] != reqs[2] {
		t.Fatalf("runBatch carried %d requests over, want the first and the last", len(carry))
	}
	if err := <-reqs[1].done; !errors.Is(err, errBoom) {
		t.Errorf("the write that lost the transaction: %v, want %v", err, errBoom)
	}
	if carry = b.runBatch(carry); len(carry) != 0 {
		t.Fatalf("second runBatch carried %d requests over", len(carry))
	}
	for _, i := range []int{0, 2} {
		if err := <-reqs[i].done; err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if runs[0] != 2 || runs[1] != 1 || runs[2] != 1 {
		t.Errorf("runs = %v, want [2 1 1]", runs)
	}
	for marker, want := range map[int64]int{1: 1, 2: 0, 3: 1} {
		if got := markerRows(t, b, marker); got != want {
			t.Errorf("marker %d: %d rows, want %d", marker, got, want)
		}
	}
}

// TestWriteCancelledAfterTaken: a caller whose context ends once the writer
// has taken its write waits for the outcome, so that it never reports an
// error for a write that was committed.
func TestWriteCancelledAfterTaken(t *testing.T) {
	b := openTemp(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := b.withWrite(ctx, func(wctx context.Context, tx *cachedTx) error {
		cancel()
		return insertMarker(7)(wctx, tx)
	})
	if err != nil {
		t.Errorf("withWrite cancelled while running: %v, want nil (it committed)", err)
	}
	if got := markerRows(t, b, 7); got != 1 {
		t.Errorf("%d rows stored, want 1", got)
	}
}

// TestWriteCancelledWhileQueued: a caller whose context ends while its write
// waits behind another leaves at once, and its write never runs.
func TestWriteCancelledWhileQueued(t *testing.T) {
	b := openTemp(t, Options{})
	// Held until released, not until a count of writers: the cancelled
	// caller leaves again at once.
	running, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- b.withWrite(context.Background(), func(ctx context.Context, tx *cachedTx) error {
			close(running)
			<-release
			return nil
		})
	}()
	<-running
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.withWrite(ctx, insertMarker(8)) }()
	for b.writers.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("withWrite cancelled while queued: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-held; err != nil {
		t.Errorf("holding write: %v", err)
	}
	// A later write completes: the writer is not stuck on the abandoned one.
	if err := b.withWrite(context.Background(), insertMarker(9)); err != nil {
		t.Fatal(err)
	}
	if got := markerRows(t, b, 8); got != 0 {
		t.Errorf("the abandoned write stored %d rows", got)
	}
}

// TestWriteAfterClose fails instead of blocking.
func TestWriteAfterClose(t *testing.T) {
	b := openTemp(t, Options{})
	b.Close()
	if err := b.withWrite(context.Background(), insertMarker(1)); !errors.Is(err, errClosed) {
		t.Errorf("withWrite after Close: %v, want errClosed", err)
	}
}
