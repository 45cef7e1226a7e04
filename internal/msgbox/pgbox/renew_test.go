//go:build linux

package pgbox

import (
	"context"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestRenewLocksInIDOrder: Renew locks the deliveries it renews in id
// order, as every statement of the box does, whatever the order of its
// items (the runner's renew loop gives them in no order). A transaction
// that locks them in id order (FinishBatch, Resume, Terminate) and holds
// the lower one while Renew waits for it can then take the higher one.
// Renew used to lock them in its items' order: with the higher listed
// first it held that one while it waited, and PostgreSQL broke the
// deadlock by failing one side after deadlock_timeout (found by review).
func TestRenewLocksInIDOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		reversed bool
	}{{"items in id order", false}, {"items in reverse order", true}} {
		t.Run(tc.name, func(t *testing.T) {
			b, url := openNew(t, Options{})
			route(t, b, "m1", "a", "b")
			d1 := mustClaim(t, b, "w1", time.Minute, "a")
			d2 := mustClaim(t, b, "w1", time.Minute, "b")
			lo, hi := min(d1.ID, d2.ID), max(d1.ID, d2.ID)
			items := []msgbox.Renewal{{DeliveryID: lo, Owner: "w1"}, {DeliveryID: hi, Owner: "w1"}}
			if tc.reversed {
				items[0], items[1] = items[1], items[0]
			}
			ctx := context.Background()
			conn := pgtest.Connect(t, url)
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			// This session is the one to find a deadlock, at once: it
			// fails here rather than Renew, whose retries would hide it.
			if _, err := tx.Exec(ctx, "SET LOCAL deadlock_timeout = '20ms'"); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE", lo); err != nil {
				t.Fatal(err)
			}
			done := make(chan []error, 1)
			go func() { done <- b.Renew(ctx, time.Minute, items...) }()
			waitForLockWait(t, url)
			if _, err := tx.Exec(ctx, "SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE", hi); err != nil {
				t.Fatalf("locking delivery %d after %d, while Renew waits: %v", hi, lo, err)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			for i, err := range <-done {
				if err != nil {
					t.Errorf("Renew of delivery %d: %v", items[i].DeliveryID, err)
				}
			}
		})
	}
}

// waitForLockWait waits until a session of the database at url waits for
// a lock.
func waitForLockWait(t *testing.T, url string) {
	t.Helper()
	conn := pgtest.Connect(t, url)
	for deadline := time.Now().Add(10 * time.Second); !lockWaited(t, conn); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Renew never waited for the lock the test holds")
		}
	}
}

// lockWaited reports whether a session of conn's database waits for a lock
// (and fails t when it cannot tell).
func lockWaited(t *testing.T, conn *pgx.Conn) bool {
	t.Helper()
	var waiting bool
	if err := conn.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting); err != nil {
		t.Error(err)
		return true // nothing more to wait for
	}
	return waiting
}
