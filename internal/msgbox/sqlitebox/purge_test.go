package sqlitebox

import (
	"context"
	"errors"
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

// deliverWithoutPause has g goroutines deliver messages through b
// (deliverOne, named after prefix), each as soon as its last is done,
// until the function it returns is called, which waits for them and
// returns how many they delivered and the first error that stopped one.
func deliverWithoutPause(ctx context.Context, b *Box, g int, prefix string) (stop func() (int64, error)) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	var delivered atomic.Int64
	var failed atomic.Value
	for w := range g {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				if err := deliverOne(ctx, b, fmt.Sprintf("%s-%d-%d", prefix, w, i)); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				delivered.Add(1)
			}
		})
	}
	return func() (int64, error) {
		close(quit)
		wg.Wait()
		err, _ := failed.Load().(error)
		return delivered.Load(), err
	}
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
	old := 6000
	if raceEnabled {
		old = 200
	}
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

	busy := deliverWithoutPause(ctx, engine, 4, "new")
	start := time.Now()
	n, err := cli.Purge(ctx, cutoff)
	took := time.Since(start)
	writes, engineErr := busy()
	if err != nil || n != want {
		t.Errorf("Purge = %d, %v; want %d", n, err, want)
	}
	if engineErr != nil {
		t.Errorf("an engine write failed during the purge (%v, %d writes): %v", took, writes, engineErr)
	}
	if writes == 0 {
		t.Errorf("no engine write completed during the %v purge", took)
	}
	t.Logf("purged %d in %v beside %d engine deliveries", n, took, writes)
}

// TestPurgeReadsPastKeptMessages: a purge finds what it deletes by reads
// that go on where the last write stopped, walking the table in the order
// messages were stored and stopping at a batch, and its writes read only
// those candidates. Purge once looked for each write's batch inside the
// write, through messages_status: SQLite read every delivered and
// terminated message, with its history, and sorted them, on every write.
// With 300,000 messages kept that took 0.25 s of the write lock (C SQLite)
// before a write deleted anything, and past purgeBudget each write
// deleted a single message: an hourly --retention purge held the engine's
// writes up for minutes.
func TestPurgeReadsPastKeptMessages(t *testing.T) {
	b := openTemp(t, Options{})
	plan := func(query string, args ...any) string {
		t.Helper()
		steps, err := queryPlan(b, query, args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(steps, "; ")
	}
	now := time.Now()
	for _, c := range []struct {
		name, plan, want string
	}{
		{"read", plan(purgeCandidates, append(append([]any{int64(0)}, purgeArgs(now)...), 500)...), "SEARCH m USING INTEGER PRIMARY KEY (rowid>?)"},
		{"write", plan(purgeDoomed, append([]any{"[1,2]"}, purgeArgs(now)...)...), "SEARCH m USING INTEGER PRIMARY KEY (rowid=?)"},
	} {
		if !strings.Contains(c.plan, c.want) || strings.Contains(c.plan, "TEMP B-TREE") || strings.Contains(c.plan, "SCAN m") {
			t.Errorf("%s: query plan %q; want %q, without a scan or a sort of messages", c.name, c.plan, c.want)
		}
	}
}

// TestPurgeAmongKept: kept messages (recent, or not finished) between and
// after the purgeable ones cost nothing but being passed over; a message
// touched between the read that found it and the write is kept; and each
// write deletes a batch.
func TestPurgeAmongKept(t *testing.T) {
	b := openTemp(t, Options{})
	b.purgeBatch = 3
	ctx := t.Context()
	var old, kept []string
	// A message not delivered goes to port q, which nobody claims here.
	receive := func(name string, deliver bool) string {
		t.Helper()
		port := map[bool]string{true: "p", false: "q"}[deliver]
		m, _, err := b.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: name, ContentType: "text/plain"},
			strings.NewReader(name), func(msgbox.Message) ([]string, string) { return []string{port}, "" })
		if err != nil {
			t.Fatal(err)
		}
		if deliver {
			d, err := msgboxtest.ClaimOne(ctx, b, "w", []string{"p"}, time.Minute)
			if err != nil || d == nil || d.MessageID != m.ID {
				t.Fatalf("Claim = %+v, %v", d, err)
			}
			if err := b.Finish(ctx, d.ID, "w", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
				t.Fatal(err)
			}
		}
		return m.ID
	}
	for i := range 10 {
		old = append(old, receive(fmt.Sprint("old-", i), true))
		if i%3 == 0 {
			kept = append(kept, receive(fmt.Sprint("pending-", i), false)) // never delivered
		}
	}
	time.Sleep(2 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(2 * time.Millisecond)
	for i := range 4 {
		kept = append(kept, receive(fmt.Sprint("new-", i), true))
	}
	// Each read goes on after the last candidate of the one before. The
	// second read's first candidate gets an entry in its history (as a
	// resubmission gives one) before the write: it is not untouched since
	// the cutoff any more.
	reads := 0
	var touched string
	var last int64
	b.purgeFound = func(after int64, seqs []int64) {
		if after != last {
			t.Errorf("read %d after seq %d, want after %d, the last candidate of the read before", reads+1, after, last)
		}
		last = seqs[len(seqs)-1]
		if reads++; reads != 2 {
			return
		}
		if err := b.db.QueryRowContext(ctx, "SELECT id FROM messages WHERE seq = ?", seqs[0]).Scan(&touched); err != nil {
			t.Error(err)
			return
		}
		err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO events (message_id, at, port, status, detail) VALUES (?, ?, '', 'received', 'touched')",
				touched, toDB(time.Now()))
			return err
		})
		if err != nil {
			t.Error(err)
		}
	}
	commits := b.commits.Load()
	n, err := b.Purge(ctx, cutoff)
	if err != nil || n != len(old)-1 {
		t.Fatalf("Purge = %d, %v; want %d (all old messages but the one touched)", n, err, len(old)-1)
	}
	// 10 candidates in reads of 3, 3, 3 and 1; the second read's first is
	// touched, in a commit of its own.
	if got := b.commits.Load() - commits; got != 4+1 {
		t.Errorf("%d commits, want 5: one per read's batch, one for the touch", got)
	}
	for _, id := range old {
		_, err := b.Message(ctx, id)
		if gone := errors.Is(err, msgbox.ErrNotFound); gone == (id == touched) {
			t.Errorf("old message %s (touched %v): Message error %v", id, id == touched, err)
		}
	}
	for _, id := range kept {
		if _, err := b.Message(ctx, id); err != nil {
			t.Errorf("kept message %s: %v", id, err)
		}
	}
	if touched == "" {
		t.Fatal("no second read")
	}
}

// TestPurgeBatchesAmongKept: msgboxtest.PurgeBatches.
func TestPurgeBatchesAmongKept(t *testing.T) {
	b := openTemp(t, Options{})
	msgboxtest.PurgeBatches(t, b, func(n int) { b.purgeBatch = n })
}
