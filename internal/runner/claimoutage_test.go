package runner_test

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// outageBox is a message box whose claims fail while down is set, as a
// database that cannot be reached makes them; failed counts those. Its
// listings of unrouted messages (the routing sweep's) fail while
// sweepDown is set; sweeps counts them.
type outageBox struct {
	msgbox.Box
	down, sweepDown atomic.Bool
	failed, sweeps  atomic.Int64
}

func (b *outageBox) Unrouted(ctx context.Context, n int) ([]msgbox.Message, error) {
	b.sweeps.Add(1)
	if b.sweepDown.Load() {
		return nil, errDiskFull
	}
	return b.Box.Unrouted(ctx, n)
}

func (b *outageBox) ClaimBatch(ctx context.Context, worker string, ports []string, lease time.Duration, n int, except []int64) ([]*msgbox.Delivery, error) {
	if b.down.Load() {
		b.failed.Add(1)
		return nil, errDiskFull
	}
	return b.Box.ClaimBatch(ctx, worker, ports, lease, n, except)
}

// TestClaimOutageLoggedOnce: while the message box fails the claims of a
// long run, every worker meets the failure at every idle wait (32 lines a
// second and more with the default workers); it is logged when it starts,
// then at most once every OutageRepeat with how many failures went
// unlogged, and the run says when claiming works again. A new outage is
// logged at once.
func TestClaimOutageLoggedOnce(t *testing.T) {
	dir := setup(t, newPKI(t), common+allToFiles, nil)
	var logs logBuffer
	var box *outageBox
	var workers int
	r, _ := startWith(t, dir, func(o *runner.Options) {
		box = &outageBox{Box: o.Box}
		box.down.Store(true)
		o.Box = box
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
		workers = o.Workers
	})
	if workers < 2 {
		t.Fatalf("%d workers: the test needs several", workers)
	}
	var elapsed atomic.Int64 // the test's clock, from base
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	runner.SetOutageClock(r, func() time.Time { return base.Add(time.Duration(elapsed.Load())) })
	stop := runInBackground(t, r)
	defer stop()
	// failures waits until each worker failed several more claims.
	failures := func() {
		t.Helper()
		want := box.failed.Load() + int64(5*workers)
		for deadline := time.Now().Add(30 * time.Second); box.failed.Load() < want; {
			if time.Now().After(deadline) {
				t.Fatalf("%d claims failed, want %d", box.failed.Load(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	lines := func(msg string) []string {
		var out []string
		for l := range strings.Lines(logs.String()) {
			if strings.Contains(l, `msg="`+msg) {
				out = append(out, l)
			}
		}
		return out
	}
	const failed, works = "claiming a delivery failed", "claiming deliveries works again"
	check := func(when string, wantFailed, wantWorks int) {
		t.Helper()
		if f, w := len(lines(failed)), len(lines(works)); f != wantFailed || w != wantWorks {
			t.Fatalf("%s: %d lines %q and %d %q, want %d and %d:\n%s", when, f, failed, w, works, wantFailed, wantWorks, logs.String())
		}
	}
	unlogged := regexp.MustCompile(` failures_not_logged=([1-9]\d*)`)

	failures()
	check("as the outage starts", 1, 0)
	failures()
	check("as it goes on", 1, 0)
	elapsed.Add(int64(runner.OutageRepeat))
	failures()
	check("a repeat later", 2, 0)
	if l := lines(failed)[1]; !unlogged.MatchString(l) || !strings.Contains(l, errDiskFull.Error()) {
		t.Errorf("the reminder does not say how many failures went unlogged, or why:\n%s", l)
	}
	box.down.Store(false)
	for deadline := time.Now().Add(30 * time.Second); len(lines(works)) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no line %q once claims work again:\n%s", works, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // more claims, that work
	check("once claims work again", 2, 1)
	if l := lines(works)[0]; !unlogged.MatchString(l) {
		t.Errorf("the end of the outage does not say how many failures went unlogged:\n%s", l)
	}
	box.down.Store(true)
	failures()
	check("at a second outage", 3, 1)
}

// TestRoutingSweepOutageLoggedOnce: a long run's routing sweep (every 5
// idle waits) that keeps failing is logged as claims are
// (TestClaimOutageLoggedOnce): when it starts, then at most once every
// OutageRepeat, and when it works again; not about 12 lines a minute.
func TestRoutingSweepOutageLoggedOnce(t *testing.T) {
	dir := setup(t, newPKI(t), common+allToFiles, nil)
	var logs logBuffer
	var box *outageBox
	r, _ := startWith(t, dir, func(o *runner.Options) {
		box = &outageBox{Box: o.Box}
		o.Box = box
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	runner.SetOutageClock(r, func() time.Time { return base })
	stop := runInBackground(t, r)
	defer stop()
	sweeps := func(n int64) {
		t.Helper()
		want := box.sweeps.Load() + n
		for deadline := time.Now().Add(30 * time.Second); box.sweeps.Load() < want; {
			if time.Now().After(deadline) {
				t.Fatalf("%d sweeps, want %d", box.sweeps.Load(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	count := func(msg string) int { return strings.Count(logs.String(), `msg="`+msg+`"`) }
	const failed, works = "routing sweep failed", "the routing sweep works again"
	sweeps(2) // the start's routing and a first sweep, which work
	box.sweepDown.Store(true)
	sweeps(4)
	if f := count(failed); f != 1 {
		t.Fatalf("%d lines %q after 4 failed sweeps within a minute, want 1:\n%s", f, failed, logs.String())
	}
	box.sweepDown.Store(false)
	sweeps(2)
	if f, w := count(failed), count(works); f != 1 || w != 1 {
		t.Fatalf("%d lines %q and %d %q once sweeps work again, want 1 and 1:\n%s", f, failed, w, works, logs.String())
	}
}
