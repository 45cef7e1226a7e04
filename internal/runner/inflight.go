package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// inFlight is the deliveries the workers of one process hold: claimed, and
// their attempt not over or its outcome not yet recorded.
//
// A pause of the whole process longer than the lease (SIGSTOP, a stalled
// machine or disk) lets their leases expire with their attempts still
// running. Nobody else took them, so their holders still hold them (see
// msgbox.Box.Recover's lease rules), but to the box they are due again. A
// worker that took one over would start a second attempt of work its own
// process is doing: deliver it twice (HTTP), race its own staged file
// (file), and make the first attempt's outcome a lost lease. So each claim
// passes the deliveries in flight to the box as except.
//
// That list is read before the claim, without holding up the other
// workers' claims (the box shares their commits), so a claim held up past
// the lease (a pause between reading the list and claiming, a slow commit)
// can still take over a delivery a sibling claimed meanwhile; and a claim
// held up past the lease after its commit may come back with deliveries a
// sibling has taken over since. So a claim that took that long, or that
// returns a delivery in flight, asks the box (Renew) whether it holds each
// such delivery; a slow claim records its deliveries as in flight before
// it asks, as the asking may wait out a pause of its own. If it does not, its claim was the earlier one and it drops
// the delivery. If it does and a sibling's attempt is under way, it hands
// the lease over to that attempt, which then renews and finishes it under
// the claimer's name. An attempt whose outcome the box refuses as a lost
// lease first waits for the claims under way, which may be handing it the
// lease, before it gives up.
type inFlight struct {
	mu sync.Mutex
	// claimEnded is broadcast when a claim ends.
	claimEnded sync.Cond
	flights    map[int64]*flight
	nextClaim  uint64              // the number of the next claim
	claims     map[uint64]struct{} // the claims under way, by number
}

// flight is one delivery in flight in this process. Its fields are
// guarded by inFlight.mu.
type flight struct {
	// holder is the lease owner the box knows: the worker that claimed
	// the delivery, or a sibling that took the lease over and handed it
	// to this attempt.
	holder string
	// port is the delivery's send port, for the stop's log lines.
	port string
	// recorded is set once the attempt's outcome is recorded.
	recorded bool
	// until is when the lease may expire, at the earliest, by this
	// process's clock: the start of the claim or renewal that last set
	// it, plus the lease (see Runner.fence).
	until time.Time
}

// held records that the lease of fl's delivery is held until until (see
// flight.until), unless a later renewal already said so.
func (f *inFlight) held(fl *flight, until time.Time) {
	f.mu.Lock()
	if until.After(fl.until) {
		fl.until = until
	}
	f.mu.Unlock()
}

// leaseLeft is how long fl's lease is held for at least (see
// flight.until), negative once it ran out: by the monotonic clock, or by
// the wall clock when that says less. The monotonic clock stops while the
// machine is suspended (a frozen virtual machine, as a rule), when the
// box's leases, on the wall clock, still run out.
func (f *inFlight) leaseLeft(fl *flight) time.Duration {
	f.mu.Lock()
	until := fl.until
	f.mu.Unlock()
	now := time.Now()
	return min(until.Sub(now), until.Round(0).Sub(now.Round(0)))
}

func (f *inFlight) init() {
	f.claimEnded.L = &f.mu
	f.flights = map[int64]*flight{}
	f.claims = map[uint64]struct{}{}
}

// claimed is a delivery a worker claimed, with its flight.
type claimed struct {
	d  *msgbox.Delivery
	fl *flight
}

// claim leases up to claimBatch due deliveries to worker, passing over those
// in flight in this process, and returns those worker is to attempt, and
// how many the box returned.
func (r *Runner) claim(ctx context.Context, worker string) ([]claimed, int, error) {
	f := &r.inFlight
	f.mu.Lock()
	n := f.nextClaim
	f.nextClaim++
	f.claims[n] = struct{}{}
	// The list is as long as the deliveries in flight (hundreds with the
	// default workers) and made at every claim: its buffer is reused, the
	// box keeping none of except once ClaimBatch returns.
	buf, _ := r.excepts.Get().(*[]int64)
	if buf == nil {
		buf = new([]int64)
	}
	except := (*buf)[:0]
	for id := range f.flights {
		except = append(except, id)
	}
	f.mu.Unlock()
	defer func() {
		*buf = except
		r.excepts.Put(buf)
	}()
	defer func() {
		f.mu.Lock()
		delete(f.claims, n)
		f.claimEnded.Broadcast()
		f.mu.Unlock()
	}()
	start := time.Now()
	ds, err := r.opts.Box.ClaimBatch(ctx, worker, r.portList, r.opts.Lease, claimBatch, except)
	if err != nil {
		return nil, 0, err
	}
	return r.take(ctx, worker, ds, start), len(ds), nil
}

// take records the deliveries ds that a claim by worker started at start
// returned (ClaimBatch, or a receive's Handoff) as in flight, and returns
// those worker is to attempt (see inFlight).
func (r *Runner) take(ctx context.Context, worker string, ds []*msgbox.Delivery, start time.Time) []claimed {
	f := &r.inFlight
	// Quicker than half the lease (with a margin for the box's clock):
	// no lease this claim took can have expired yet, so none has been
	// taken over since.
	slow := time.Since(start) >= r.opts.Lease/2
	out := make([]claimed, 0, len(ds))
	type unsure struct {
		d    *msgbox.Delivery
		prov *flight
	}
	var confirm []unsure
	f.mu.Lock()
	for _, d := range ds {
		fl, busy := f.flights[d.ID]
		switch {
		case busy && !fl.recorded:
			confirm = append(confirm, unsure{d, nil}) // a sibling's attempt is under way
		case slow:
			// Recorded as in flight before the box confirms the lease,
			// so that the siblings' claims meanwhile pass over it: the
			// confirmation waits on the box, for as long as a pause
			// lasts, and the lease may expire meanwhile. A later claim
			// of this process that returns it anyway hands this flight
			// its lease, as it would an attempt's.
			fl = &flight{holder: worker, port: d.Port, until: start.Add(r.opts.Lease)}
			f.flights[d.ID] = fl
			confirm = append(confirm, unsure{d, fl})
		default:
			// A recorded outcome came before this claim: one recorded
			// after it would have been refused, the lease being this
			// claim's.
			fl = &flight{holder: worker, port: d.Port, until: start.Add(r.opts.Lease)}
			f.flights[d.ID] = fl
			out = append(out, claimed{d, fl})
		}
	}
	f.mu.Unlock()
	if len(confirm) == 0 {
		return out
	}
	// Whichever claim of a delivery the box took last holds its lease;
	// renewing tells whether it is this one. All in one Renew, not to be
	// cut short by a stop: a sibling's outcome may depend on it.
	items := make([]msgbox.Renewal, len(confirm))
	for i, u := range confirm {
		items[i] = msgbox.Renewal{DeliveryID: u.d.ID, Owner: worker}
	}
	asked := time.Now()
	errs := msgbox.RenewAll(context.WithoutCancel(ctx), r.opts.Box, r.opts.Lease, items)
	for i, u := range confirm {
		if fl := r.adopt(worker, u.d, u.prov, errs[i], asked.Add(r.opts.Lease)); fl != nil {
			out = append(out, claimed{u.d, fl})
		}
	}
	return out
}

// renewHeld renews the lease of each of cs as its flight's holder, in one
// Renew, records each lease renewed as held from the renewal's start, and
// returns one error per item.
func (r *Runner) renewHeld(ctx context.Context, cs []claimed) []error {
	items := make([]msgbox.Renewal, len(cs))
	for i, c := range cs {
		items[i] = msgbox.Renewal{DeliveryID: c.d.ID, Owner: r.inFlight.holder(c.fl)}
	}
	start := time.Now()
	errs := msgbox.RenewAll(ctx, r.opts.Box, r.opts.Lease, items)
	for i, c := range cs {
		if errs[i] == nil {
			r.inFlight.held(c.fl, start.Add(r.opts.Lease))
		}
	}
	return errs
}

// adopt settles d, which worker's claim returned although it may have been
// taken over since (see inFlight): the claim was slow (prov is then the
// flight it recorded for d meanwhile), or a sibling's attempt of d is under
// way (prov is nil). err is what renewing d's lease as worker answered (nil:
// worker's claim holds it, until until at least). It returns d's flight
// when worker is to attempt d; nil when the box gave d to a later claim, or
// when a sibling's attempt of d is under way, which then gets the lease if
// worker holds it.
func (r *Runner) adopt(worker string, d *msgbox.Delivery, prov *flight, err error, until time.Time) *flight {
	f := &r.inFlight
	f.mu.Lock()
	defer f.mu.Unlock()
	if prov != nil && f.flights[d.ID] == prov {
		switch {
		case prov.holder != worker:
			// A later claim of this process took d over meanwhile and
			// handed its lease to this flight: attempt it as that holder.
			return prov
		case err == nil:
			if until.After(prov.until) {
				prov.until = until
			}
			return prov
		}
		delete(f.flights, d.ID)
		if errors.Is(err, msgbox.ErrLeaseLost) {
			// This server drops a delivery it claimed: said, lest it
			// seem to have claimed it and done nothing.
			r.deliveryLog(d).Info("a delivery whose claim took over half the lease was taken over meanwhile; it is left to its holder",
				"delivery", d.ID)
		}
	}
	if err != nil {
		if !errors.Is(err, msgbox.ErrLeaseLost) {
			r.deliveryLog(d).Warn("confirming the lease of a delivery claimed late failed; it is redone when the lease expires",
				"delivery", d.ID, "error", err)
		}
		return nil
	}
	fl, busy := f.flights[d.ID]
	if !busy || fl.recorded {
		fl = &flight{holder: worker, port: d.Port, until: until}
		f.flights[d.ID] = fl
		return fl
	}
	fl.holder, fl.until = worker, until
	return nil
}

// fence returns the component.Delivery.Fence of c's attempt: the
// transport calls it right before it makes the delivery visible (places
// the file, sends the request). A process paused past the lease (SIGSTOP,
// a stalled machine), or whose renewals failed, may meanwhile have lost
// the delivery to another server, or to an operator who ended its message
// (`messages terminate` ends a delivery whose lease expired): placing it
// then would deliver it twice, or deliver what was ended. So while at
// least a quarter of the lease is left by this process's clock (see
// flight.until), the fence passes at once, as it does between renewals;
// otherwise it renews the lease, as its holder, and passes only when the
// box still gives it to this process. What it cannot cover is a pause
// longer than that quarter between the fence and the step it guards.
func (r *Runner) fence(c claimed) func(context.Context) error {
	return func(ctx context.Context) error {
		f := &r.inFlight
		left := f.leaseLeft(c.fl)
		if left >= r.opts.Lease/4 {
			return nil
		}
		start := time.Now()
		err := r.asHolder(c.fl, func(holder string) error {
			return msgbox.RenewOne(ctx, r.opts.Box, c.d.ID, holder, r.opts.Lease)
		})
		if err != nil {
			lease := fmt.Sprintf("its lease had %s left", left.Round(time.Millisecond))
			if left <= 0 {
				lease = fmt.Sprintf("its lease ran out %s ago", (-left).Round(time.Millisecond))
			}
			if errors.Is(err, msgbox.ErrLeaseLost) {
				return fmt.Errorf("%s, and the message box no longer gives it to this server (another server took it over, or its message was ended): %w", lease, err)
			}
			return fmt.Errorf("%s, and renewing it failed, so another server may have taken it over: %w", lease, err)
		}
		f.held(c.fl, start.Add(r.opts.Lease))
		return nil
	}
}

// holder returns the lease owner to renew and finish fl's delivery as.
func (f *inFlight) holder(fl *flight) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fl.holder
}

// recorded reports whether fl's attempt has its outcome recorded.
func (f *inFlight) recorded(fl *flight) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fl.recorded
}

// finish records the outcome of fl's attempt of delivery id (see
// recordAs).
func (r *Runner) finish(ctx context.Context, id int64, fl *flight, o msgbox.Outcome) error {
	return r.recordAs(fl, func(holder string) error { return r.opts.Box.Finish(ctx, id, holder, o) })
}

// recordAs records what became of fl's attempt with record, called with
// the lease's holder. When the box refuses it as a lost lease, it waits
// for the claims under way, one of which may have taken the lease over
// and be handing it to this attempt, and tries again as the new holder if
// there is one.
func (r *Runner) recordAs(fl *flight, record func(holder string) error) error {
	err := r.asHolder(fl, record)
	if err == nil {
		f := &r.inFlight
		f.mu.Lock()
		fl.recorded = true
		f.mu.Unlock()
	}
	return err
}

// asHolder calls do with the holder of fl's lease and returns its error.
// When the box answers that the lease is lost, it waits for the claims
// under way, one of which may have taken the lease over and be handing it
// to fl, and calls do again as the new holder if there is one.
func (r *Runner) asHolder(fl *flight, do func(holder string) error) error {
	f := &r.inFlight
	holder := f.holder(fl)
	for {
		err := do(holder)
		if !errors.Is(err, msgbox.ErrLeaseLost) {
			return err
		}
		f.mu.Lock()
		f.awaitClaims()
		now := fl.holder
		f.mu.Unlock()
		if now == holder {
			return err
		}
		holder = now
	}
}

// finishBatch records the outcomes of attempts as finish does each, in one
// FinishBatch. Those the box refuses as a lost lease go through finish,
// which waits for the claims that may be handing their lease over.
func (r *Runner) finishBatch(ctx context.Context, attempts []attempted) []error {
	f := &r.inFlight
	items := make([]msgbox.Finishing, len(attempts))
	for i, a := range attempts {
		items[i] = msgbox.Finishing{DeliveryID: a.c.d.ID, Owner: f.holder(a.c.fl), Outcome: a.outcome}
	}
	errs := r.opts.Box.FinishBatch(ctx, items)
	for i, a := range attempts {
		switch {
		case errs[i] == nil:
			f.mu.Lock()
			a.c.fl.recorded = true
			f.mu.Unlock()
		case errors.Is(errs[i], msgbox.ErrLeaseLost) && !errors.Is(errs[i], msgbox.ErrNotFound):
			errs[i] = r.finish(ctx, a.c.d.ID, a.c.fl, a.outcome)
		}
	}
	return errs
}

// awaitClaims waits for the claims under way to end, one of which may be
// taking over a lease of this process to hand it to one of its flights
// (see inFlight). Only those under way now: a claim started while waiting
// did not take a lease in question. f.mu must be held.
func (f *inFlight) awaitClaims() {
	for n := f.nextClaim; f.claimsBefore(n); {
		f.claimEnded.Wait()
	}
}

// claimsBefore reports whether a claim numbered below n is under way.
// f.mu must be held.
func (f *inFlight) claimsBefore(n uint64) bool {
	for c := range f.claims {
		if c < n {
			return true
		}
	}
	return false
}

// land removes fl's delivery from the set in flight once its attempt is
// over and its outcome recorded, or its recording failed: a delivery the
// box still holds for this process after that (the commit failed) is due
// again once its lease expires, and a worker of this process redoes it.
func (f *inFlight) land(id int64, fl *flight) {
	f.mu.Lock()
	if f.flights[id] == fl {
		delete(f.flights, id)
	}
	f.mu.Unlock()
}

// handoffOwner is the lease owner of the deliveries a receive claims for
// this runner (msgbox.Handoff): "owner/receive", which Recover(owner)
// covers, like the workers' names (see processOwner).
func (r *Runner) handoffOwner() string { return r.owner + "/receive" }

// handedOff is the queue of the batches of deliveries that receives
// claimed for this runner (see handOver), which the workers take before
// they claim.
type handedOff struct {
	mu      sync.Mutex
	batches []handedBatch
	// stopped is set once a stop returned the queue to the box
	// (releaseHanded): a batch a receive claims after that goes back
	// too, rather than wait for workers that take no more.
	stopped bool
}

// handedBatch is a batch of deliveries a receive claimed at claimedAt.
type handedBatch struct {
	cs        []claimed
	claimedAt time.Time
}

// maxHandedBatches bounds the batches handed over and not yet taken by a
// worker (one receive batch's worth): a receive hands over only while
// fewer wait (receives of several locations at once may each add theirs).
// Beyond it the workers are all busy, so the receives leave what they
// route pending, to be claimed at the workers' pace, rather than queue
// bodies in memory and leases that nothing renews yet.
const maxHandedBatches = msgbox.MaxBatch / claimBatch

// canHandOver reports whether a receive may claim what it routes for the
// workers: whether the queue has room (maxHandedBatches).
func (r *Runner) canHandOver() bool {
	h := &r.handed
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.stopped && len(h.batches) < maxHandedBatches
}

// handOver records the deliveries ds that a receive started at start
// claimed as in flight (take), and queues them for the workers in batches
// of at most claimBatch, as claims would have taken them: a receive batch
// of 64 goes to four workers rather than one. Measured on 2,000 messages
// of 4 KiB file to file (scripts/bench-run.sh's setup, alternated 3
// times): whole batches to one worker, running four pipelines at once,
// cost about as much CPU, and made a batch's first output wait for its
// 64th pipeline; with two servers sharing a box, the one that received a
// batch delivered a few of its messages, or none, before its batch was
// done, where other servers' workers had claimed theirs. It returns the
// number of batches queued.
func (r *Runner) handOver(ctx context.Context, ds []*msgbox.Delivery, start time.Time) (batches int) {
	if len(ds) == 0 {
		return 0
	}
	cs := r.take(ctx, r.handoffOwner(), ds, start)
	h := &r.handed
	h.mu.Lock()
	if h.stopped {
		// Claimed as the stop came: back to the box at once, under a
		// context the stop's grace does not cut short.
		h.mu.Unlock()
		r.release(context.WithoutCancel(ctx), cs)
		return 0
	}
	defer h.mu.Unlock()
	for len(cs) > 0 {
		n := min(claimBatch, len(cs))
		h.batches = append(h.batches, handedBatch{cs[:n:n], start})
		cs = cs[n:]
		batches++
	}
	return batches
}

// nextHanded returns the oldest batch handOver queued whose deliveries
// are still held, nil when none is. A batch that waited half its lease or
// more (every worker was busy) is confirmed first, as a slow claim is: its
// leases, which nothing renewed while it waited, may have expired and been
// taken over (see stillHeld); one that kept none is passed over.
func (r *Runner) nextHanded(ctx context.Context) []claimed {
	h := &r.handed
	for {
		h.mu.Lock()
		if len(h.batches) == 0 {
			h.mu.Unlock()
			return nil
		}
		b := h.batches[0]
		h.batches[0] = handedBatch{}
		h.batches = h.batches[1:]
		h.mu.Unlock()
		if time.Since(b.claimedAt) < r.opts.Lease/2 {
			return b.cs
		}
		if held := r.stillHeld(ctx, b.cs); len(held) > 0 {
			return held
		}
	}
}

// releaseHanded returns to the box, unattempted, the batches handOver
// queued that no worker has taken, and makes handOver return those it is
// given from now on (see handedOff.stopped): called as a stop comes, so
// that they are due again at once, for another server sharing the box,
// rather than once the attempts in flight end (a partner that never
// answers holds those for the transport's timeout). A batch is taken
// either by a worker (nextHanded) or by this, under the queue's lock,
// never both.
func (r *Runner) releaseHanded(ctx context.Context) {
	h := &r.handed
	h.mu.Lock()
	h.stopped = true
	batches := h.batches
	h.batches = nil
	h.mu.Unlock()
	for _, b := range batches {
		r.release(ctx, b.cs)
	}
}

// stillHeld renews the lease of each of cs, which waited since their claim
// without a renewal, and returns those whose lease this process still
// holds; the others are no longer in flight here (another process, or a
// claim of this one after the lease expired, redoes them).
func (r *Runner) stillHeld(ctx context.Context, cs []claimed) []claimed {
	out := cs[:0:0]
	errs := r.renewHeld(context.WithoutCancel(ctx), cs)
	for i, c := range cs {
		err := errs[i]
		if err == nil {
			out = append(out, c)
			continue
		}
		r.inFlight.land(c.d.ID, c.fl)
		r.deliveryLog(c.d).Warn("a delivery claimed when its message was received waited past half its lease; it is left to whoever holds it now",
			"delivery", c.d.ID, "error", err)
	}
	return out
}

// deliveryLog is the logger of delivery d: its port's (see
// port.deliveryLog), or the runner's for a port this runner does not run.
func (r *Runner) deliveryLog(d *msgbox.Delivery) *slog.Logger {
	if pt := r.ports[d.Port]; pt != nil {
		return pt.deliveryLog(d)
	}
	return r.log
}
