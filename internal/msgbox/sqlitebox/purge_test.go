package sqlitebox

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// deliverOne receives a message routed to port p, claims its delivery and
// finishes it delivered: what the engine writes for one message.
func deliverOne(ctx context.Context, b *Box, name string) error {
	_, _, err := b.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: name, ContentType: "text/plain"},
		strings.NewReader("x"), func(msgbox.Message) ([]string, string) { return []string{"p"}, "" })
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	d, err := msgboxtest.ClaimOne(ctx, b, "w-"+name, []string{"p"}, time.Minute)
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if d == nil {
		return nil // another worker's claim took it
	}
	if err := b.Finish(ctx, d.ID, "w-"+name, msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	return nil
}

// TestPurgeBesideEngine: `bizpipe messages purge`, in another process (here
// another Box on the file), purging thousands of messages while the engine
// receives and delivers, holds the write lock only briefly at a time: none
// of the engine's writes fails with SQLITE_BUSY, and the purge completes.
// A purge once held the lock for tens of seconds (the foreign-key checks of
// its deletes scanned whole tables), and the engine's finishes, lease
// renewals and receives failed.
func TestPurgeBesideEngine(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "messagebox.db")
	// The engine waits for another process's lock well beyond one purge
	// write (purgeBudget, made small below), and far less than the purge.
	engine, err := Open(path, Options{Lock: true, BusyTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	const old = 6000
	var wg sync.WaitGroup
	var fillErr atomic.Value
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < old; i += 16 {
				if err := deliverOne(ctx, engine, fmt.Sprint("old-", i)); err != nil {
					fillErr.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := fillErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	cutoff := time.Now().Add(time.Millisecond)
	time.Sleep(2 * time.Millisecond)
	want, err := engine.Purgeable(ctx, cutoff)
	if err != nil || want < old-16 {
		t.Fatalf("Purgeable = %d, %v; want about %d", want, err, old)
	}

	cli, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cli.purgeBudget = 50 * time.Millisecond

	stop := make(chan struct{})
	var writes atomic.Int64
	var engineErr atomic.Value
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := deliverOne(ctx, engine, fmt.Sprintf("new-%d-%d", w, i)); err != nil {
					engineErr.Store(err)
					return
				}
				writes.Add(1)
			}
		})
	}
	start := time.Now()
	n, err := cli.Purge(ctx, cutoff)
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil || n != want {
		t.Errorf("Purge = %d, %v; want %d", n, err, want)
	}
	if err, _ := engineErr.Load().(error); err != nil {
		t.Errorf("an engine write failed during the purge (%v, %d writes): %v", took, writes.Load(), err)
	}
	if writes.Load() == 0 {
		t.Errorf("no engine write completed during the %v purge", took)
	}
	t.Logf("purged %d in %v beside %d engine deliveries", n, took, writes.Load())
}
