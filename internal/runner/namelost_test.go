package runner_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// heldBox is a message box shared by several servers (msgbox.OwnerHolder)
// whose hold of the run's name the test can declare lost: the box hands
// over the run's lost callback on holds.
type heldBox struct {
	msgbox.Box
	holds chan func(error)
}

func (b *heldBox) HoldOwner(ctx context.Context, owner string, lost func(error)) (func(), error) {
	b.holds <- lost
	return func() {}, nil
}

// TestNameLostStopsTheRun: a process whose hold on its server's name was
// lost, and taken by another process meanwhile (a network partition),
// stops, as a signal stops it, and says why; before, it only logged, at
// every recheck, and went on claiming under the same workers' names as
// the other, each renewing and finishing the other's leases, sending the
// same deliveries twice for as long as both ran.
func TestNameLostStopsTheRun(t *testing.T) {
	for _, once := range []bool{false, true} {
		t.Run(fmt.Sprintf("once=%v", once), func(t *testing.T) {
			dir := setup(t, newPKI(t), common+allToFiles, nil)
			var logs logBuffer
			box := &heldBox{holds: make(chan func(error), 1)}
			r, _ := startWith(t, dir, func(o *runner.Options) {
				box.Box = o.Box
				o.Box = box
				o.Log = slog.New(slog.NewTextHandler(&logs, nil))
				o.FileSettle = time.Hour // a --once run keeps polling a file too fresh to take
			})
			put(t, dir, "order.edi", []byte("ISA*00*order~"))
			done := make(chan error, 1)
			go func() {
				var err error
				if once {
					_, err = r.RunOnce(context.Background())
				} else {
					_, err = r.Run(context.Background())
				}
				done <- err
			}()
			lost := <-box.holds
			taken := fmt.Errorf("%w: backend 4242 connected from 10.0.0.2", msgbox.ErrOwnerInUse)
			lost(taken)
			lost(taken) // at the next recheck too
			select {
			case err := <-done:
				if !errors.Is(err, runner.ErrNameLost) || !errors.Is(err, msgbox.ErrOwnerInUse) {
					t.Errorf("the run returned %v; want ErrNameLost, with the box's reason", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the run goes on after another process took its name")
			}
			const line = `msg="another process took this server's name`
			if n := strings.Count(logs.String(), line); n != 1 {
				t.Errorf("%d lines %s, want 1:\n%s", n, line, logs.String())
			}
		})
	}
}
