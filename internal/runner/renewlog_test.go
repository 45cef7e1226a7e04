package runner_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// failingRenewBox is a box whose Renew fails, as an unreachable database's
// does; renewed is closed at the first failure.
type failingRenewBox struct {
	msgbox.Box
	once    sync.Once
	renewed chan struct{}
}

func (b *failingRenewBox) Renew(ctx context.Context, id int64, owner string, lease time.Duration) error {
	b.once.Do(func() { close(b.renewed) })
	return errors.New("box unreachable")
}

// TestRenewalFailureNamesTheMessage: the warning that the lease of a
// delivery in flight could not be renewed names the message and the send
// port, as every line about a message does (operations.md, Logs), not
// only the box's delivery number, which an operator following a message
// by its id does not know.
func TestRenewalFailureNamesTheMessage(t *testing.T) {
	dir, partner := stalledPort(t, 1)
	var logs logBuffer
	var box *failingRenewBox
	r, _ := startWith(t, dir, func(o *runner.Options) {
		o.Workers, o.PipelinesPerBatch, o.Lease = 1, 1, runner.MinLease
		box = &failingRenewBox{Box: o.Box, renewed: make(chan struct{})}
		o.Box = box
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	stop := runInBackground(t, r)
	<-box.renewed
	// The warning follows the failed renewal; the attempt then ends, its
	// partner gone, and the stop waits for it.
	var line string
	for line == "" {
		for l := range strings.Lines(logs.String()) {
			if strings.Contains(l, "renewing the delivery lease failed") {
				line = l
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	partner.mu.Lock()
	for _, c := range partner.conns {
		c.Close()
	}
	partner.mu.Unlock()
	stop()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages: %v, %v; want one", msgs, err)
	}
	for _, want := range []string{"message_id=" + msgs[0].ID, "send_port=stalled", "box unreachable"} {
		if !strings.Contains(line, want) {
			t.Errorf("the renewal's warning lacks %s:\n%s", want, line)
		}
	}
}
