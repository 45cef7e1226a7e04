package runner_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// stallingPartner is a listener on 127.0.0.1 that accepts connections and
// never answers: every HTTP attempt against it lasts its client's timeout.
// It counts the connections it accepted.
type stallingPartner struct {
	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func newStallingPartner(t *testing.T) *stallingPartner {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingPartner{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.accepted.Add(1)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.hangUp()
	})
	return p
}

// hangUp closes the connections accepted so far: the attempts waiting on
// them end at once instead of at their timeout.
func (p *stallingPartner) hangUp() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// stalledPort is a configuration whose one send port posts to a partner
// that accepts and never answers (each attempt given timeout), with n
// inputs waiting.
func stalledPort(t *testing.T, n int, timeout string) (string, *stallingPartner) {
	t.Helper()
	partner := newStallingPartner(t)
	dir := setup(t, newPKI(t), common+httpPort("stalled", "http://{{.Addr}}/in", timeout),
		map[string]string{"Addr": partner.ln.Addr().String()})
	for i := range n {
		put(t, dir, fmt.Sprintf("m%02d.edi", i), []byte("ISA*"+fmt.Sprint(i)))
	}
	return dir, partner
}

// TestStopReleasesClaimedDeliveries: a stop finishes the attempts in
// flight but begins none of the deliveries its workers claimed and had not
// started; it returns them to the box, pending and due, with no attempt
// counted. Against a partner that never answers, each attempt lasts the
// transport's timeout: before, the stop attempted every claimed delivery
// (up to 16 a worker), a timeout per pipeline slot at a time, which held
// `bizpipe run` for many minutes after SIGTERM (past systemd's
// TimeoutStopSec) and counted attempts for deliveries no one asked for.
// Here the partner sees exactly the connections of the attempts in flight
// at the stop, and no more.
func TestStopReleasesClaimedDeliveries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		workers  int
		perBatch int
	}{
		{"one pipeline a batch", 2, 1},
		{"pipelines side by side", 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 40
			dir, partner := stalledPort(t, n, "2s")
			var logs logBuffer
			r, box := startWith(t, dir, func(o *runner.Options) {
				o.Workers, o.PipelinesPerBatch = tc.workers, tc.perBatch
				o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := runAsync(ctx, r)
			// Every message stored and every pipeline slot stalled on the
			// partner: the workers hold claimed deliveries not yet begun.
			for deadline := time.Now().Add(30 * time.Second); ; {
				msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) == n && partner.accepted.Load() == int64(tc.workers) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d messages stored, %d attempts under way; want %d and %d", len(msgs), partner.accepted.Load(), n, tc.workers)
				}
				time.Sleep(10 * time.Millisecond)
			}
			inFlight := partner.accepted.Load()
			cancel()
			if res := <-done; res.err != nil {
				t.Fatalf("Run: %v", res.err)
			}
			if got := partner.accepted.Load(); got != inFlight {
				t.Errorf("the partner saw %d connections, %d of them after the stop; want only the %d attempts in flight at the stop",
					got, got-inFlight, inFlight)
			}
			var attempted, pending int
			eachDelivery(t, box, func(m msgbox.Message, dl msgbox.Delivery) {
				switch {
				case dl.State == msgbox.DeliveryRetrying && dl.Attempts == 1:
					attempted++
				case dl.State == msgbox.DeliveryPending && dl.Attempts == 0:
					pending++
				default:
					t.Errorf("delivery of %s after the stop: %s, %d attempts; want retrying after the attempt in flight, or pending and unattempted",
						m.ID, dl.State, dl.Attempts)
				}
			})
			if attempted != int(inFlight) || pending != n-int(inFlight) {
				t.Errorf("after the stop %d deliveries retrying and %d pending; want %d and %d", attempted, pending, inFlight, n-int(inFlight))
			}
			want := fmt.Sprintf("returned to the box, due again\" deliveries=%d", n-int(inFlight))
			if !strings.Contains(logs.String(), want) {
				t.Errorf("the stop's log has no %q:\n%s", want, logs.String())
			}
		})
	}
}

// renewWatchingBox is a box whose Release, once it has released, waits
// (up to a second) for a Renew of one of the deliveries it released.
type renewWatchingBox struct {
	msgbox.Box
	mu       sync.Mutex
	released map[int64]bool
	renewed  chan struct{} // closed at the first Renew of a released one
	once     sync.Once
}

func (b *renewWatchingBox) Release(ctx context.Context, owner string, ids []int64) (int, error) {
	n, err := b.Box.Release(ctx, owner, ids)
	b.mu.Lock()
	for _, id := range ids {
		b.released[id] = true
	}
	b.mu.Unlock()
	select {
	case <-b.renewed:
	case <-time.After(time.Second):
	}
	return n, err
}

func (b *renewWatchingBox) Renew(ctx context.Context, lease time.Duration, items ...msgbox.Renewal) []error {
	b.mu.Lock()
	for _, it := range items {
		if b.released[it.DeliveryID] {
			b.once.Do(func() { close(b.renewed) })
		}
	}
	b.mu.Unlock()
	return b.Box.Renew(ctx, lease, items...)
}

// TestStopRenewsNoReleasedLease: the deliveries a stop returns to the box
// are no longer renewed from the moment they are returned. Before, they
// were renewed until Release had returned, and a renewal meanwhile warned
// "renewing the delivery lease failed" (the lease lost) at every such stop.
func TestStopRenewsNoReleasedLease(t *testing.T) {
	const n = 8
	dir, partner := stalledPort(t, n, "2s")
	var logs logBuffer
	var box *renewWatchingBox
	r, _ := startWith(t, dir, func(o *runner.Options) {
		o.Workers, o.PipelinesPerBatch, o.Lease = 1, 1, runner.MinLease
		box = &renewWatchingBox{Box: o.Box, released: map[int64]bool{}, renewed: make(chan struct{})}
		o.Box = box
		o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runAsync(ctx, r)
	for deadline := time.Now().Add(30 * time.Second); partner.accepted.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no attempt began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if res := <-done; res.err != nil {
		t.Fatalf("Run: %v", res.err)
	}
	if !strings.Contains(logs.String(), "returned to the box") {
		t.Fatalf("the stop returned nothing to the box:\n%s", logs.String())
	}
	// The attempted delivery's own renewals are not judged here.
	for id := range box.released {
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, "renewing the delivery lease failed") && strings.Contains(line, fmt.Sprintf(" delivery=%d ", id)) {
				t.Errorf("the lease of delivery %d was renewed after it was returned to the box:\n%s", id, logs.String())
			}
		}
	}
}

// deliveryStates counts the deliveries in box in progress, and those
// pending, unattempted and leased to none; stored is how many messages
// box holds.
func deliveryStates(t *testing.T, box msgbox.Box) (inProgress, pending, stored int) {
	t.Helper()
	stored = eachDelivery(t, box, func(_ msgbox.Message, dl msgbox.Delivery) {
		switch {
		case dl.State == msgbox.DeliveryInProgress:
			inProgress++
		case dl.State == msgbox.DeliveryPending && dl.Attempts == 0 && dl.LeaseOwner == "":
			pending++
		}
	})
	return inProgress, pending, stored
}

// TestStopReleasesBeforeAttemptsInFlightEnd: the deliveries a stop keeps
// from being attempted go back to the box as soon as the stop comes, not
// once the attempts in flight of their batch end: a partner that never
// answers held them, leased and renewed, for the transport's whole
// timeout, where another server sharing the box could have taken them;
// and a second stop signal meanwhile (the operator not waiting for that
// partner) left them leased, so that the next start counted an attempt
// of each, never made.
func TestStopReleasesBeforeAttemptsInFlightEnd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		perBatch int
	}{
		{"one pipeline a batch", 1},
		{"pipelines side by side", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 6
			dir, partner := stalledPort(t, n, "1h")
			r, box := startWith(t, dir, func(o *runner.Options) {
				o.Workers, o.PipelinesPerBatch = tc.perBatch, tc.perBatch
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := runAsync(ctx, r)
			// Every message claimed in one batch, its first attempts
			// stalled on the partner.
			for deadline := time.Now().Add(30 * time.Second); ; {
				if in, _, _ := deliveryStates(t, box); in == n && partner.accepted.Load() == int64(tc.perBatch) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d attempts under way, want %d with every delivery claimed", partner.accepted.Load(), tc.perBatch)
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			for deadline := time.Now().Add(10 * time.Second); ; {
				in, pending, _ := deliveryStates(t, box)
				if in == tc.perBatch && pending == n-tc.perBatch {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("with the attempts in flight still going on, %d deliveries are in progress and %d back in the box; want %d and %d",
						in, pending, tc.perBatch, n-tc.perBatch)
				}
				time.Sleep(10 * time.Millisecond)
			}
			select {
			case res := <-done:
				t.Fatalf("Run returned (%v) before the attempts in flight ended", res.err)
			default:
			}
			partner.hangUp()
			if res := <-done; res.err != nil {
				t.Fatalf("Run: %v", res.err)
			}
		})
	}
}

// TestStopReleasesHandedBatchesAtOnce: the batches a receive claimed for
// the workers (msgbox.Handoff) and that no worker had taken when the stop
// came go back to the box as it comes, not once the attempts in flight
// end: every worker stalled on a partner that never answers held them,
// leased to the receive, for the transport's whole timeout, where another
// server sharing the box could have taken them.
func TestStopReleasesHandedBatchesAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(*runner.Runner, context.Context) error
	}{
		{"long run", func(r *runner.Runner, ctx context.Context) error {
			_, err := r.Run(ctx)
			return err
		}},
		{"once", func(r *runner.Runner, ctx context.Context) error {
			if _, err := r.RunOnce(ctx); !errors.Is(err, context.Canceled) {
				return fmt.Errorf("RunOnce: %v, want context.Canceled", err)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 40 // more than a worker's batch: the rest wait in the queue
			dir, partner := stalledPort(t, n, "1h")
			r, box := startWith(t, dir, func(o *runner.Options) {
				o.Workers, o.PipelinesPerBatch = 1, 1
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tc.run(r, ctx) }()
			// Every message stored, the one worker's first attempt stalled
			// on the partner, and more claimed than its batch holds: the
			// rest are batches handed over and queued.
			for deadline := time.Now().Add(30 * time.Second); ; {
				in, _, stored := deliveryStates(t, box)
				if stored == n && partner.accepted.Load() == 1 && in > 16 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d messages stored, %d in progress, %d attempts under way; want %d, over 16 and 1",
						stored, in, partner.accepted.Load(), n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			for deadline := time.Now().Add(10 * time.Second); ; {
				in, pending, _ := deliveryStates(t, box)
				if in == 1 && pending == n-1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("with the attempt in flight still going on, %d deliveries are in progress and %d back in the box; want 1 and %d",
						in, pending, n-1)
				}
				time.Sleep(10 * time.Millisecond)
			}
			select {
			case err := <-done:
				t.Fatalf("the run returned (%v) before the attempt in flight ended", err)
			default:
			}
			partner.hangUp()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if in, pending, _ := deliveryStates(t, box); in != 0 || pending != n-1 {
				t.Errorf("after the run: %d deliveries in progress, %d pending and unattempted; want 0 and %d", in, pending, n-1)
			}
		})
	}
}
