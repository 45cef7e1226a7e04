package runner_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/registry"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// failingStart is a test receive transport whose Start fails, as an http
// location's does on a port in use, once box holds a message: the
// locations started before it have received by then.
type failingStart struct{ box msgbox.Box }

func (f *failingStart) spec() *component.Spec {
	return &component.Spec{
		Kind:    component.ReceiveTransport,
		Name:    "failing_start",
		Summary: "Fails to start once a message is stored (a test transport).",
		Decode:  func(*component.Body) component.Config { return f },
	}
}

func (*failingStart) Needs() component.Needs { return component.Needs{} }
func (f *failingStart) NewReceiver(*component.ReceiveEnv) (component.Receiver, error) {
	return f, nil
}

func (f *failingStart) Start(ctx context.Context) error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if msgs, err := msgbox.Collect(ctx, f.box, msgbox.Filter{}); err == nil && len(msgs) > 0 {
			break
		}
	}
	return errors.New("listen tcp 127.0.0.1:4080: bind: address already in use")
}

func (*failingStart) Stop(context.Context) {}

// TestStartFailureReleasesHandedOver: a run whose receive location fails
// to start (a port in use) after another one received returns the
// deliveries that receive claimed for the workers to the box, due again,
// no attempt counted. Before, they stayed leased to the receive: the next
// start recovered them as interrupted attempts, never made, and with no
// retries left suspended the message untried.
func TestStartFailureReleasesHandedOver(t *testing.T) {
	dir := setup(t, newPKI(t), common+filesNoRetry+`
receive_location "zz_web" {
  host = host.h
  transport "failing_start" {}
}
`, nil)
	put(t, dir, "order.edi", []byte("ISA*00*order~"))
	fs := &failingStart{}
	reg := registry.Builtin()
	if err := reg.Register(fs.spec()); err != nil {
		t.Fatal(err)
	}
	opts := testOptionsWith(t, dir, reg)
	fs.box = opts.Box
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(context.Background()); err == nil {
		t.Fatal("Run started although a receive location could not")
	}
	msgs, err := msgbox.Collect(context.Background(), opts.Box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages: %d, %v; want the one received", len(msgs), err)
	}
	d, err := opts.Box.Get(context.Background(), msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range d.Deliveries {
		if dl.State != msgbox.DeliveryPending || dl.Attempts != 0 || dl.LeaseOwner != "" {
			t.Errorf("delivery %d after the failed start: %s, %d attempts, lease owner %q; want pending, unattempted and held by none",
				dl.ID, dl.State, dl.Attempts, dl.LeaseOwner)
		}
	}
	// The next run has it to deliver, not to suspend as interrupted (a
	// --once run starts no listener, so the failing location is left out).
	r2, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := r2.RunOnce(context.Background()); err != nil || sum.Delivered != 1 || sum.Suspended != 0 {
		t.Errorf("the next run: %+v, %v; want the message delivered", sum, err)
	}
}
