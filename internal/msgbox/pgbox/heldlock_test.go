//go:build linux

package pgbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestHeldTableLock: a table another session holds locked for long (a
// VACUUM FULL, REINDEX, ALTER TABLE or LOCK TABLE) ends an operation's
// wait with an error that says so, where it blamed a silent database ("is
// the server stopped or the network cut?") and reset the pool; the wait
// is retried as a conflict is, so that an operation whose lock is released
// within the retries goes through.
func TestHeldTableLock(t *testing.T) {
	t.Parallel()
	const within = 2 * time.Second
	b, url := openNew(t, Options{ReconnectTimeout: within})
	ctx := context.Background()
	route(t, b, "due", "a")
	// lock holds deliveries in ACCESS EXCLUSIVE mode until the returned
	// function releases it.
	lock := func() func() {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "BEGIN; LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		return func() { conn.Close(ctx) }
	}
	claim := func() (int, error) {
		ds, err := b.ClaimBatch(ctx, "srv1/w1", []string{"a"}, time.Minute, 16, nil)
		return len(ds), err
	}

	release := lock()
	_, err := claim()
	release()
	if err == nil {
		t.Fatal("a claim went through while deliveries was locked")
	}
	if isNoAnswer(err) || !errors.As(err, new(*heldLockError)) ||
		!strings.Contains(err.Error(), "for a lock another session holds on the message box's tables") {
		t.Fatalf("claim under a held table lock: %v; want the lock named", err)
	}

	release = lock()
	time.AfterFunc(lockBound(within)+300*time.Millisecond, release)
	if n, err := claim(); err != nil || n != 1 {
		t.Fatalf("claim under a lock released after the first wait ran out = %d deliveries, %v; want the claim retried", n, err)
	}
}

// TestAcquireFromBusyPool: an operation that waits in vain for one of the
// pool's connections, every one out with an operation the database has not
// finished (stuck behind a table lock, most likely), says so, where it said
// that the database did not answer, as for a connection to a silent
// server; it is handled as that all the same (retried, then failed).
func TestAcquireFromBusyPool(t *testing.T) {
	t.Parallel()
	b, _ := openNew(t, Options{ReconnectTimeout: 500 * time.Millisecond, MaxConns: 1})
	ctx := context.Background()
	held, err := b.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	_, err = b.Backlog(ctx)
	if !isNoAnswer(err) || !errors.As(err, new(*busyPoolError)) ||
		!strings.Contains(err.Error(), "no connection of the pool's 1 came free for 500ms") {
		t.Fatalf("Backlog with the pool's one connection out: %v; want the busy pool named", err)
	}
}
