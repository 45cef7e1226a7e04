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

func (b *failingRenewBox) Renew(ctx context.Context, lease time.Duration, items ...msgbox.Renewal) []error {
	b.once.Do(func() { close(b.renewed) })
	errs := make([]error, len(items))
	for i := range errs {
		errs[i] = errors.New("box unreachable")
	}
	return errs
}

// TestRenewalFailureNamesTheMessage: the warning that the lease of a
// delivery in flight could not be renewed names the message and the send
// port, as every line about a message does (operations.md, Logs), not
// only the box's delivery number, which an operator following a message
// by its id does not know.
func TestRenewalFailureNamesTheMessage(t *testing.T) {
	dir, partner := stalledPort(t, 1, "2s")
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
	partner.hangUp()
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

// countingRenewBox is a box that records how many leases each Renew
// carried, and what it answered.
type countingRenewBox struct {
	msgbox.Box
	mu     sync.Mutex
	counts []int
	failed []error
}

func (b *countingRenewBox) Renew(ctx context.Context, lease time.Duration, items ...msgbox.Renewal) []error {
	errs := b.Box.Renew(ctx, lease, items...)
	b.mu.Lock()
	b.counts = append(b.counts, len(items))
	for _, err := range errs {
		if err != nil {
			b.failed = append(b.failed, err)
		}
	}
	b.mu.Unlock()
	return errs
}

// TestRenewalsShareOneRenew: a batch's leases are renewed together, in one
// Renew (one transaction and one commit per msgbox.MaxBatch), not one
// Renew each: with hundreds of deliveries in flight to a slow partner, one
// commit each (an fsync, or a round trip to PostgreSQL) every third of the
// lease could take long enough for leases to run out.
func TestRenewalsShareOneRenew(t *testing.T) {
	const n = 8
	dir, partner := stalledPort(t, n, "2s")
	var box *countingRenewBox
	r, _ := startWith(t, dir, func(o *runner.Options) {
		o.Workers, o.PipelinesPerBatch, o.Lease = 1, n, runner.MinLease
		box = &countingRenewBox{Box: o.Box}
		o.Box = box
	})
	stop := runInBackground(t, r)
	most := func() int {
		box.mu.Lock()
		defer box.mu.Unlock()
		m := 0
		for _, c := range box.counts {
			m = max(m, c)
		}
		return m
	}
	for deadline := time.Now().Add(20 * time.Second); most() < n; {
		if time.Now().After(deadline) {
			box.mu.Lock()
			t.Fatalf("no Renew carried the %d leases of the batch in flight; Renews carried %v", n, box.counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	partner.hangUp()
	stop()
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.failed) > 0 {
		t.Errorf("renewals failed: %v", box.failed)
	}
}

// scriptedRenewBox is a box whose Renew renews, then answers each item as
// its script says for that call (nil: what the box answered); done is
// closed once the script is spent.
type scriptedRenewBox struct {
	msgbox.Box
	mu     sync.Mutex
	script []error
	done   chan struct{}
}

func (b *scriptedRenewBox) Renew(ctx context.Context, lease time.Duration, items ...msgbox.Renewal) []error {
	errs := b.Box.Renew(ctx, lease, items...)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.script) == 0 {
		return errs
	}
	if b.script[0] != nil {
		for i := range errs {
			errs[i] = b.script[0]
		}
	}
	if b.script = b.script[1:]; len(b.script) == 0 {
		close(b.done)
	}
	return errs
}

// TestLostLeaseSaidOnce: a lease lost while its attempt runs is warned
// about once, not at every renewal tick until the attempt ends (the chaos
// script's lock scenario logged each twice); once renewed again, losing
// it again is news. An unreachable box is warned about at every tick, as
// each is a new try that failed.
func TestLostLeaseSaidOnce(t *testing.T) {
	unreachable := errors.New("box unreachable")
	for _, tc := range []struct {
		name   string
		script []error
		want   int
	}{
		{"lost three times", []error{msgbox.ErrLeaseLost, msgbox.ErrLeaseLost, msgbox.ErrLeaseLost}, 1},
		{"lost, renewed, lost", []error{msgbox.ErrLeaseLost, nil, msgbox.ErrLeaseLost}, 2},
		{"unreachable three times", []error{unreachable, unreachable, unreachable}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, partner := stalledPort(t, 1, "2s")
			var logs logBuffer
			var box *scriptedRenewBox
			r, _ := startWith(t, dir, func(o *runner.Options) {
				o.Workers, o.PipelinesPerBatch, o.Lease = 1, 1, runner.MinLease
				box = &scriptedRenewBox{Box: o.Box, script: tc.script, done: make(chan struct{})}
				o.Box = box
				o.Log = slog.New(slog.NewTextHandler(&logs, nil))
			})
			stop := runInBackground(t, r)
			select {
			case <-box.done:
			case <-time.After(30 * time.Second):
				t.Fatal("the renewals did not run")
			}
			partner.hangUp()
			stop()
			if got := strings.Count(logs.String(), "renewing the delivery lease failed"); got != tc.want {
				t.Errorf("%d warnings, want %d:\n%s", got, tc.want, logs.String())
			}
		})
	}
}
