package runner

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/syncbuf"
)

// gatedBox is a real box whose claims by one owner can be held up just
// before they reach the box (the worker read the deliveries in flight,
// then the process paused) and just after (committed, the return delayed:
// a slow sync, a pause), and which reports Finish refused as a lost lease.
type gatedBox struct {
	msgbox.Box
	owner string
	// before and after, when not nil, are where a claim by owner waits
	// (entered is sent on first); committed is sent on once the box has
	// claimed; refused is sent on when Finish returns ErrLeaseLost.
	entered, committed, refused chan struct{}
	before, after               chan struct{}
	// renewing, when not nil, is sent on when a Renew starts, which then
	// waits for renew to be closed.
	renewing, renew chan struct{}
	// passed, when not nil, is sent on when a Release passes over some
	// of the deliveries it was given.
	passed chan struct{}
}

func (g *gatedBox) Release(ctx context.Context, owner string, ids []int64) (int, error) {
	n, err := g.Box.Release(ctx, owner, ids)
	if err == nil && n < len(ids) && g.passed != nil {
		g.passed <- struct{}{}
	}
	return n, err
}

func (g *gatedBox) Renew(ctx context.Context, lease time.Duration, items ...msgbox.Renewal) []error {
	if g.renew != nil {
		g.renewing <- struct{}{}
		<-g.renew
	}
	return g.Box.Renew(ctx, lease, items...)
}

func (g *gatedBox) ClaimBatch(ctx context.Context, owner string, ports []string, lease time.Duration, max int,
	except []int64) ([]*msgbox.Delivery, error) {
	if owner != g.owner {
		return g.Box.ClaimBatch(ctx, owner, ports, lease, max, except)
	}
	g.entered <- struct{}{}
	if g.before != nil {
		<-g.before
	}
	ds, err := g.Box.ClaimBatch(ctx, owner, ports, lease, max, except)
	g.committed <- struct{}{}
	if g.after != nil {
		<-g.after
	}
	return ds, err
}

func (g *gatedBox) Finish(ctx context.Context, id int64, owner string, o msgbox.Outcome) error {
	err := g.Box.Finish(ctx, id, owner, o)
	if errors.Is(err, msgbox.ErrLeaseLost) {
		g.refuse()
	}
	return err
}

func (g *gatedBox) FinishBatch(ctx context.Context, items []msgbox.Finishing) []error {
	errs := g.Box.FinishBatch(ctx, items)
	for _, err := range errs {
		if errors.Is(err, msgbox.ErrLeaseLost) {
			g.refuse()
		}
	}
	return errs
}

// refuse signals a refusal, unless one is signalled already: a refused
// FinishBatch item is finished again, refused again.
func (g *gatedBox) refuse() {
	select {
	case g.refused <- struct{}{}:
	default:
	}
}

// boxWithDelivery opens a box holding one message routed to port "p".
func boxWithDelivery(t *testing.T) (msgbox.Box, msgbox.Message) {
	t.Helper()
	box, err := sqlitebox.Open(filepath.Join(t.TempDir(), "box.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	m, _, err := box.ReceiveRouted(t.Context(), msgbox.Incoming{ReceiveLocation: "in"}, strings.NewReader("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Route(t.Context(), m.ID, []string{"p"}, ""); err != nil {
		t.Fatal(err)
	}
	return box, m
}

// claimResult is what a claim returned.
type claimResult struct {
	batch []claimed
	took  int
	err   error
}

// TestInFlightLateClaims: the races inFlight resolves without serialising
// the claims of a process. A claim held up past the lease may come back
// with a delivery a sibling of the same process took over meanwhile, or
// take over one a sibling is working on. Either way the delivery is
// attempted once in the process, and the attempt's outcome is recorded.
func TestInFlightLateClaims(t *testing.T) {
	const lease = 100 * time.Millisecond
	tests := []struct {
		name string
		// gateBefore, gateAfter: where the late claim is held up.
		gateBefore, gateAfter bool
		// finishFirst: the sibling's attempt is recorded before the late
		// claim returns; else the sibling finishes afterwards (or while
		// it returns, with gateBefore and gateAfter).
		finishFirst bool
		// wantHolder is the worker the delivered attempt is recorded as.
		wantHolder string
	}{
		// The late claim committed, then the sibling took the expired
		// lease over, attempted and recorded: the late claim must not
		// attempt the delivery again, though nothing of it is in flight.
		{name: "superseded, sibling done", gateAfter: true, finishFirst: true, wantHolder: "srv1/w-early"},
		// Same, the sibling still at work when the late claim returns.
		{name: "superseded, sibling at work", gateAfter: true, wantHolder: "srv1/w-early"},
		// The late claim read the deliveries in flight before the
		// sibling claimed, and then took the sibling's expired lease
		// over: it hands the lease to the sibling's attempt.
		{name: "took over a sibling's attempt", gateBefore: true, wantHolder: "srv1/w-late"},
		// Same, the sibling's Finish refused while the late claim is
		// returning: the sibling waits for it and finishes as its
		// holder.
		{name: "took over while the sibling finishes", gateBefore: true, gateAfter: true, wantHolder: "srv1/w-late"},
	}
	for _, tt := range tests {
		for _, batched := range []bool{false, true} {
			name := tt.name
			if batched {
				name += ", batched"
			}
			t.Run(name, func(t *testing.T) {
				testLateClaim(t, lease, tt.gateBefore, tt.gateAfter, tt.finishFirst, tt.wantHolder, batched)
			})
		}
	}
}

// testLateClaim is one case of TestInFlightLateClaims; batched records the
// sibling's outcome through finishBatch (processBatch's way), else finish.
func testLateClaim(t *testing.T, lease time.Duration, gateBefore, gateAfter, finishFirst bool, wantHolder string, batched bool) {
	tt := struct {
		gateBefore, gateAfter, finishFirst bool
		wantHolder                         string
	}{gateBefore, gateAfter, finishFirst, wantHolder}
	ctx := t.Context()
	real, m := boxWithDelivery(t)
	box := &gatedBox{Box: real, owner: "srv1/w-late", entered: make(chan struct{}, 1),
		committed: make(chan struct{}, 1), refused: make(chan struct{}, 1)}
	if tt.gateBefore {
		box.before = make(chan struct{})
	}
	if tt.gateAfter {
		box.after = make(chan struct{})
	}
	r, late := startLateClaim(ctx, box, lease)
	<-box.entered
	if !tt.gateBefore {
		<-box.committed // the late claim holds the lease; let it expire
		wait(t, real, m.ID)
	}
	early, took, err := r.claim(ctx, "srv1/w-early")
	if err != nil || len(early) != 1 || took != 1 {
		t.Fatalf("sibling's claim = %d of %d, %v; want the delivery", len(early), took, err)
	}
	finished := make(chan error, 1)
	delivered := msgbox.Outcome{State: msgbox.DeliveryDelivered}
	finish := func() error {
		if batched {
			return r.finishBatch(ctx, []attempted{{c: early[0], outcome: delivered}})[0]
		}
		return r.finish(ctx, early[0].d.ID, early[0].fl, delivered)
	}
	if tt.finishFirst {
		finished <- finish()
		r.inFlight.land(early[0].d.ID, early[0].fl)
	}
	if tt.gateBefore {
		wait(t, real, m.ID) // the sibling's lease expires: the late claim takes it over
		close(box.before)
		<-box.committed
		if tt.gateAfter {
			// The sibling's Finish, refused: the late claim
			// holds the lease but has not returned.
			go func() { finished <- finish() }()
			<-box.refused
		}
	}
	if tt.gateAfter {
		close(box.after)
	}
	res := <-late
	if res.err != nil || len(res.batch) != 0 || res.took != 1 {
		t.Fatalf("late claim = %d to attempt of %d returned, %v; want the delivery returned, not attempted",
			len(res.batch), res.took, res.err)
	}
	if !tt.finishFirst && !(tt.gateBefore && tt.gateAfter) {
		finished <- finish()
	}
	if err := <-finished; err != nil {
		t.Fatalf("recording the sibling's attempt: %v", err)
	}
	r.inFlight.land(early[0].d.ID, early[0].fl)
	d, err := real.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var last msgbox.Attempt
	if n := len(d.Attempts); n > 0 {
		last = d.Attempts[n-1]
	}
	if d.Message.Status != msgbox.StatusDelivered || last.Outcome != msgbox.DeliveryDelivered || last.Owner != tt.wantHolder {
		t.Errorf("message %s, attempts %+v; want delivered, the last attempt by %s", d.Message.Status, d.Attempts, tt.wantHolder)
	}
	if len(r.inFlight.flights) != 0 || len(r.inFlight.claims) != 0 {
		t.Errorf("left in flight: %v, claims under way: %v", r.inFlight.flights, r.inFlight.claims)
	}
}

// TestStopReleaseWaitsForAHandover: a stop returns to the box a delivery
// a worker claimed but did not begin, while a sibling's claim, held up
// past the lease, has taken its lease over and is about to hand it to the
// worker's flight. The box passes the first Release over (the lease is no
// longer the worker's); the stop then waits for the claim under way and
// releases the delivery as its new holder. Before, the stop gave up after
// the first Release; a claim that handed the lease to the flight before
// the stop let go of it left the delivery leased to the sibling, which
// does not attempt it, until the lease ran out or the next start recovered
// it, counting another attempt that was never made.
func TestStopReleaseWaitsForAHandover(t *testing.T) {
	const lease = 100 * time.Millisecond
	ctx := t.Context()
	real, m := boxWithDelivery(t)
	box := &gatedBox{Box: real, owner: "srv1/w-late", entered: make(chan struct{}, 1),
		committed: make(chan struct{}, 1), refused: make(chan struct{}, 1),
		before: make(chan struct{}), after: make(chan struct{}), passed: make(chan struct{}, 1)}
	r, late := startLateClaim(ctx, box, lease)
	<-box.entered // the late claim read the deliveries in flight: none
	early, took, err := r.claim(ctx, "srv1/w-early")
	if err != nil || len(early) != 1 || took != 1 {
		t.Fatalf("sibling's claim = %d of %d, %v; want the delivery", len(early), took, err)
	}
	wait(t, real, m.ID)
	close(box.before)
	<-box.committed // the late claim took the expired lease over
	released := make(chan struct{})
	go func() {
		r.release(ctx, early) // the stop: early[0] was never begun
		close(released)
	}()
	<-box.passed // released as srv1/w-early: passed over
	close(box.after)
	if res := <-late; res.err != nil || len(res.batch) != 0 || res.took != 1 {
		t.Fatalf("late claim = %d to attempt of %d returned, %v; want the delivery handed over, not attempted",
			len(res.batch), res.took, res.err)
	}
	<-released
	// The takeover recorded the worker's lease as expired (one failed
	// attempt, as any takeover does); the stop adds none.
	checkReleased(t, r, real, m.ID, msgbox.DeliveryRetrying, 1, 1)
}

// startLateClaim makes a runner on box and starts the claim of its worker
// srv1/w-late (the one box holds up), whose result it sends on late.
func startLateClaim(ctx context.Context, box *gatedBox, lease time.Duration) (r *Runner, late chan claimResult) {
	r = &Runner{opts: Options{Box: box, Lease: lease}, log: slog.New(slog.DiscardHandler), portList: []string{"p"}}
	r.inFlight.init()
	late = make(chan claimResult, 1)
	go func() {
		batch, took, err := r.claim(ctx, "srv1/w-late")
		late <- claimResult{batch, took, err}
	}()
	return r, late
}

// TestStopReleaseWaitsForClaimsUnderWay: a claim of this process that
// began before a stop's Release, and commits after it, claims the delivery
// the Release made due again and hands its lease to the unstarted
// delivery's flight, which the stop is letting go of. The stop waits for
// the claims under way and releases the delivery again as the claim's
// worker: it ends due, unleased, with no attempt counted. Before, the stop
// let go of the flight at once: the claim would then attempt the delivery,
// or, had it handed the lease over first, leave it leased to a worker that
// never attempts it.
func TestStopReleaseWaitsForClaimsUnderWay(t *testing.T) {
	ctx := t.Context()
	real, m := boxWithDelivery(t)
	box := &gatedBox{Box: real, owner: "srv1/w-late", entered: make(chan struct{}, 1),
		committed: make(chan struct{}, 1), refused: make(chan struct{}, 1), before: make(chan struct{})}
	r, late := startLateClaim(ctx, box, time.Minute)
	<-box.entered // the late claim read the deliveries in flight: none
	early, took, err := r.claim(ctx, "srv1/w-early")
	if err != nil || len(early) != 1 || took != 1 {
		t.Fatalf("sibling's claim = %d of %d, %v; want the delivery", len(early), took, err)
	}
	released := make(chan struct{})
	go func() {
		r.release(ctx, early) // the stop: early[0] was never begun
		close(released)
	}()
	// The Release (as srv1/w-early) returns the delivery to the box; the
	// stop then waits for the late claim, which claims it now.
	for {
		d, err := real.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Deliveries[0].LeaseOwner == "" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-released:
		t.Fatal("the stop let go of the flight with a claim under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(box.before)
	if res := <-late; res.err != nil || len(res.batch) != 0 || res.took != 1 {
		t.Fatalf("late claim = %d to attempt of %d returned, %v; want the delivery handed over, not attempted",
			len(res.batch), res.took, res.err)
	}
	<-released
	// Released as the worker, then as the claim that took it.
	checkReleased(t, r, real, m.ID, msgbox.DeliveryPending, 0, 2)
}

// checkReleased checks what a stop's release left of message id's
// delivery: state, unleased, due now, attempts counted, and that r
// released it released times and holds nothing in flight.
func checkReleased(t *testing.T, r *Runner, box msgbox.Box, id string, state msgbox.DeliveryState, attempts, released int) {
	t.Helper()
	d, err := box.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := d.Deliveries[0]
	if got.State != state || got.LeaseOwner != "" || got.Attempts != attempts || len(d.Attempts) != attempts ||
		got.NextAttemptAt.After(time.Now()) {
		t.Errorf("delivery %s, leased to %q, %d attempts (%+v), due %v; want %s, no lease, %d attempts, due now",
			got.State, got.LeaseOwner, got.Attempts, d.Attempts, got.NextAttemptAt, state, attempts)
	}
	if n := r.released.Load(); n != int64(released) {
		t.Errorf("released %d times, want %d", n, released)
	}
	if len(r.inFlight.flights) != 0 || len(r.inFlight.claims) != 0 {
		t.Errorf("left in flight: %v, claims under way: %v", r.inFlight.flights, r.inFlight.claims)
	}
}

// wait waits until the lease on message id's delivery has expired.
func wait(t *testing.T, box msgbox.Box, id string) {
	t.Helper()
	d, err := box.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	// Waiting for the lease to run out is what is tested; a margin for
	// the box reading the clock at another instant.
	if until := time.Until(d.Deliveries[0].LeaseUntil) + 20*time.Millisecond; until > 0 {
		time.Sleep(until)
	}
}

// TestInFlightSlowClaimConfirming: a claim that took longer than half the
// lease asks the box whether it still holds what it returned, and that
// question waits on the box (the process paused again, a slow disk) while
// the lease runs out. A sibling claiming meanwhile must pass over those
// deliveries, not take them over from its own process.
func TestInFlightSlowClaimConfirming(t *testing.T) {
	const lease = 100 * time.Millisecond
	ctx := t.Context()
	real, m := boxWithDelivery(t)
	box := &gatedBox{Box: real, owner: "srv1/w-late", entered: make(chan struct{}, 1),
		committed: make(chan struct{}, 1), after: make(chan struct{}),
		renewing: make(chan struct{}, 1), renew: make(chan struct{})}
	r := &Runner{opts: Options{Box: box, Lease: lease}, log: slog.New(slog.DiscardHandler), portList: []string{"p"}}
	r.inFlight.init()
	late := make(chan claimResult, 1)
	go func() {
		batch, took, err := r.claim(ctx, "srv1/w-late")
		late <- claimResult{batch, took, err}
	}()
	<-box.entered
	<-box.committed
	wait(t, real, m.ID) // the claim returns late: slow
	close(box.after)
	<-box.renewing // the confirmation waits; the lease has run out
	sibling, took, err := r.claim(ctx, "srv1/w-early")
	if err != nil || len(sibling) != 0 || took != 0 {
		t.Fatalf("sibling's claim = %d of %d, %v; want nothing: the delivery is in flight here", len(sibling), took, err)
	}
	close(box.renew)
	res := <-late
	if res.err != nil || len(res.batch) != 1 || res.took != 1 {
		t.Fatalf("slow claim = %d to attempt of %d returned, %v; want the delivery to attempt", len(res.batch), res.took, res.err)
	}
	if err := r.finish(ctx, res.batch[0].d.ID, res.batch[0].fl, msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
		t.Fatalf("recording the attempt: %v", err)
	}
	r.inFlight.land(res.batch[0].d.ID, res.batch[0].fl)
	d, err := real.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Message.Status != msgbox.StatusDelivered || len(d.Attempts) != 1 || d.Attempts[0].Owner != "srv1/w-late" {
		t.Errorf("message %s, attempts %+v; want delivered in one attempt by srv1/w-late", d.Message.Status, d.Attempts)
	}
}

// TestNotifyWakesWhatTheDeliveriesNeed: routing n deliveries wakes one
// idle worker per claimBatch of them, never more than there are workers,
// and a token nobody waited for yet stays for the next wait.
func TestNotifyWakesWhatTheDeliveriesNeed(t *testing.T) {
	for _, tt := range []struct {
		n, workers, want int
	}{
		{0, 4, 0},
		{1, 4, 1},
		{claimBatch, 4, 1},
		{claimBatch + 1, 4, 2},
		{100 * claimBatch, 4, 4},
	} {
		r := &Runner{wake: make(chan struct{}, tt.workers)}
		r.notify(tt.n)
		if got := len(r.wake); got != tt.want {
			t.Errorf("notify(%d) with %d workers: %d woken, want %d", tt.n, tt.workers, got, tt.want)
		}
	}
}

// lostLeaseBox is a box whose every Renew finds the lease lost, as one does
// when the outcome was recorded just before it.
type lostLeaseBox struct{ msgbox.Box }

func (lostLeaseBox) Renew(_ context.Context, _ time.Duration, items ...msgbox.Renewal) []error {
	errs := make([]error, len(items))
	for i := range errs {
		errs[i] = msgbox.LeaseLost("srv1/w0")
	}
	return errs
}

// TestRenewQuietAboutRecordedOutcomes: the renewer reads the leases to
// renew, then renews each; an outcome recorded in between ends that lease,
// and the renewal finds it lost. That is no news: only a lost lease whose
// outcome is not recorded is warned about.
func TestRenewQuietAboutRecordedOutcomes(t *testing.T) {
	var buf syncbuf.Buffer
	r := &Runner{opts: Options{Box: lostLeaseBox{}, Lease: 30 * time.Millisecond},
		log: slog.New(slog.NewTextHandler(&buf, nil))}
	r.inFlight.init()
	done := &flight{holder: "srv1/w0", recorded: true}
	open := &flight{holder: "srv1/w0"}
	held := newLeaseSet([]claimed{{&msgbox.Delivery{ID: 1}, done}, {&msgbox.Delivery{ID: 2}, open}})
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() {
		r.renew(ctx, held)
		close(stopped)
	}()
	for !strings.Contains(buf.String(), "delivery=2") {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-stopped
	if log := buf.String(); strings.Contains(log, "delivery=1") {
		t.Errorf("warned about the lease of a delivery whose outcome is recorded:\n%s", log)
	}
}

// TestSlowClaimTakenOverSaid: a claim that took over half the lease asks
// the box whether it still holds what it claimed; a delivery taken over
// meanwhile is dropped, and the log says so (found by the fence's e2e
// test: a server resumed after a pause dropped its claim without a word).
// A delivery a sibling's attempt holds is no news.
func TestSlowClaimTakenOverSaid(t *testing.T) {
	var buf syncbuf.Buffer
	r := &Runner{opts: Options{Box: lostLeaseBox{}, Lease: time.Minute}, log: slog.New(slog.NewTextHandler(&buf, nil))}
	r.inFlight.init()
	claimedAt := time.Now().Add(-time.Minute) // over half the lease ago
	if cs := r.take(t.Context(), "srv1/w0", []*msgbox.Delivery{{ID: 7}}, claimedAt); len(cs) != 0 || r.inFlight.flights[7] != nil {
		t.Fatalf("take kept a delivery taken over: %v, %v", cs, r.inFlight.flights[7])
	}
	if !strings.Contains(buf.String(), "taken over meanwhile") || !strings.Contains(buf.String(), "delivery=7") {
		t.Errorf("log %q does not say that delivery 7 was taken over", buf.String())
	}
	before := buf.String()
	r.inFlight.flights[8] = &flight{holder: "srv1/w1"} // a sibling's attempt
	if cs := r.take(t.Context(), "srv1/w0", []*msgbox.Delivery{{ID: 8}}, claimedAt); len(cs) != 0 {
		t.Fatalf("take took a sibling's delivery: %v", cs)
	}
	if after := buf.String(); after != before {
		t.Errorf("logged about a sibling's delivery: %q", strings.TrimPrefix(after, before))
	}
}

// TestPipelineWaitsItsTurn: a pipeline whose turn is to wait (a batch's
// delivery through a transport that does not share its syncs, while one
// that does has no slot yet: see processBatch) takes no slot, however
// free, until its turn comes; a stop ends the wait, nothing attempted.
func TestPipelineWaitsItsTurn(t *testing.T) {
	stop := make(chan struct{})
	stopping := (<-chan struct{})(stop)
	r := &Runner{pipelines: make(chan struct{}, 1), ports: map[string]*port{"p": {inner: slog.DiscardHandler}}}
	r.stop.Store(&stopping)
	started := make(chan bool)
	go func() {
		_, _, ok := r.pipeline(t.Context(), claimed{&msgbox.Delivery{ID: 1, Port: "p"}, &flight{}}, slotTurn{wait: make(chan struct{})}, nil)
		started <- ok
	}()
	time.Sleep(50 * time.Millisecond)
	if n := len(r.pipelines); n != 0 {
		t.Fatalf("%d slot(s) taken before the pipeline's turn", n)
	}
	close(stop)
	if <-started {
		t.Fatal("the pipeline started although the runner stopped before its turn")
	}
	if n := len(r.pipelines); n != 0 {
		t.Fatalf("%d slot(s) left taken", n)
	}
}

// answeringBox is a box whose Renew answers each lease as lost or held
// by its delivery, as scripted in lost.
type answeringBox struct {
	msgbox.Box
	lost map[int64]bool
}

func (b answeringBox) Renew(_ context.Context, _ time.Duration, items ...msgbox.Renewal) []error {
	errs := make([]error, len(items))
	for i, it := range items {
		if b.lost[it.DeliveryID] {
			errs[i] = msgbox.LeaseLost(it.Owner)
		}
	}
	return errs
}

// TestRenewalsJudgedEach: the leases renewed together are each judged by
// their own answer: a slow claim keeps the deliveries whose lease the box
// confirms and drops the others, wherever they stand in the batch; a
// batch's renewal moves each renewed lease's end (flight.until) and no
// other's.
func TestRenewalsJudgedEach(t *testing.T) {
	box := answeringBox{lost: map[int64]bool{1: true, 3: true}}
	r := &Runner{opts: Options{Box: box, Lease: time.Minute}, log: slog.New(slog.DiscardHandler)}
	r.inFlight.init()
	ds := []*msgbox.Delivery{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}
	claimedAt := time.Now().Add(-time.Minute) // over half the lease ago
	cs := r.take(t.Context(), "srv1/w0", ds, claimedAt)
	var kept []int64
	for _, c := range cs {
		kept = append(kept, c.d.ID)
		if left := r.inFlight.leaseLeft(c.fl); left < time.Minute/2 {
			t.Errorf("delivery %d confirmed, its lease recorded as %v left", c.d.ID, left)
		}
	}
	if !slices.Equal(kept, []int64{2, 4}) {
		t.Errorf("a slow claim kept %v, want the deliveries whose lease the box confirmed, [2 4]", kept)
	}
	for _, id := range []int64{1, 3} {
		if r.inFlight.flights[id] != nil {
			t.Errorf("delivery %d, its lease lost, still in flight", id)
		}
	}

	past := time.Now().Add(-time.Second)
	var held []claimed
	for _, d := range ds {
		held = append(held, claimed{d, &flight{holder: "srv1/w0", until: past}})
	}
	errs := r.renewHeld(t.Context(), held)
	for i, c := range held {
		renewed := r.inFlight.leaseLeft(c.fl) > 0
		if lost := box.lost[c.d.ID]; renewed == lost || (errs[i] != nil) != lost {
			t.Errorf("delivery %d (lease lost: %v): error %v, lease recorded renewed: %v", c.d.ID, lost, errs[i], renewed)
		}
	}
}
