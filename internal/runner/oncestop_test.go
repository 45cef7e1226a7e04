package runner_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// stopAtFinish is a box that stops the run (cancels its context, as
// SIGTERM does) when the first outcome is about to be recorded: after the
// transport succeeded.
type stopAtFinish struct {
	msgbox.Box
	stop func()
	once sync.Once
}

func (s *stopAtFinish) FinishBatch(ctx context.Context, items []msgbox.Finishing) []error {
	s.once.Do(s.stop)
	return s.Box.FinishBatch(ctx, items)
}

// TestOnceStopRecordsWhatWasDone: a stop that reaches a --once run after
// an HTTP partner accepted a message still records the delivery, as Run
// does; the next run has nothing to send, and the partner gets the
// message once.
func TestOnceStopRecordsWhatWasDone(t *testing.T) {
	var posts atomic.Int32
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		posts.Add(1)
	}))
	defer partner.Close()
	dir := setup(t, newPKI(t), common+`
send_port "web" {
  host      = host.h
  filter    = true
  transport "http" { url = "{{.URL}}/in" }
}
`, map[string]string{"URL": partner.URL})
	put(t, dir, "order.edi", []byte("ISA*00*order~"))
	opts := testOptions(t, dir)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stopping := opts
	stopping.Box = &stopAtFinish{Box: opts.Box, stop: stop}
	r1, err := runner.New(stopping)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r1.RunOnce(ctx)
	if !errors.Is(err, context.Canceled) || sum.Delivered != 1 {
		t.Errorf("the stopped run: %+v, %v; want 1 delivered and context.Canceled", sum, err)
	}
	waitDelivered(t, opts.Box, 1)
	r2, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := r2.RunOnce(context.Background()); err != nil || sum.Delivered != 0 {
		t.Errorf("the next run: %+v, %v; want nothing delivered", sum, err)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("the partner got %d POSTs of the message, want 1", n)
	}
}

// failingClaims is a box whose claims all fail, as when another process
// holds its lock for a moment. It embeds the SQLite box itself, not the
// msgbox.Box interface, so that its receives still hand deliveries over
// (msgbox.HandoffReceiver).
type failingClaims struct{ *sqlitebox.Box }

func (failingClaims) ClaimBatch(context.Context, string, []string, time.Duration, int, []int64) ([]*msgbox.Delivery, error) {
	return nil, errors.New("database is locked (SQLITE_BUSY)")
}

// TestOnceClaimFailureDeliversWhatWasHandedOver: in a --once run whose
// workers stop at a failed claim, the deliveries the receive claimed for
// them in the same transaction that stored the message are still made, as
// Run makes them after its workers stop; left alone, they would wait for
// their lease, and the next run would count an attempt never made (and
// with no retries, suspend the message untried). The run still reports
// the failure.
func TestOnceClaimFailureDeliversWhatWasHandedOver(t *testing.T) {
	dir := setup(t, newPKI(t), common+filesNoRetry, nil)
	put(t, dir, "order.edi", []byte("ISA*00*order~"))
	opts := testOptions(t, dir)
	failing := opts
	failing.Box = failingClaims{opts.Box.(*sqlitebox.Box)}
	r1, err := runner.New(failing)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r1.RunOnce(context.Background())
	if !errors.Is(err, runner.ErrIncomplete) || sum.Received != 1 || sum.Delivered != 1 {
		t.Errorf("the run whose claims fail: %+v, %v; want 1 received, 1 delivered, and ErrIncomplete", sum, err)
	}
	waitDelivered(t, opts.Box, 1)
	out, err := os.ReadDir(filepath.Join(dir, "out"))
	if err != nil || len(out) != 1 {
		t.Errorf("out/ holds %d files (%v), want the message's 1", len(out), err)
	}
}

// TestOnceStopCountsWaiting: a --once run ended by a stop says in its
// summary how many deliveries wait for a retry, as a long run's stop and
// a --once run that ends by itself do; it said "waiting for retry 0"
// whatever was waiting.
func TestOnceStopCountsWaiting(t *testing.T) {
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "partner down for maintenance", http.StatusServiceUnavailable)
	}))
	defer partner.Close()
	dir := setup(t, newPKI(t), common+`
send_port "down" {
  host   = host.h
  filter = true
  transport "http" { url = "{{.URL}}/in" }
  retry { interval = "1h" }
}
`, map[string]string{"URL": partner.URL})
	put(t, dir, "order.edi", []byte("ISA*00*order~"))
	opts := testOptions(t, dir)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	opts.Box = &stopAtFinish{Box: opts.Box, stop: stop}
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.RunOnce(ctx)
	if !errors.Is(err, context.Canceled) || sum.Retried != 1 || sum.Waiting != 1 {
		t.Errorf("the stopped run: %+v, %v; want 1 retried, 1 waiting for retry and context.Canceled", sum, err)
	}
}
