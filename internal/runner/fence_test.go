//go:build linux

package runner_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/syncbuf"
)

// settledBox is a pausedBox that also closes settled once the runner has
// tried to record want outcomes, recorded or not.
type settledBox struct {
	*pausedBox
	mu      sync.Mutex
	tried   int
	settled chan struct{}
}

func (b *settledBox) FinishBatch(ctx context.Context, items []msgbox.Finishing) []error {
	errs := b.pausedBox.FinishBatch(ctx, items)
	b.mu.Lock()
	defer b.mu.Unlock()
	before := b.tried
	if b.tried += len(items); before < b.want && b.tried >= b.want {
		close(b.settled)
	}
	return errs
}

// TestTerminatedDuringPause: a process paused past the lease while its
// workers have deliveries in flight, whose messages an operator ends
// meanwhile (`messages terminate` ends a delivery whose lease expired),
// must not, once it runs again, deliver them: the transport asks the
// runner's fence before it places a file or sends a request, and the
// fence, finding the lease lapsed, renews it before it lets the attempt
// go on, which the box refuses. Nothing reaches the partner or the output
// directory, and the messages stay terminated. Both boxes: renewing a
// terminated delivery is the box's.
func TestTerminatedDuringPause(t *testing.T) {
	const messages = 3
	const lease = time.Second
	boxes := []struct {
		name string
		open func(t *testing.T, opts *runner.Options)
	}{
		{"sqlite", func(*testing.T, *runner.Options) {}},
		{"postgres", func(t *testing.T, opts *runner.Options) { usePostgres(t)(opts) }},
	}
	for _, bx := range boxes {
		for _, transport := range []string{"http", "file"} {
			t.Run(bx.name+"/"+transport, func(t *testing.T) {
				dir, requests := pauseSetup(t, transport, messages)
				opts := testOptions(t, dir)
				bx.open(t, &opts)
				var logs syncbuf.Buffer
				opts.Log = slog.New(slog.NewJSONHandler(&logs, nil))
				box := &settledBox{pausedBox: newPausedBox(opts.Box, messages), settled: make(chan struct{})}
				opts.Box = box
				opts.Workers = messages
				opts.Lease = lease
				// The pause: every lease runs out while the attempts wait,
				// and the operator ends the messages.
				stop := runPastLeases(t, opts, box.pausedBox)
				msgs, err := msgbox.Collect(context.Background(), opts.Box, msgbox.Filter{})
				if err != nil || len(msgs) != messages {
					t.Fatalf("List = %d messages, %v; want %d", len(msgs), err, messages)
				}
				for _, m := range msgs {
					if err := opts.Box.Terminate(context.Background(), m.ID); err != nil {
						t.Fatalf("Terminate(%s): %v", m.ID, err)
					}
				}
				close(box.resume)
				select {
				case <-box.settled:
				case <-time.After(time.Minute):
					t.Fatal("the attempts never ended")
				}
				stop()

				for _, m := range msgs {
					d, err := opts.Box.Get(context.Background(), m.ID)
					if err != nil {
						t.Fatal(err)
					}
					if d.Message.Status != msgbox.StatusTerminated {
						t.Errorf("message %s %s (%s), want terminated", m.ID, d.Message.Status, d.Message.Reason)
					}
				}
				if n := strings.Count(logs.String(), "the message box no longer gives it to this server"); n != messages {
					t.Errorf("the log names the lapsed lease %d times, want %d (one per attempt):\n%s", n, messages, logs.String())
				}
				if transport == "http" {
					if posts := requests(); len(posts) != 0 {
						t.Errorf("partner got requests %v, want none", posts)
					}
					return
				}
				entries, err := os.ReadDir(filepath.Join(dir, "out"))
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					// What each attempt staged stays, under a name of the
					// transport's own; nothing is placed.
					if !strings.HasPrefix(e.Name(), ".bizpipe-") {
						t.Errorf("output directory has %s, want nothing placed", e.Name())
					}
				}
			})
		}
	}
}
