package sqlitebox

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// TestStmtCacheWarm: once the statements of a delivery's life have been
// prepared, another delivery parses no SQL at all, and the cached
// statements give the same results as the first, unprepared run.
func TestStmtCacheWarm(t *testing.T) {
	b, err := Open(filepath.Join(t.TempDir(), "box.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	life := func(i int) {
		t.Helper()
		in := msgbox.Incoming{ReceiveLocation: "in", FileName: fmt.Sprintf("%d.xml", i), ContentType: "application/xml",
			Properties: map[string]string{"partner": "fabrikam"}, SourceKey: fmt.Sprintf("in/%d", i)}
		body := fmt.Sprintf("<order n=\"%d\"/>", i)
		m, _, err := b.ReceiveRouted(ctx, in, strings.NewReader(body),
			func(msgbox.Message) ([]string, string) { return []string{"out"}, "" })
		if err != nil {
			t.Fatal(err)
		}
		ds, err := b.ClaimBatch(ctx, "w1", []string{"out"}, time.Minute, 4, nil)
		if err != nil || len(ds) != 1 || ds[0].MessageID != m.ID {
			t.Fatalf("ClaimBatch = %+v, %v; want the delivery of %s", ds, err, m.ID)
		}
		if got, err := b.Message(ctx, m.ID); err != nil || got.Size != int64(len(body)) {
			t.Fatalf("Message = %+v, %v", got, err)
		}
		if got := string(readAll(t, b, m.ID)); got != body {
			t.Fatalf("body = %q, want %q", got, body)
		}
		if err := b.Finish(ctx, ds[0].ID, "w1", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
			t.Fatal(err)
		}
		d, err := b.Get(ctx, m.ID)
		if err != nil || d.Message.Status != msgbox.StatusDelivered || len(d.Attempts) != 1 {
			t.Fatalf("Get = %+v, %v; want delivered after one attempt", d, err)
		}
	}
	life(1)
	if b.stmts.misses.Load() == 0 {
		t.Fatal("a cold box reported no cache misses: the cache is not consulted")
	}
	b.stmts.preparePending(ctx)
	b.stmts.misses.Store(0)
	life(2)
	if n := b.stmts.misses.Load(); n != 0 {
		t.Errorf("%d statements parsed again by a warm box", n)
	}
}

// TestStmtCacheWarmAtOpen: the run engine's box (Options.Lock) opens with
// the claim probe prepared, so that its workers' first claims, all at once,
// parse nothing; a box opened for `bizpipe messages` prepares nothing.
func TestStmtCacheWarmAtOpen(t *testing.T) {
	for _, lock := range []bool{true, false} {
		b, err := Open(filepath.Join(t.TempDir(), "box.db"), Options{Lock: lock})
		if err != nil {
			t.Fatal(err)
		}
		if _, prepared := b.stmts.stmts.Load(claimProbe); prepared != lock {
			t.Errorf("Lock %v: claim probe prepared at open = %v", lock, prepared)
		}
		if lock {
			ctx := context.Background()
			b.stmts.misses.Store(0) // the open's own statements
			for range 8 {
				if ds, err := b.ClaimBatch(ctx, "w", []string{"out"}, time.Minute, 16, nil); err != nil || len(ds) != 0 {
					t.Fatalf("ClaimBatch = %v, %v; want nothing", ds, err)
				}
			}
			if n := b.stmts.misses.Load(); n != 0 {
				t.Errorf("%d statements parsed by the first claims of an idle box", n)
			}
		}
		b.Close()
	}
}
