package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/fanout"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// workLoop claims and processes deliveries. claimCtx stops the claiming;
// workCtx is what an in-flight delivery runs under, so that a stop lets it
// finish. In once mode (receiving is not nil) the loop ends when receiving
// is closed and nothing is due.
func (r *Runner) workLoop(claimCtx, workCtx context.Context, worker string, receiving <-chan struct{}) {
	once := receiving != nil
	if len(r.portList) == 0 {
		return
	}
	// A shared box (PostgreSQL) tells idle workers when another server
	// routed work for these ports (LISTEN/NOTIFY), instead of them polling.
	var remote <-chan struct{}
	if sub, ok := r.opts.Box.(subscriber); ok && !once {
		c, cancel := sub.Subscribe(r.portList)
		defer cancel()
		remote = c
	}
	// A wake token (see notify) sent between a claim that finds nothing
	// and the wait stays in the channel until the wait: no wakeup is lost.
	woken := r.wake
	for claimCtx.Err() == nil {
		// Whether receiving had finished before this claim: only then does
		// a claim that finds nothing mean there is nothing more to do.
		received := closed(receiving)
		if batch := r.nextHanded(workCtx); batch != nil {
			r.processBatch(workCtx, batch)
			continue
		}
		began := r.claimFails.began()
		batch, took, err := r.claim(claimCtx, worker)
		if err != nil {
			if claimCtx.Err() != nil {
				return
			}
			if once {
				// Every worker meets a box that fails (a full disk): one
				// line says it, not one per worker.
				if r.troubled(r.hide.err(fmt.Errorf("claiming deliveries: %w", err))) {
					r.log.Error("claiming a delivery failed", "error", err)
				}
				return
			}
			r.claimFails.fail(r.log, err)
			r.idle(claimCtx, woken, remote)
			continue
		}
		r.claimFails.ok(r.log, began)
		if len(batch) == 0 {
			if took > 0 {
				continue // all of them in flight here (see inFlight): more may be due
			}
			if once {
				if received {
					return
				}
				r.idle(claimCtx, woken, receiving)
				continue
			}
			r.idle(claimCtx, woken, remote)
			continue
		}
		r.processBatch(workCtx, batch)
	}
}

// claimBatch is how many due deliveries a worker leases at once: one
// commit for several claims, and one round of syncs for their file
// outputs (see processBatch). 16 measured best against 4, 32 and 64
// (scripts/bench-run.sh's engine alone); small enough that a burst is
// still spread over the workers.
const claimBatch = 16

// processBatch makes one attempt of each delivery, running up to
// Options.PipelinesPerBatch of them at once, those to a sender whose
// commits share their syncs (component.SyncSharer: the file transport's)
// first. Their commits wait until each of their pipelines has left its
// commit for later or is known to leave none, and then run together, so
// that one round of syncs makes the batch durable; unless only one is
// left, which is then told it is alone and syncs on its own. That is
// decided as the pipelines go, rather than at the claim: a delivery may
// commit at once (large, or over the runner's cap on deferred commits) or
// fail. The deliveries through other transports (a slow HTTP partner) do
// not hold them back. The outcomes are recorded
// while the worker goes on with the next deliveries, by batches: whatever
// outcomes are ready when the previous recording ends, in one FinishBatch
// (one commit); the deferred commits, which end together, hand theirs
// over together. The commit's wait overlaps the next pipeline's work, and
// a lone outcome is recorded at once. The batch's leases are renewed
// until each outcome is recorded.
func (r *Runner) processBatch(ctx context.Context, batch []claimed) {
	held := newLeaseSet(batch)
	renewCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	renewing := make(chan struct{})
	go func() {
		defer close(renewing)
		r.renew(renewCtx, held)
	}()

	outcomes := make(chan []attempted, len(batch))
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		for a := range outcomes {
			ready := a
		more:
			for {
				select {
				case next, ok := <-outcomes:
					if !ok {
						break more
					}
					ready = append(ready, next...)
				default:
					break more
				}
			}
			r.recordBatch(ctx, ready)
			for _, a := range ready {
				held.done(a.c.d.ID)
				r.inFlight.land(a.c.d.ID, a.c.fl)
			}
			// An MDN that came while one of them was being sent waits
			// for the attempt's end (SettleReceipt).
			r.mdnAwaited.signal()
		}
	}()
	// The pipelines that may leave their commit for later first (see
	// component.SyncSharer), so that none waits behind a slow delivery
	// through another transport; the batch's order otherwise.
	slices.SortStableFunc(batch, func(a, b claimed) int {
		return cmp.Compare(r.sharer(b.d), r.sharer(a.d))
	})
	var (
		mu        sync.Mutex
		later     []deferred
		undecided int // pipelines that may still leave a commit for later
		commits   sync.WaitGroup
	)
	for _, c := range batch {
		if r.sharer(c.d) == 1 {
			undecided++
		}
	}
	// The other pipelines take their slots (Options.Workers of them for
	// the whole runner) only once each of the sharers has taken one, or
	// was kept from starting: slow ones could otherwise hold the slots
	// the sharers wait for.
	unslotted := undecided
	slotted := make(chan struct{})
	if unslotted == 0 {
		close(slotted)
	}
	tookSlot := func() {
		mu.Lock()
		defer mu.Unlock()
		if unslotted--; unslotted == 0 {
			close(slotted)
		}
	}
	// decided notes that one more pipeline leaves no commit for later but
	// l (nil for none). The last to decide starts the deferred commits,
	// while pipelines whose transport does not share its syncs (an HTTP
	// partner that takes its time to answer) go on.
	decided := func(l *deferred) {
		mu.Lock()
		if l != nil {
			later = append(later, *l)
		}
		undecided--
		last := undecided == 0
		mu.Unlock()
		if !last {
			return
		}
		switch len(later) {
		case 0:
		case 1:
			commits.Go(func() { outcomes <- []attempted{later[0].run(ctx, true)} })
		default:
			// The commits share one round of syncs, so they end together:
			// their outcomes are recorded together, in one FinishBatch.
			commits.Go(func() { outcomes <- commitTogether(ctx, later) })
		}
	}
	// At a stop, the deliveries whose attempt has not begun go back to
	// the box at once (releaseAtStop), not once the attempts in flight
	// end: a partner that never answers would hold them for the
	// transport's timeout. Each is begun by its pipeline or taken by the
	// stop, never both. Only a stop keeps a pipeline from beginning, so
	// once every pipeline ended (batchDone) any delivery not begun is one
	// the stop kept, released then if not before.
	begun := make([]atomic.Int32, len(batch))
	batchDone := make(chan struct{})
	releasedAtStop := make(chan struct{})
	go func() {
		defer close(releasedAtStop)
		select {
		case <-r.stopping():
		case <-batchDone:
		}
		r.releaseAtStop(ctx, batch, begun, held)
	}()
	fanout.Each(len(batch), r.opts.PipelinesPerBatch, func(i int) {
		// The pipeline runs in this goroutine: none and what follows it
		// need no lock between them. Only a SyncSharer's pipeline counts
		// in undecided.
		sharer := r.sharer(batch[i].d) == 1
		early := !sharer
		none := func() {
			if !early {
				early = true
				decided(nil)
			}
		}
		turn := slotTurn{wait: slotted}
		if sharer {
			turn = slotTurn{took: tookSlot}
		}
		turn.begin = func() bool { return begun[i].CompareAndSwap(notBegun, attemptBegun) }
		a, commit, started := r.pipeline(ctx, batch[i], turn, none)
		switch {
		case !started:
			// Kept from beginning by the stop, which releases it
			// (releaseAtStop).
			none()
		case commit == nil:
			outcomes <- []attempted{a}
			none()
		default:
			decided(commit)
		}
	})
	commits.Wait()
	close(outcomes)
	<-recorded
	close(batchDone)
	<-releasedAtStop
	stopRenew()
	<-renewing
}

// The states of a batch's delivery (see processBatch): its attempt not
// begun yet, begun, or kept from beginning by a stop, which releases it.
const (
	notBegun int32 = iota
	attemptBegun
	releasedByStop
)

// releaseAtStop returns to the box the deliveries of batch whose attempt
// has not begun (begun, by index): called as a stop comes, so that they
// are due again at once rather than once the batch's attempts in flight
// end, and when the batch is done, when only a stop can have left any.
// Their leases are no longer renewed from before they are released, since
// a renewal after would find them lost.
func (r *Runner) releaseAtStop(ctx context.Context, batch []claimed, begun []atomic.Int32, held *leaseSet) {
	var left []claimed
	for i := range batch {
		if begun[i].CompareAndSwap(notBegun, releasedByStop) {
			left = append(left, batch[i])
		}
	}
	if len(left) == 0 {
		return
	}
	held.drop(left)
	r.release(ctx, left)
}

// sharer is 1 when d's port sends through a component.SyncSharer, whose
// attempts may leave their commits for the rest of their batch; 0
// otherwise.
func (r *Runner) sharer(d *msgbox.Delivery) int {
	if pt := r.ports[d.Port]; pt != nil && isSharer(pt) {
		return 1
	}
	return 0
}

// release hands back to the box the deliveries of a batch that a stop
// kept from being attempted (msgbox.Box.Release), so that they are due
// again at once, no attempt counted, for this process's next start or
// another server sharing the box. A claim of this process under way may
// meanwhile take one of their leases over (one slow past the lease, or,
// once released, one that finds it due) and hand it to its flight, as
// recordAs waits for when recording an outcome: so before letting go of
// the flights, release waits for the claims under way and releases again
// those whose holder changed. One the box still does not release (another
// server took it over, or the box failed) stays leased, as a delivery in
// progress at a crash: Recover or a takeover after the lease returns it.
func (r *Runner) release(ctx context.Context, unstarted []claimed) {
	f := &r.inFlight
	for left := unstarted; len(left) > 0; {
		byHolder := map[string][]int64{}
		asked := make([]string, len(left))
		for i, c := range left {
			asked[i] = f.holder(c.fl)
			byHolder[asked[i]] = append(byHolder[asked[i]], c.d.ID)
		}
		for _, h := range slices.Sorted(maps.Keys(byHolder)) {
			n, err := r.opts.Box.Release(ctx, h, byHolder[h])
			if err != nil {
				r.log.Warn("stopping: returning claimed deliveries to the box failed; they are due again after their lease, or at the next start",
					"deliveries", len(byHolder[h]), "error", err)
				continue
			}
			r.released.Add(int64(n))
		}
		f.mu.Lock()
		f.awaitClaims()
		var again []claimed
		for i, c := range left {
			if c.fl.holder != asked[i] {
				again = append(again, c)
			}
		}
		f.mu.Unlock()
		left = again
	}
	for _, c := range unstarted {
		f.land(c.d.ID, c.fl)
	}
}

// pipeline makes one attempt of c, in one of the runner's pipeline slots:
// its outcome, or, when its commit waits for the rest of the batch
// (deferredCommit), nil and what commits it then. started is false, and
// nothing was attempted, when the runner was stopping (r.stopping) before
// the attempt could begin: the stop finishes the attempts in flight, but
// begins none of the rest of a claimed batch, each of which could take
// the transport's whole timeout (a partner that never answers).
func (r *Runner) pipeline(ctx context.Context, c claimed, turn slotTurn, none func()) (a attempted, later *deferred, started bool) {
	d := c.d
	pt := r.ports[d.Port]
	log := pt.deliveryLog(d, slog.Int("attempt", d.Attempts+1))
	var pending *component.Pending
	commit := deferral{none: none}
	stopping := r.stopping()
	if turn.wait != nil {
		select {
		case <-turn.wait:
		case <-stopping:
			return attempted{}, nil, false
		}
	}
	select {
	case r.pipelines <- struct{}{}:
		turn.taken()
	case <-stopping:
		turn.taken()
		return attempted{}, nil, false
	}
	select {
	case <-stopping: // both were ready: the stop wins
		<-r.pipelines
		return attempted{}, nil, false
	default:
	}
	if turn.begin != nil && !turn.begin() {
		<-r.pipelines // the stop came meanwhile, and released it
		return attempted{}, nil, false
	}
	outcome, sd, delivered := r.attemptGuarded(ctx, pt, d, r.fence(c), log, &pending, &commit)
	<-r.pipelines
	finish := func(outcome msgbox.Outcome, delivered bool) attempted {
		outcome.Error = pt.hide.text(outcome.Error) // stored, logged and shown
		if !delivered {
			sd = nil // nothing to clean up after
		}
		return attempted{c, pt, log, outcome, sd, delivered, pending}
	}
	if commit.commit.att == nil {
		return finish(outcome, delivered), nil, true
	}
	return attempted{}, &deferred{commit.commit, finish}, true
}

// attemptGuarded is attempt, a panic in it that no guard closer to the
// component made an error (see guard) the attempt's: logged with its
// stack, and the delivery suspended, instead of the process dying with
// every attempt in flight.
func (r *Runner) attemptGuarded(ctx context.Context, pt *port, d *msgbox.Delivery, fence func(context.Context) error, log *slog.Logger,
	pending **component.Pending, later *deferral) (outcome msgbox.Outcome, sd *component.Delivery, delivered bool) {
	var err error
	defer func() {
		if err != nil {
			pt.reportPanic(d, err)
			*pending, later.commit = nil, deferredCommit{}
			outcome, sd, delivered = msgbox.Outcome{State: msgbox.DeliverySuspended, Error: err.Error()}, nil, false
		}
	}()
	defer component.Recover(&err, "the delivery attempt")
	return r.attempt(ctx, pt, d, fence, log, pending, later)
}

// slotTurn is when a pipeline of a batch takes its slot (see
// processBatch): once wait, when not nil, is closed; took, when not nil,
// is called once it took one, or will not. begin, when not nil, is called
// right before the attempt begins: false when a stop has released the
// delivery meanwhile (releaseAtStop), and it must not begin.
type slotTurn struct {
	wait  <-chan struct{}
	took  func()
	begin func() bool
}

func (t slotTurn) taken() {
	if t.took != nil {
		t.took()
	}
}

// deferred is an attempt of a batch whose commit waits for the rest of
// the batch: what stream left of it, and finish, which makes the outcome
// of its commit the attempt's.
type deferred struct {
	deferredCommit
	finish func(outcome msgbox.Outcome, delivered bool) attempted
}

// committed is the attempt once its commit, which took took, returned res
// and err.
func (l deferred) committed(res component.Result, err error, took time.Duration) attempted {
	return l.finish(l.done(res, err, took))
}

// run commits l on its own; alone says that no other commit of the batch
// is left to share its syncs with.
func (l deferred) run(ctx context.Context, alone bool) attempted {
	start := time.Now()
	var res component.Result
	err := guard(l.transport, func() (err error) {
		if alone {
			l.att.Alone()
		}
		res, err = l.att.Commit(ctx)
		return err
	})
	return l.committed(res, err, time.Since(start))
}

// commitTogether commits a batch's deferred attempts all at once, so that
// they share rounds of syncs: those of one component.BatchCommitter in one
// CommitBatch call, any other in a goroutine of its own.
func commitTogether(ctx context.Context, later []deferred) []attempted {
	done := make([]attempted, len(later))
	var groups [][]int // indexes in later, by committer
	var committers []component.BatchCommitter
	var commits sync.WaitGroup
	for i, l := range later {
		if b, ok := l.att.(component.BatchCommit); ok {
			c := b.Batch()
			// A committer that cannot be compared commits alone: ==
			// would panic on it.
			if c != nil && reflect.TypeOf(c).Comparable() {
				if k := slices.Index(committers, c); k >= 0 {
					groups[k] = append(groups[k], i)
				} else {
					committers, groups = append(committers, c), append(groups, []int{i})
				}
				continue
			}
		}
		commits.Go(func() { done[i] = l.run(ctx, false) })
	}
	for k, c := range committers {
		commits.Go(func() {
			idx := groups[k]
			atts := make([]component.Attempt, len(idx))
			for j, i := range idx {
				atts[j] = later[i].att
			}
			start := time.Now()
			res, errs := commitBatchGuarded(ctx, c, atts, later[idx[0]].transport)
			took := time.Since(start)
			if len(res) != len(atts) || len(errs) != len(atts) {
				err := fmt.Errorf("the transport's batch commit answered %d results and %d errors for %d attempts", len(res), len(errs), len(atts))
				res, errs = make([]component.Result, len(atts)), make([]error, len(atts))
				for j := range errs {
					errs[j] = err
				}
			}
			for j, i := range idx {
				done[i] = later[i].committed(res[j], errs[j], took)
			}
		})
	}
	commits.Wait()
	return done
}

// commitBatchGuarded is c.CommitBatch(ctx, atts), a panic in it (a bug in
// the transport in names) the error of each attempt, instead of the
// process dying: which one found the bug is not known, so every one
// fails, delivered all the same if it was placed (placedDespite).
func commitBatchGuarded(ctx context.Context, c component.BatchCommitter, atts []component.Attempt, in string) (res []component.Result, errs []error) {
	var err error
	defer func() {
		if err != nil {
			res, errs = make([]component.Result, len(atts)), make([]error, len(atts))
			for j := range errs {
				errs[j] = err
			}
		}
	}()
	defer component.Recover(&err, in)
	return c.CommitBatch(ctx, atts)
}

// DefaultPipelinesPerBatch is Options.PipelinesPerBatch's default: a
// batch's pipelines (its signing and encryption) spread over the cores
// even when fewer batches than cores are in hand (a burst's last ones, a
// lone receive's), while the batch's commits still share one round of
// syncs and one FinishBatch. Each pipeline takes one of the runner's
// Options.Workers slots, so that no more pipelines run at once than
// there are workers.
const DefaultPipelinesPerBatch = 4

// deferral is how stream leaves an attempt's commit for the rest of its
// batch.
type deferral struct {
	// commit is set when stream left the commit for later.
	commit deferredCommit
	// none, when not nil, is called once stream knows that it leaves no
	// commit for later: the transport's attempts do not share their
	// syncs, or this one commits at once.
	none func()
}

// notDeferred calls l.none, if there is one.
func (l *deferral) notDeferred() {
	if l.none != nil {
		l.none()
	}
}

// deferredCommit is what stream leaves of an attempt whose commit waits
// for the rest of its batch: the attempt, and done, which turns the result
// of its commit, which took took, into the outcome.
type deferredCommit struct {
	att component.SharedSync
	// transport names the attempt's transport in the error of a panic.
	transport string
	done      func(res component.Result, err error, took time.Duration) (msgbox.Outcome, bool)
}

// DefaultMaxDeferredCommits is Options.MaxDeferredCommits' default. A
// deferred commit holds an open file (the file transport's unnamed
// temporary file) and up to 1 MiB written but not yet placed: 256 of them
// take a quarter of the 1,024 open files some systems still allow a
// process (Go raises the soft limit only as far as the hard one), and at
// most 256 MiB of disk. One round of syncs serves any number of commits,
// so the cap costs little: it is sixteen workers' full batches (all the
// default 16×GOMAXPROCS workers' on one core), and a commit beyond it
// fsyncs its own file, whose journal commit concurrent fsyncs share.
const DefaultMaxDeferredCommits = 256

// slots is a counting semaphore that is never waited on: take fails when
// every slot is taken. The zero slots has none.
type slots chan struct{}

func (s slots) take() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s slots) give() { <-s }

// attempted is an attempt whose outcome is to be recorded.
type attempted struct {
	c         claimed
	pt        *port
	log       *slog.Logger
	outcome   msgbox.Outcome
	sd        *component.Delivery
	delivered bool
	// pending: sent, the receipt to come (an asynchronous MDN): the
	// delivery awaits it rather than being delivered.
	pending *component.Pending
}

// recordBatch records the outcomes of attempts in one FinishBatch and then
// does for each what record does.
func (r *Runner) recordBatch(ctx context.Context, attempts []attempted) {
	finishing := make([]attempted, 0, len(attempts))
	for _, a := range attempts {
		if a.pending != nil {
			r.awaitReceipt(ctx, a)
			continue
		}
		finishing = append(finishing, a)
	}
	if len(finishing) == 0 {
		return
	}
	errs := r.finishBatch(ctx, finishing)
	for i, a := range finishing {
		r.recorded(a.c, a.pt, a.log, a.outcome, a.sd, a.delivered, errs[i])
	}
}

// subscriber is a message box that notifies of new work (pgbox.Box).
type subscriber interface {
	Subscribe(ports []string) (<-chan struct{}, func())
}

// idle waits for a nudge from this process's router or another server
// (remote, nil without one), the next due retry, or IdleWait.
//
// A due time already past, right after a claim found nothing, is a
// delivery in flight in this process whose lease expired before its
// renewal (see inFlight), or one another claimer is taking: nothing for
// this worker either way, so it waits IdleWait rather than poll the box
// in a tight loop until the renewal.
func (r *Runner) idle(ctx context.Context, woken, remote <-chan struct{}) {
	wait := r.opts.IdleWait
	if at, ok, err := r.opts.Box.NextDue(ctx, r.portList); err == nil && ok {
		if until := time.Until(at); until > 0 && until < wait {
			wait = max(until, time.Millisecond)
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-woken:
	case <-remote:
	case <-t.C:
	}
}

// recorded logs and counts an outcome whose recording ended with err and,
// if it is recorded, removes what the transport staged for a crash.
func (r *Runner) recorded(c claimed, pt *port, log *slog.Logger, outcome msgbox.Outcome, sd *component.Delivery,
	delivered bool, err error) {
	d := c.d
	if err != nil {
		if errors.Is(err, msgbox.ErrLeaseLost) {
			// Only another process takes over a delivery in flight here
			// for good (see inFlight), or an operator ends its message
			// once the lease expired (messages terminate): what the box
			// records then is what counts.
			args := []any{"outcome", outcome.State}
			if outcome.Error != "" {
				args = append(args, "error", outcome.Error)
			}
			log.Warn("lease lost before the outcome was recorded; this attempt's outcome is not recorded (another server took the delivery over, or its message was terminated)", args...)
			return
		}
		log.Error("recording the delivery outcome failed; the delivery is redone after recovery", "error", err)
		r.troubled(pt.hide.err(fmt.Errorf("recording the outcome of delivery %d: %w", d.ID, err)))
		return
	}
	m := r.opts.Metrics
	switch outcome.State {
	case msgbox.DeliveryDelivered:
		log.Info("delivered")
		r.count(func(s *Summary) { s.Delivered++ })
		if m != nil {
			m.Delivered.WithLabelValues(d.Port).Inc()
		}
	case msgbox.DeliveryRetrying:
		log.Warn("delivery failed; will retry", "error", outcome.Error, "retry_at", outcome.RetryAt.UTC().Format(time.RFC3339))
		r.count(func(s *Summary) { s.Retried++ })
		if m != nil {
			m.Retried.WithLabelValues(d.Port).Inc()
		}
	case msgbox.DeliverySuspended:
		log.Error("delivery suspended", "reason", outcome.Error)
		r.count(func(s *Summary) { s.Suspended++ })
		if m != nil {
			m.Suspended.WithLabelValues(d.Port).Inc()
		}
	}
	if delivered {
		if st, ok := pt.sender.(component.Stager); ok {
			if err := guard(pt.transport, func() error { return st.Cleanup(sd) }); err != nil {
				pt.reportPanic(d, err)
				log.Warn("removing the staged copy failed (harmless)", "error", err)
			}
		}
	}
}

// leaseSet is the deliveries a worker holds whose outcome is not recorded
// yet: the ones to renew.
type leaseSet struct {
	// renewing is held by each renewal, from its list to its end, so
	// that drop can wait for the one under way.
	renewing sync.Mutex
	mu       sync.Mutex
	// held is by delivery id, each with its delivery, which the
	// renewal's warnings name as every line about a message does.
	held map[int64]claimed
}

func newLeaseSet(batch []claimed) *leaseSet {
	s := &leaseSet{held: make(map[int64]claimed, len(batch))}
	for _, c := range batch {
		s.held[c.d.ID] = c
	}
	return s
}

func (s *leaseSet) done(id int64) {
	s.mu.Lock()
	delete(s.held, id)
	s.mu.Unlock()
}

// drop removes cs, once any renewal under way has ended: none renews
// them after drop returns.
func (s *leaseSet) drop(cs []claimed) {
	s.renewing.Lock()
	defer s.renewing.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		delete(s.held, c.d.ID)
	}
}

func (s *leaseSet) list() []claimed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Values(s.held))
}

// renew keeps the leases of held until ctx ends: a 100 MiB message or a
// slow partner must not let another server take a delivery over, nor a
// delivery waiting its turn in the worker's batch. They are renewed
// together, in one Renew, each as its holder: the worker that claimed it,
// or the sibling that handed it over (see inFlight).
//
// A lost lease is still renewed at every tick, as a sibling's claim may
// hand it back, but said once: until the attempt ends, each tick would
// only repeat it. Other failures (an unreachable box) are said at every
// tick, as each is a new try that failed.
func (r *Runner) renew(ctx context.Context, held *leaseSet) {
	t := time.NewTicker(r.opts.Lease / 3)
	defer t.Stop()
	lost := map[int64]bool{} // said lost, not renewed since
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			held.renewing.Lock()
			cs := held.list()
			if len(cs) == 0 {
				held.renewing.Unlock()
				continue
			}
			errs := r.renewHeld(ctx, cs)
			held.renewing.Unlock()
			for i, err := range errs {
				c := cs[i]
				isLost := errors.Is(err, msgbox.ErrLeaseLost)
				switch {
				case err == nil:
					delete(lost, c.d.ID)
				case ctx.Err() != nil, isLost && lost[c.d.ID]:
				// A lease that ended because the outcome was recorded
				// meanwhile is no news.
				case isLost && r.inFlight.recorded(c.fl):
				default:
					if isLost {
						lost[c.d.ID] = true
					}
					r.deliveryLog(c.d).Warn("renewing the delivery lease failed", "delivery", c.d.ID, "error", err)
				}
			}
		}
	}
}

// attempt runs the pipeline and the transport once.
//
// fence is what the transport calls before it makes the delivery visible
// (component.Delivery.Fence; see Runner.fence).
//
// *pending is set when the transport's receipt is to come (see stream).
//
// later.commit is set when the transport's commit is left for later (see
// stream); the outcome returned is then meaningless, and the Delivery is
// the one to clean up once that commit delivered. The Delivery matters
// only when delivered.
func (r *Runner) attempt(ctx context.Context, pt *port, d *msgbox.Delivery, fence func(context.Context) error, log *slog.Logger,
	pending **component.Pending, later *deferral) (msgbox.Outcome, *component.Delivery, bool) {
	suspend := func(format string, args ...any) (msgbox.Outcome, *component.Delivery, bool) {
		return msgbox.Outcome{State: msgbox.DeliverySuspended, Error: fmt.Sprintf(format, args...)}, nil, false
	}
	var msg msgbox.Message
	if d.Message != nil {
		msg = *d.Message // read with the claim
	} else {
		m, err := r.opts.Box.Message(ctx, d.MessageID)
		if err != nil {
			return r.failed(pt, d, fmt.Errorf("reading message %s: %w", d.MessageID, err))
		}
		msg = m
	}
	sd := &component.Delivery{ID: d.ID, Port: d.Port, Message: MessageOf(msg), First: d.Attempts == 0, Fence: fence}
	// A crash after the transport placed the file but before the box
	// recorded it: finish that attempt instead of encoding again. Only an
	// attempt the box counted can have left anything (it counts the
	// interrupted ones too: msgbox.InterruptedError), so a first attempt
	// spares the transport's look; and Send itself places a staged copy it
	// finds (after `messages resume`, which resets the count), so skipping
	// it never delivers twice.
	if st, ok := pt.sender.(component.Stager); ok && d.Attempts > 0 {
		var done bool
		err := guard(pt.transport, func() (err error) {
			done, err = st.Redo(ctx, sd)
			return err
		})
		if err != nil {
			return r.failed(pt, d, err)
		}
		if done {
			log.Info("completed a delivery interrupted by the previous stop")
			return msgbox.Outcome{State: msgbox.DeliveryDelivered}, sd, true
		}
	}
	// The box counts attempts that ended without an outcome: a process
	// stopped mid-attempt (Recover: msgbox.InterruptedError) or a lease
	// that expired. Once they have used up the port's tries (1 +
	// retry.attempts, as in failed), the message may be what kills the
	// process: it is suspended without running the pipeline again, rather
	// than retried at every restart forever. After the Redo check, so that
	// an attempt the crash left placed still completes.
	if retries := pt.decl.Retry.Attempts.V; d.Attempts > retries {
		return suspend("suspended: %d attempt(s) were interrupted or failed; the last: %s", d.Attempts, mdnTimedOut(d.LastError))
	}
	if d.Attempts > 0 && msgbox.IsMDNTimedOut(d.LastError) {
		log.Warn("no asynchronous MDN arrived within mdn_timeout; sending again with the same Message-ID")
	}
	maxSize := r.opts.Config.Group.MaxMessageSize.V
	switch {
	case msg.Size == 0:
		return suspend("message is empty (0 bytes): nothing to sign or deliver")
	case maxSize > 0 && msg.Size > maxSize:
		return suspend("message is %d bytes, above max_message_size (%d bytes)", msg.Size, maxSize)
	}
	outcome, delivered := r.stream(ctx, pt, d, msg, sd, pending, later)
	return outcome, sd, delivered
}

// failed turns a failed attempt into a retry, or a suspension once the
// port's retry attempts are used up (retry.attempts retries after the first
// try, BizTalk's semantics), or at once when the failure is permanent (an
// invalid file name or url, a corrupt stored body: the message fails the
// same way every time).
// The retry comes retry.interval later, or later still when the partner
// asked for a longer wait (HTTP Retry-After): a partner that is shedding
// load is not hammered, and a shorter wait does not make the port retry
// faster than configured.
func (r *Runner) failed(pt *port, d *msgbox.Delivery, err error) (msgbox.Outcome, *component.Delivery, bool) {
	retry := pt.decl.Retry
	made := d.Attempts + 1
	pt.reportPanic(d, err)
	if component.IsPermanent(err) || errors.Is(err, msgbox.ErrCorrupt) {
		return msgbox.Outcome{State: msgbox.DeliverySuspended,
			Error: fmt.Sprintf("%v (suspended at once: retrying cannot help)", err)}, nil, false
	}
	if made > retry.Attempts.V {
		return msgbox.Outcome{State: msgbox.DeliverySuspended,
			Error: fmt.Sprintf("%v (suspended after %d attempt(s))", err, made)}, nil, false
	}
	wait := retry.Interval.V
	if asked, ok := component.RetryAfter(err); ok && asked > wait {
		wait = asked
	}
	return msgbox.Outcome{State: msgbox.DeliveryRetrying, RetryAt: time.Now().Add(wait), Error: err.Error()}, nil, false
}

// MessageOf is what filters and templates see of a stored message.
func MessageOf(msg msgbox.Message) *message.Message {
	return &message.Message{
		ID:                  msg.ID,
		ReceiveLocation:     msg.ReceiveLocation,
		FileName:            msg.FileName,
		ContentType:         msg.ContentType,
		Size:                msg.Size,
		ReceivedAt:          msg.ReceivedAt,
		Properties:          msg.Properties,
		SensitiveProperties: msg.SensitiveProperties,
		Party:               msg.Party,
	}
}

// closed reports whether c is closed (false for a nil channel).
func closed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// outageRepeat is how often a long run logs an operation on the box that
// keeps failing (outage).
const outageRepeat = time.Minute

// outage is a long run's repeated operation on the box failing: a box
// that cannot be reached fails every worker's claim at every IdleWait, 32
// lines a second and more with the default workers, and the routing sweep
// every 5 IdleWaits, where the first line says it all. The first failure
// is logged at once, then at most one line every outageRepeat with how
// many went unlogged, as the file receive location does with the
// publishes that fail; the first success after says it works again: one
// that began during the outage, not one that began before it and ended
// after its first failure (another worker's claim, under way when the box
// failed), which would end it and have the next failure start another.
// Guarded by mu, but for failing and outages, which let a success pass
// without the lock.
type outage struct {
	// failed and works are the lines' messages.
	failed, works string
	failing       atomic.Bool
	// outages counts the outages begun (see began).
	outages atomic.Int64
	mu      sync.Mutex
	first   time.Time // the first failure of the outage
	logged  time.Time // the last line about it
	quiet   int       // the failures since, not logged
	// now is the clock lines are spaced by: time.Now, but in tests.
	now func() time.Time
}

// fail logs, at error level to log, a failure with err (see outage).
func (p *outage) fail(log *slog.Logger, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	args := []any{"error", err}
	switch {
	case p.first.IsZero():
		p.first = now
		p.outages.Add(1)
		p.failing.Store(true)
		args = append(args, "repeats_every", outageRepeat.String())
	case now.Sub(p.logged) < outageRepeat:
		p.quiet++
		return
	default:
		args = append(args, "since", p.first.UTC().Format(time.RFC3339), "failures_not_logged", p.quiet)
	}
	p.logged, p.quiet = now, 0
	log.Error(p.failed, args...)
}

// began is what ok needs of an operation that begins now.
func (p *outage) began() int64 { return p.outages.Load() }

// ok ends a run of failures, if there was one, in log, for a success of an
// operation that began (began) during it.
func (p *outage) ok(log *slog.Logger, began int64) {
	if !p.failing.Load() || began != p.outages.Load() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first.IsZero() || began != p.outages.Load() {
		return // another worker said it, or it began before this outage
	}
	log.Info(p.works, "since", p.first.UTC().Format(time.RFC3339), "failures_not_logged", p.quiet)
	p.first, p.logged, p.quiet = time.Time{}, time.Time{}, 0
	p.failing.Store(false)
}
