package sqlitebox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// emptyWrite is a write that changes nothing: it takes the write lock all
// the same.
func emptyWrite(ctx context.Context, b *Box) error {
	return b.withWrite(ctx, func(context.Context, *cachedTx) error { return nil })
}

// engineAndCLI opens the box at a new path twice: as the engine does
// (Options.Lock), and as `bizpipe messages` does, beside it.
func engineAndCLI(t testing.TB) (engine, cli *Box) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "messagebox.db")
	engine, err := Open(path, Options{Lock: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	cli, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	if engine.turns == nil || !engine.turns.give || cli.turns == nil || cli.turns.give {
		t.Fatalf("turns: engine %+v, cli %+v; want the engine to give them and the other box to ask", engine.turns, cli.turns)
	}
	return engine, cli
}

// TestEngineGivesTurns: the engine's writer, finding a turn asked before
// a transaction, waits until the waiter is done; a waiter that never is
// holds it up for turnWait, and then for none of the writes of the rest
// that follows, which doubles each time.
func TestEngineGivesTurns(t *testing.T) {
	ctx := t.Context()
	engine, cli := engineAndCLI(t)
	asked := make(chan struct{}, 1)
	given := make(chan bool, 1)
	engine.turns.asked = func() { asked <- struct{}{} }
	engine.turns.given = func(done bool) { given <- done }

	// Nobody asks: no turn.
	if err := emptyWrite(ctx, engine); err != nil {
		t.Fatal(err)
	}
	select {
	case <-asked:
		t.Fatal("a turn given with nobody asking")
	default:
	}

	// The writer looks at most once in turnLook: from here on, at every
	// write. Written before the write is queued, read by the writer after.
	look := func() { engine.turns.looked = time.Time{} }

	// A waiter that is done once the writer waits for it.
	look()
	if !cli.turns.t.Ask() {
		t.Fatal("Ask failed")
	}
	wrote := make(chan error, 1)
	go func() { wrote <- emptyWrite(ctx, engine) }()
	<-asked
	select {
	case err := <-wrote:
		t.Fatalf("the engine's write ended (%v) while a turn was asked; want it to wait", err)
	default:
	}
	cli.turns.t.Done()
	if done := <-given; !done {
		t.Error("turn given: done false; want true, the waiter was done")
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}

	// A waiter that never is done (a process stopped while it waits).
	if !cli.turns.t.Ask() {
		t.Fatal("Ask failed")
	}
	defer cli.turns.t.Done()
	look()
	if err := emptyWrite(ctx, engine); err != nil {
		t.Fatal(err)
	}
	<-asked
	if done := <-given; done {
		t.Error("turn given to a waiter that never finished: done true")
	}
	if engine.turns.rest != 2*turnRest {
		t.Errorf("next rest %v; want it doubled to %v", engine.turns.rest, 2*turnRest)
	}
	// Resting: the next writes give no turn though one is still asked.
	for range 3 {
		look()
		if err := emptyWrite(ctx, engine); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-asked:
		t.Error("a turn given during the rest that follows one not taken")
	default:
	}
}

// TestWritesGetTurnsBesideBusyEngine: another process's writes beside an
// engine whose writer always has work queued (64 goroutines delivering
// without pause) all succeed, the engine giving them turns; and the
// engine goes on writing. Before turns, such a write waited for the
// moment between two of the engine's transactions that its busy handler
// happened to look in: on a 2-core machine, beside 256 goroutines, 1.2 to
// 6.2 s at the 90th percentile and up to 7.2 s, near Options.BusyTimeout
// (BenchmarkWriteBesideBusyEngine; with turns, 10 to 12 ms and 19 ms).
func TestWritesGetTurnsBesideBusyEngine(t *testing.T) {
	ctx := t.Context()
	engine, cli := engineAndCLI(t)
	var turnsTaken atomic.Int64
	engine.turns.given = func(done bool) {
		if done {
			turnsTaken.Add(1)
		}
	}
	waits, delivered, err := writesBesideBusyEngine(ctx, engine, cli, 64, 20)
	if err != nil {
		t.Fatal(err)
	}
	if delivered == 0 {
		t.Error("the engine delivered nothing while the other process wrote")
	}
	if turnsTaken.Load() == 0 {
		t.Error("20 writes beside a busy engine, and it gave no turn that was taken")
	}
	t.Logf("%d turns taken; writes waited %v (median) and %v (longest); the engine delivered %d meanwhile",
		turnsTaken.Load(), waits[len(waits)/2], waits[len(waits)-1], delivered)
}

// writesBesideBusyEngine makes n empty writes through cli, one every
// 10 ms, while g goroutines deliver messages through engine without
// pause. It returns how long each write took, sorted, and how many
// messages the engine delivered meanwhile.
func writesBesideBusyEngine(ctx context.Context, engine, cli *Box, g, n int) ([]time.Duration, int64, error) {
	busy := deliverWithoutPause(ctx, engine, g, "busy")
	// Until the engine's writer has work queued: each goroutine has
	// stored a message.
	for stored := 0; stored < g; {
		time.Sleep(10 * time.Millisecond)
		if err := engine.q.QueryRowContext(ctx, "SELECT count(*) FROM messages").Scan(&stored); err != nil {
			_, _ = busy()
			return nil, 0, err
		}
	}
	var waits []time.Duration
	var err error
	for range n {
		start := time.Now()
		if err = emptyWrite(ctx, cli); err != nil {
			break
		}
		waits = append(waits, time.Since(start))
		time.Sleep(10 * time.Millisecond)
	}
	delivered, engineErr := busy()
	if engineErr != nil && err == nil {
		err = fmt.Errorf("an engine write failed: %w", engineErr)
	}
	slices.Sort(waits)
	return waits, delivered, err
}

// TestWriteLockHeldElsewhere: a write that waits out Options.BusyTimeout
// for a lock another program holds (here a connection in a transaction,
// as the sqlite3 shell keeps one) says so, how long it waited and where to
// look, and keeps SQLite's error.
func TestWriteLockHeldElsewhere(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "messagebox.db")
	b, err := Open(path, Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	err = emptyWrite(ctx, b)
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY ||
		!strings.Contains(err.Error(), "another process held the box's write lock for all of the 50ms") ||
		!strings.Contains(err.Error(), "the sqlite3 shell") {
		t.Errorf("write while another connection holds the lock: %v; want SQLITE_BUSY explained", err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := emptyWrite(ctx, b); err != nil {
		t.Errorf("write once the lock is free: %v", err)
	}
}
