package runner_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/registry"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// ledger is a send transport whose attempts share their syncs
// (component.SharedSync). It notes, in order, each attempt's Written ("W
// name") and Commit ("C name"), and keeps what each delivered. Written
// fails for a message named "refuse.xml".
type ledger struct {
	mu     sync.Mutex
	events []string
	got    map[string][]byte
}

func (l *ledger) spec() *component.Spec {
	return &component.Spec{
		Kind:    component.SendTransport,
		Name:    "ledger",
		Summary: "Notes when its attempts are written and committed (a test transport).",
		Decode:  func(*component.Body) component.Config { return ledgerConfig{l} },
	}
}

func (l *ledger) note(event string) {
	l.mu.Lock()
	l.events = append(l.events, event)
	l.mu.Unlock()
}

type ledgerConfig struct{ l *ledger }

func (ledgerConfig) Needs() component.Needs { return component.Needs{} }
func (c ledgerConfig) NewSender(*component.SendEnv) (component.Sender, error) {
	return c, nil
}

func (c ledgerConfig) Begin(_ context.Context, d *component.Delivery, _ component.Header) (component.Attempt, error) {
	return &ledgerAttempt{l: c.l, name: d.Message.FileName}, nil
}

type ledgerAttempt struct {
	l       *ledger
	name    string
	buf     bytes.Buffer
	written bool
}

var _ component.SharedSync = (*ledgerAttempt)(nil)

func (a *ledgerAttempt) Write(p []byte) (int, error) {
	if a.written {
		return 0, errors.New("written to after Written")
	}
	return a.buf.Write(p)
}

func (a *ledgerAttempt) Written() error {
	if a.name == "refuse.xml" {
		return errors.New("ledger refused the payload")
	}
	a.written = true
	a.l.note("W " + a.name)
	return nil
}

func (a *ledgerAttempt) Commit(context.Context) (component.Result, error) {
	a.l.note("C " + a.name)
	a.l.mu.Lock()
	a.l.got[a.name] = bytes.Clone(a.buf.Bytes())
	a.l.mu.Unlock()
	return component.Result{}, nil
}

func (a *ledgerAttempt) Abort() {}

// TestSharedSyncCommitsTogether: one worker claims the 21 messages in two
// batches and runs every pipeline of a batch before its commits, which
// share their syncs: the log shows each batch's Written calls, then its
// commits. A message above 1 MiB is committed at once, without Written,
// within its batch's pipelines. A Written error fails that attempt alone,
// retried like a failed write.
func TestSharedSyncCommitsTogether(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "out" {
  host   = host.h
  filter = true
  transport "ledger" {}
}
`, map[string]string{"Max": "64MiB"})
	l := &ledger{got: map[string][]byte{}}
	reg := registry.Builtin()
	if err := reg.Register(l.spec()); err != nil {
		t.Fatal(err)
	}
	opts := testOptionsWith(t, dir, reg)
	opts.Workers = 1
	bodies := map[string][]byte{}
	var items []msgbox.Receipt
	for i := range 21 {
		name := fmt.Sprintf("m%02d.xml", i)
		body := []byte(fmt.Sprintf("<order n=%d/>", i))
		switch i {
		case 5:
			name, body = "big.xml", binaryBody(2<<20)
		case 9:
			name = "refuse.xml"
		}
		bodies[name] = body
		items = append(items, msgbox.Receipt{In: msgbox.Incoming{ReceiveLocation: "in", FileName: name,
			ContentType: "application/xml"}, Body: bytes.NewReader(body)})
	}
	// Stored before the run, so that the one worker's first claim takes a
	// whole batch.
	route := func(msgbox.Message) ([]string, string) { return []string{"out"}, "" }
	for _, res := range opts.Box.(msgbox.Batcher).ReceiveBatch(context.Background(), items, route) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.RunOnce(context.Background())
	if err != nil || sum.Delivered != 20 || sum.Retried != 1 {
		t.Fatalf("RunOnce: %+v, %v; want 20 delivered and 1 retried", sum, err)
	}
	for name, body := range bodies {
		if got, ok := l.got[name]; name != "refuse.xml" && (!ok || !bytes.Equal(got, body)) {
			t.Errorf("%s: delivered %d bytes (%v), want %d", name, len(got), ok, len(body))
		}
	}
	if _, ok := l.got["refuse.xml"]; ok {
		t.Error("refuse.xml was committed after its Written failed")
	}

	// The log is phases: Written calls (and the big message's commit),
	// then the commits of those Written, in any order.
	var phases [][]string
	written := map[string]bool{}
	inCommits := false
	for _, e := range l.events {
		kind, name, _ := strings.Cut(e, " ")
		switch {
		case kind == "W":
			if inCommits || phases == nil {
				phases, inCommits = append(phases, nil), false
			}
			written[name] = true
		case name == "big.xml":
			if written[name] || inCommits {
				t.Errorf("big.xml committed as part of a batch's commits: %v", l.events)
			}
		default:
			if !written[name] {
				t.Fatalf("%s committed before Written: %v", name, l.events)
			}
			delete(written, name)
			inCommits = true
			phases[len(phases)-1] = append(phases[len(phases)-1], name)
		}
	}
	if len(written) != 0 {
		t.Errorf("written, never committed: %v", written)
	}
	// 16 claimed at once: at least 14 of them commit together (big.xml
	// at once, refuse.xml not at all, wherever the claim put them); then
	// the rest of the 19.
	if len(phases) != 2 || len(phases[0]) < 14 || len(phases[0])+len(phases[1]) != 19 {
		t.Errorf("commit phases of %v, want 2 of 19 in all, the first of 14 or more: %v", phaseSizes(phases), l.events)
	}
	det, err := opts.Box.List(context.Background(), msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range det {
		if m.FileName != "refuse.xml" {
			continue
		}
		got, err := opts.Box.Get(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := got.Deliveries[0]; d.State != msgbox.DeliveryRetrying || !strings.Contains(d.LastError, "ledger refused the payload") {
			t.Errorf("refuse.xml: %s, %q; want retrying with the Written error", d.State, d.LastError)
		}
	}
}

func phaseSizes(phases [][]string) []int {
	n := make([]int, len(phases))
	for i, p := range phases {
		n[i] = len(p)
	}
	return n
}
