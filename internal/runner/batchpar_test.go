package runner_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
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
	return &component.Spec{
		Kind:    component.SendTransport,
		Name:    "gate",
		Summary: "Delivers only while enough attempts run at once (a test transport).",
		Decode:  func(*component.Body) component.Config { return gateConfig{g} },
	}
}

type gateConfig struct{ g *gate }

func (gateConfig) Needs() component.Needs { return component.Needs{} }
func (c gateConfig) NewSender(*component.SendEnv) (component.Sender, error) {
	return c, nil
}

func (c gateConfig) Begin(ctx context.Context, _ *component.Delivery, _ component.Header) (component.Attempt, error) {
	g := c.g
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
// begin are all delivered.
func TestBatchPipelinesAtOnce(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "out" {
  host   = host.h
  filter = true
  transport "gate" {}
}
`, map[string]string{"Max": "64MiB"})
	g := &gate{n: 3, opened: make(chan struct{})}
	var msgs []ledgerMsg
	for i := range g.n {
		msgs = append(msgs, ledgerMsg{fmt.Sprintf("m%d.xml", i), []byte("<order/>")})
	}
	sum, _, err := runTransport(t, dir, g.spec(), nil, msgs)
	if err != nil || sum.Delivered != g.n {
		t.Fatalf("RunOnce: %+v, %v; want %d delivered", sum, err, g.n)
	}
	if g.maxSeen != g.n {
		t.Errorf("%d attempts began at most, want %d", g.maxSeen, g.n)
	}
}
