package sqlitebox

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// TestBacklogIsOneSnapshot: a message whose status changes while the
// backlog is counted is counted once, under one status or the other; a
// count per status, each its own read, counted it under both or neither
// when the change committed between two of them (a scrape's totals off
// by one).
func TestBacklogIsOneSnapshot(t *testing.T) {
	b := openTemp(t, Options{})
	ctx := context.Background()
	m, _, err := b.ReceiveRouted(ctx, in("flip.xml"), strings.NewReader("<order/>"), nil)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(st msgbox.Status) {
		err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
			_, err := tx.ExecContext(ctx, "UPDATE messages SET status = ? WHERE id = ?", string(st), m.ID)
			return err
		})
		if err != nil {
			t.Error(err)
		}
	}
	flip(msgbox.StatusSuspended)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			flip([]msgbox.Status{msgbox.StatusRetrying, msgbox.StatusSuspended}[i%2])
		}
	})
	defer wg.Wait()
	defer close(done)
	for range 3000 {
		got, err := b.Backlog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := got[msgbox.StatusRetrying] + got[msgbox.StatusSuspended]; n != 1 {
			t.Fatalf("Backlog = %v: the message counted %d times", got, n)
		}
	}
}
