package runner_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// gate is a send transport whose attempts wait, in Begin, until n attempts
// have begun (or fail after a long wait): its deliveries succeed only if
// that many run at once.
type gate struct {
	n       int
	mu      sync.Mutex
	begun   int
	opened  chan struct{}
	maxSeen int
}

func (g *gate) spec() *component.Spec {
	return senderSpec("gate", "Delivers only while enough attempts run at once (a test transport).", g.begin)
}

func (g *gate) begin(ctx context.Context, _ *component.Delivery, _ component.Header) (component.Attempt, error) {
	g.mu.Lock()
	g.begun++
	g.maxSeen = max(g.maxSeen, g.begun)
	if g.begun == g.n {
		close(g.opened)
	}
	g.mu.Unlock()
	select {
	case <-g.opened:
		return gateAttempt{}, nil
	case <-time.After(10 * time.Second):
		return nil, errors.New("the other attempts of the batch never began")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type gateAttempt struct{}

func (gateAttempt) Write(p []byte) (int, error)                      { return len(p), nil }
func (gateAttempt) Commit(context.Context) (component.Result, error) { return component.Result{}, nil }
func (gateAttempt) Abort()                                           {}

// TestBatchPipelinesAtOnce: one worker runs the pipelines of its batch at
// once (Options.PipelinesPerBatch, 4 by default), so that a batch handed
// whole to one worker still spreads its signing and encryption over the
// cores: three deliveries whose attempts each wait for the others to
// begin are all delivered. Three workers, as a pipeline takes one of the
// Options.Workers slots; the first claim takes all three deliveries, and
// the other workers find nothing to claim.
func TestBatchPipelinesAtOnce(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+testPort("gate", ""), map[string]string{"Max": "64MiB"})
	g := &gate{n: 3, opened: make(chan struct{})}
	var msgs []ledgerMsg
	for i := range g.n {
		msgs = append(msgs, ledgerMsg{fmt.Sprintf("m%d.xml", i), []byte("<order/>")})
	}
	sum, _, err := runTransport(t, dir, g.spec(), func(o *runner.Options) { o.Workers = g.n }, msgs)
	if err != nil || sum.Delivered != g.n {
		t.Fatalf("RunOnce: %+v, %v; want %d delivered", sum, err, g.n)
	}
	if g.maxSeen != g.n {
		t.Errorf("%d attempts began at most, want %d", g.maxSeen, g.n)
	}
}

// meter is a send transport that counts its attempts in progress, from
// Begin to Commit or Abort, and notes the most at once. Each attempt
// takes a little while, so that the runner has the time to start others.
type meter struct {
	mu         sync.Mutex
	now, most  int
	deliveries int
}

func (m *meter) spec() *component.Spec {
	return senderSpec("meter", "Counts its attempts in progress (a test transport).", m.begin)
}

func (m *meter) begin(context.Context, *component.Delivery, component.Header) (component.Attempt, error) {
	m.mu.Lock()
	m.now++
	m.most = max(m.most, m.now)
	m.mu.Unlock()
	return &meterAttempt{m: m}, nil
}

type meterAttempt struct{ m *meter }

func (a *meterAttempt) Write(p []byte) (int, error) { return len(p), nil }

func (a *meterAttempt) Commit(context.Context) (component.Result, error) {
	time.Sleep(20 * time.Millisecond)
	a.m.mu.Lock()
	a.m.now--
	a.m.deliveries++
	a.m.mu.Unlock()
	return component.Result{}, nil
}

func (a *meterAttempt) Abort() {}

// TestPipelinesCappedByWorkers: however many pipelines each worker's
// batch may run at once, no more than Options.Workers run in all, so
// that the memory they hold stays what that many workers hold.
func TestPipelinesCappedByWorkers(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+testPort("meter", ""), map[string]string{"Max": "64MiB"})
	m := &meter{}
	var msgs []ledgerMsg
	for i := range 12 {
		msgs = append(msgs, ledgerMsg{fmt.Sprintf("m%02d.xml", i), []byte("<order/>")})
	}
	sum, _, err := runTransport(t, dir, m.spec(), func(o *runner.Options) { o.Workers = 2 }, msgs)
	if err != nil || sum.Delivered != len(msgs) {
		t.Fatalf("RunOnce: %+v, %v; want %d delivered", sum, err, len(msgs))
	}
	if m.most != 2 {
		t.Errorf("at most %d attempts at once, want 2 (the workers)", m.most)
	}
}
