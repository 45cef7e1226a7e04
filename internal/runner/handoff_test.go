package runner_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// TestHandoff: the deliveries a file receive location routes to this
// runner's ports are claimed in the transaction that stores the messages
// (msgbox.Handoff) and delivered without a claim of their own: each
// message's history shows one claim, by the receive for the first batch
// at least, and every message is delivered once.
func TestHandoff(t *testing.T) { testHandoff(t, nil) }

// testHandoff is TestHandoff with the runner's options changed by tune
// (when not nil): another box.
func testHandoff(t *testing.T, tune func(*runner.Options)) {
	p := newPKI(t)
	dir := setup(t, p, common+allToFiles, nil)
	const n = 150 // more than a receive batch, and than a claim
	for i := range n {
		put(t, dir, fmt.Sprintf("m%03d.edi", i), []byte(fmt.Sprintf("<m%d/>", i)))
	}
	r, box := startWith(t, dir, tune)
	sum, err := r.RunOnce(context.Background())
	if err != nil || sum.Delivered != n {
		t.Fatalf("RunOnce = %+v, %v; want %d delivered", sum, err, n)
	}
	out, err := os.ReadDir(filepath.Join(dir, "out"))
	if err != nil || len(out) != n {
		t.Fatalf("%d files in out (%v), want %d", len(out), err, n)
	}
	msgs, err := msgbox.Collect(t.Context(), box, msgbox.Filter{})
	if err != nil || len(msgs) != n {
		t.Fatalf("List: %d messages, %v", len(msgs), err)
	}
	// The first receive finds the workers idle and hands its batch over;
	// a later one may find them busy (see canHandOver) and leave its
	// deliveries to their claims.
	handed := 0
	byReceive, byWorker := msgbox.ClaimedDetail(1, "srv1/receive"), regexp.MustCompile(`^attempt 1 claimed by srv1/w\d+$`)
	for _, m := range msgs {
		d, err := box.Get(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range d.History {
			got = append(got, e.Status)
			switch {
			case e.Status != string(msgbox.DeliveryInProgress):
			case e.Detail == byReceive:
				handed++
			case !byWorker.MatchString(e.Detail):
				t.Errorf("message %s: claim %q, want %q or a worker's", m.ID, e.Detail, byReceive)
			}
		}
		want := []string{"received", "pending", "in_progress", "delivered"}
		if !slices.Equal(got, want) {
			t.Errorf("message %s: history %v, want %v", m.ID, got, want)
		}
	}
	if handed == 0 {
		t.Error("no delivery claimed by its receive")
	}
}

// TestHandoffStop: what receives hand over while a long run stops is in
// flight, and delivered before Run returns: nothing stays claimed by the
// receive for the next start to recover.
func TestHandoffStop(t *testing.T) {
	p := newPKI(t)
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dir := setup(t, p, common+allToFiles, nil)
			const n = 300
			for i := range n {
				put(t, dir, fmt.Sprintf("m%03d.edi", i), []byte("<m/>"))
			}
			r, box := startWith(t, dir, func(o *runner.Options) { o.Workers = 2 })
			stop := runInBackground(t, r)
			// Stop as soon as the first messages are stored: receiving
			// and handing over are under way.
			for {
				if l, err := msgbox.Collect(t.Context(), box, msgbox.Filter{}); err == nil && len(l) > 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			stop()
			msgs, err := msgbox.Collect(t.Context(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				d, err := box.Get(t.Context(), m.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, dl := range d.Deliveries {
					if dl.State == msgbox.DeliveryInProgress {
						t.Errorf("message %s: delivery %d still in progress (held by %s) after Run returned",
							m.ID, dl.ID, dl.LeaseOwner)
					}
				}
			}
			out, _ := os.ReadDir(filepath.Join(dir, "out"))
			delivered := 0
			for _, m := range msgs {
				if m.Status == msgbox.StatusDelivered {
					delivered++
				}
			}
			if len(out) != delivered {
				var names []string
				for _, e := range out {
					names = append(names, e.Name())
				}
				t.Errorf("%d files out, %d messages delivered: %s", len(out), delivered, strings.Join(names, " "))
			}
		})
	}
}
