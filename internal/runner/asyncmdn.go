package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// awaitReceipt records an attempt whose receipt is to come (an
// asynchronous AS2 MDN): the delivery awaits it until the pending's
// deadline (msgbox.MDNAwaiter), neither delivered nor retried. A box that
// cannot keep the wait fails the attempt.
func (r *Runner) awaitReceipt(ctx context.Context, a attempted) {
	d := a.c.d
	aw, ok := r.opts.Box.(msgbox.MDNAwaiter)
	if !ok {
		o, _, _ := r.failed(a.pt, d, errors.New("the message box cannot keep a delivery awaiting an asynchronous MDN; use mdn = \"sync\""))
		r.recorded(a.c, a.pt, a.log, o, nil, false, r.finish(ctx, d.ID, a.c.fl, o))
		return
	}
	// Should the MDN not come, the attempt failed at the deadline and the
	// next is retry.interval later, as after any failed attempt (failed);
	// with no retry left, none: the wait is taken over at the deadline
	// and suspended (attempt).
	var retryAt time.Time
	if retry := a.pt.decl.Retry; d.Attempts+1 <= retry.Attempts.V {
		retryAt = a.pending.Deadline.Add(retry.Interval.V)
	}
	err := r.recordAs(a.c.fl, func(holder string) error {
		return aw.AwaitMDN(ctx, holder, msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: d.MessageID, Port: d.Port,
			AS2MessageID: a.pending.Correlation, MIC: a.pending.Check, Deadline: a.pending.Deadline, RetryAt: retryAt})
	})
	switch {
	case err == nil:
		r.mdnAwaited.signal()
		a.log.Info("sent; awaiting the asynchronous MDN", "as2_message_id", a.pending.Correlation,
			"until", a.pending.Deadline.UTC().Format(time.RFC3339))
	case errors.Is(err, msgbox.ErrLeaseLost):
		a.log.Warn("lease lost before the wait for the MDN was recorded; this attempt's outcome is not recorded (another server took the delivery over, or its message was terminated)")
	default:
		a.log.Error("recording the wait for the MDN failed; the delivery is redone after recovery", "error", err)
		r.troubled(a.pt.hide.err(fmt.Errorf("recording the wait for the MDN of delivery %d: %w", d.ID, err)))
	}
}

var _ component.ReceiptSink = (*Runner)(nil)

// SettleReceipt settles the delivery awaiting in, an asynchronous MDN
// received from in.Party by an as2 receive location (language §11): found
// by its Original-Message-ID (in.Correlation), judged by the port's
// transport with the rules of a synchronous MDN, and recorded as the
// wait's outcome: delivered, suspended (negative), or a failed attempt
// retried with the same Message-ID. A copy of the MDN the delivery keeps
// from an earlier attempt settles nothing (component.ErrReceiptRepeated).
// An MDN valid by the same rules that comes after its wait ended still
// settles a delivery not settled yet: a positive one delivers it, a
// negative one suspends it (settleLate); any other for a delivery that
// awaits none any more is judged against the one it keeps (settledBefore).
func (r *Runner) SettleReceipt(ctx context.Context, in component.IncomingReceipt) error {
	aw, ok := r.opts.Box.(msgbox.MDNAwaiter)
	if !ok {
		return fmt.Errorf("%w: this message box keeps no deliveries awaiting MDNs", component.ErrReceiptUnusable)
	}
	// The delivery may stop awaiting the MDN while it is judged (its
	// mdn_timeout passed and a claim took the wait over, or a copy of the
	// MDN settled it): the MDN is judged once more against what the
	// delivery is then, as it would be had it come a moment later (a late
	// one still settles it, settleLate), rather than refused for a race
	// the partner cannot see.
	err := r.settleReceipt(ctx, aw, in, true)
	if errors.Is(err, errJudgeAgain) {
		err = r.settleReceipt(ctx, aw, in, false)
	}
	return err
}

// errJudgeAgain: the delivery an MDN was judged for stopped awaiting it
// before its verdict was recorded (settleReceipt).
var errJudgeAgain = errors.New("the delivery changed while its MDN was judged")

// settleReceipt is SettleReceipt's work; when the delivery stops awaiting
// in while it is judged, errJudgeAgain if again, else in is judged
// against what the delivery is then by settledBefore alone.
func (r *Runner) settleReceipt(ctx context.Context, aw msgbox.MDNAwaiter, in component.IncomingReceipt, again bool) error {
	// A quick partner's MDN may come before the delivery is recorded as
	// awaiting it (the POST's answer and the MDN race), or while it is
	// sent again: it is waited for, briefly, rather than refused. This
	// runner's own recordings and attempts' ends wake it at once; a poll
	// finds those of another process sharing the box. Only so many MDNs
	// poll at once (earlyWaits): anyone who knows a partner's AS2 name can
	// send MDNs naming Message-IDs nobody sent, each of which would
	// otherwise query the box for the whole wait.
	var a msgbox.AwaitedMDN
	var d *msgbox.Delivery
	var pt *port
	var err error
	polling := false // holds one of r.earlyWaits
	defer func() {
		if polling {
			r.earlyWaits.give()
		}
	}()
	for end, last := time.Now().Add(r.earlyMDNWait), false; ; {
		// Taken before looking: a wait recorded meanwhile is not missed.
		recorded := r.mdnAwaited.wait()
		a, d, pt, err = r.awaiting(ctx, aw, in.Correlation)
		if err == nil || !errors.Is(err, errNotYet) {
			break
		}
		// Found in the box but not awaited yet (a.DeliveryID set): being
		// sent again; not found: perhaps being sent for the first time.
		id, mine := r.sending(a.DeliveryID, in.Correlation)
		if !mine && !polling {
			if !r.earlyWaits.take() {
				return fmt.Errorf("%w: %d asynchronous MDNs already wait for their deliveries to be recorded", component.ErrReceiptNotYet, cap(r.earlyWaits))
			}
			polling = true
		}
		if time.Now().After(end) {
			if mine || a.DeliveryID != 0 {
				// Still in flight: a partner told so sends it again,
				// whereas most never send again an MDN refused.
				return fmt.Errorf("%w: delivery %d is being sent, its wait for the MDN not recorded yet", component.ErrReceiptNotYet, id)
			}
			if last {
				break
			}
			// Sent for the first time by another process sharing the
			// box, whose partner answers the message after the MDN, or
			// slowly: looked for once the wait is over, and only by
			// the MDNs holding a place (polling), as it costs the box
			// more than AwaitedMDN.
			id, found, serr := r.sentElsewhere(ctx, aw, in.Correlation)
			switch {
			case serr != nil:
				return serr
			case found:
				return fmt.Errorf("%w: delivery %d is being sent by another process sharing the message box, its wait for the MDN not recorded yet",
					component.ErrReceiptNotYet, id)
			}
			// Its wait may have been recorded since AwaitedMDN was
			// asked, which SendingDeliveries does not list: asked
			// once more.
			last = true
			continue
		}
		poll, wake := r.earlyMDNPoll, recorded
		if mine {
			// Its recording or its end wakes this wait; the poll is in
			// case another process took it over.
			poll = max(poll, ownEarlyMDNPoll)
		} else {
			// Not this runner's send: its recordings, which wake every
			// waiting MDN, are not what this one waits for, and the poll
			// alone bounds what it costs the box.
			wake = nil
		}
		// Never past the end of the wait, whatever the poll interval.
		t := time.NewTimer(min(poll, time.Until(end)+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
	if errors.Is(err, errAwaitedNoMore) && d != nil {
		if late, lerr := r.settleLate(ctx, aw, a, d, pt, in, again); late {
			return lerr
		}
		return settledBefore(pt, d, in, err)
	}
	if err != nil {
		return err
	}
	ck, ok := pt.sender.(component.ReceiptChecker)
	if !ok {
		return fmt.Errorf("%w: send port %q does not await receipts", component.ErrReceiptUnusable, a.Port)
	}
	// Every attempt sends the same Message-ID: the MDN of an earlier
	// attempt, which the delivery keeps, POSTed again (its answer lost)
	// names this one too, but is not its verdict. Only the very entity
	// counts as a copy: an MDN built anew that says the same (a partner
	// that answers every attempt unsigned, or with the same error; the
	// MIC, of the content signed, is the same at every attempt) is this
	// attempt's.
	if d.Receipt != nil && len(d.Receipt.Data) != 0 {
		same, serr := ck.SameReceipt(in, d.Receipt.Data)
		switch {
		case serr != nil:
			return serr
		case same && sameEntity(in, d.Receipt):
			return fmt.Errorf("%w: the MDN of an earlier attempt of delivery %d, which keeps it; attempt %d awaits its own",
				component.ErrReceiptRepeated, d.ID, d.Attempts+1)
		}
	}
	rc, cerr := ck.CheckReceipt(ctx, in, component.Pending{Correlation: a.AS2MessageID, Deadline: a.Deadline, Check: a.MIC})
	if errors.Is(cerr, component.ErrReceiptUnusable) {
		return cerr
	}
	log := pt.deliveryLog(d, slog.Int("attempt", d.Attempts+1), slog.String("as2_message_id", a.AS2MessageID))
	o, outcome := msgbox.Outcome{State: msgbox.DeliveryDelivered}, metrics.ReceiptPositive
	if cerr != nil {
		o, _, _ = r.failed(pt, d, cerr)
		outcome = metrics.ReceiptRejected
		if component.IsPermanent(cerr) {
			outcome = metrics.ReceiptNegative
		}
	}
	o.Receipt = r.keptReceipt(pt, d, rc)
	o.Error = pt.hide.text(o.Error)
	err = r.opts.Box.Finish(ctx, a.DeliveryID, msgbox.AwaitOwner, o)
	if errors.Is(err, msgbox.ErrLeaseLost) && again {
		return errJudgeAgain
	}
	if errors.Is(err, msgbox.ErrLeaseLost) {
		// Settled meanwhile (another copy of this MDN, on this server or
		// another sharing the box), timed out or terminated: this MDN is
		// judged against what the delivery is now, and not counted.
		lost := fmt.Errorf("%w: delivery %d does not await an MDN any more (settled meanwhile, its mdn_timeout passed, or it was terminated)",
			component.ErrReceiptUnusable, a.DeliveryID)
		_, now, npt, aerr := r.awaiting(ctx, aw, in.Correlation)
		switch {
		case errors.Is(aerr, errAwaitedNoMore) && now != nil:
			return settledBefore(npt, now, in, lost)
		case aerr != nil && !errors.Is(aerr, component.ErrReceiptUnusable):
			return aerr // the box failed: the partner sends it again
		}
		return lost
	}
	if err == nil {
		// Only a receipt the box took counts.
		r.countReceipt(pt, d, rc, outcome)
	}
	r.recorded(claimed{d: d}, pt, log, o, nil, false, err)
	if err == nil && o.State == msgbox.DeliveryRetrying {
		r.notify(1)
	}
	return err
}

// sameEntity reports whether in is kept received again as it was: the
// same Content-Type and body octets (the header fields of the POST that
// carried it, which the box keeps with it, may differ: Date, its own
// Message-ID).
func sameEntity(in component.IncomingReceipt, kept *msgbox.DeliveryReceipt) bool {
	_, body, ok := bytes.Cut(in.Raw, []byte("\r\n\r\n"))
	_, keptBody, keptOK := bytes.Cut(kept.Data, []byte("\r\n\r\n"))
	return ok && keptOK && in.ContentType == kept.ContentType && bytes.Equal(body, keptBody)
}

// defaultEarlyMDNWait bounds the wait for a delivery to be recorded as
// awaiting the MDN that just arrived for it (Runner.earlyMDNWait);
// defaultEarlyMDNPoll is how often the box is asked meanwhile
// (Runner.earlyMDNPoll), by at most maxEarlyMDNPolls MDNs at once
// (Runner.earlyWaits): a flood of MDNs naming unknown Message-IDs costs
// the box at most maxEarlyMDNPolls/defaultEarlyMDNPoll queries a second,
// plus, per wait ended, one look among the deliveries being sent
// (SendingDeliveries, which may read the backlog): at most
// maxEarlyMDNPolls per defaultEarlyMDNWait; and those past the cap one
// query each. ownEarlyMDNPoll is how often it is asked for a delivery
// this runner is sending, whose recording or end wakes the wait anyway.
const (
	defaultEarlyMDNWait = 5 * time.Second
	defaultEarlyMDNPoll = 100 * time.Millisecond
	ownEarlyMDNPoll     = time.Second
	maxEarlyMDNPolls    = 16
)

// sending reports whether this runner's workers hold in flight delivery
// id or, when id is 0, the delivery whose attempts' correlation is
// correlation, and which.
func (r *Runner) sending(id int64, correlation string) (int64, bool) {
	f := &r.inFlight
	f.mu.Lock()
	if id != 0 {
		_, ok := f.flights[id]
		f.mu.Unlock()
		return id, ok
	}
	ids := make([]int64, 0, len(f.flights))
	for fid := range f.flights {
		ids = append(ids, fid)
	}
	f.mu.Unlock()
	checkers := map[string]component.ReceiptChecker{}
	for _, name := range r.portList {
		if ck, ok := r.ports[name].sender.(component.ReceiptChecker); ok {
			checkers[name] = ck
		}
	}
	return correlated(ids, checkers, correlation)
}

// correlated returns the delivery of ids whose attempts' correlation, as
// a delivery of one of the ports of checkers, is correlation: the caller
// does not know each delivery's port, so each is tried as every port's
// (an AS2 Message-ID derives from the box's namespace, the delivery's id
// and the group's AS2 name, not from the port).
func correlated(ids []int64, checkers map[string]component.ReceiptChecker, correlation string) (int64, bool) {
	ports := slices.Sorted(maps.Keys(checkers))
	for _, id := range ids {
		for _, name := range ports {
			if checkers[name].Correlation(&component.Delivery{ID: id, Port: name}) == correlation {
				return id, true
			}
		}
	}
	return 0, false
}

// sentElsewhere reports whether a delivery that another process sharing
// the box is sending, of a send port whose asynchronous MDNs this runner
// judges (its own and r.judges), sends Message-ID correlation, and which.
// The ports whose MDNs it cannot judge are not asked: their Message-IDs
// are derived by transports it did not build.
func (r *Runner) sentElsewhere(ctx context.Context, aw msgbox.MDNAwaiter, correlation string) (int64, bool, error) {
	checkers := map[string]component.ReceiptChecker{}
	for name, pt := range r.ports {
		if ck, ok := pt.sender.(component.ReceiptChecker); ok && asyncMDNs(pt.decl) {
			checkers[name] = ck
		}
	}
	for name, pt := range r.judges {
		if ck, ok := pt.sender.(component.ReceiptChecker); ok {
			checkers[name] = ck
		}
	}
	if len(checkers) == 0 {
		return 0, false, nil
	}
	ids, err := aw.SendingDeliveries(ctx, slices.Sorted(maps.Keys(checkers)))
	if err != nil {
		return 0, false, fmt.Errorf("looking for the delivery being sent that an MDN answers: %w", err)
	}
	id, found := correlated(ids, checkers, correlation)
	return id, found, nil
}

// asyncMDNs reports whether p asks for asynchronous AS2 MDNs.
func asyncMDNs(p *model.SendPort) bool {
	if p.Transport == nil {
		return false
	}
	c, ok := p.Transport.Config.(component.AS2Config)
	return ok && c.AS2().MDN.V == "async"
}

// broadcast wakes every goroutine waiting on it: a channel closed, and
// replaced, at each signal.
type broadcast struct {
	mu sync.Mutex
	c  chan struct{}
}

// wait returns a channel closed by the next signal.
func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil {
		b.c = make(chan struct{})
	}
	return b.c
}

// signal wakes the goroutines waiting.
func (b *broadcast) signal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		close(b.c)
		b.c = nil
	}
}

// errNotYet: no delivery awaits the MDN yet (wrapped in
// component.ErrReceiptUnusable, which it becomes when the wait ends, or
// component.ErrReceiptNotYet when its delivery is still being sent).
var errNotYet = errors.New("no delivery awaits it")

// beingSent: delivery id is being sent again, its wait not recorded yet.
func beingSent(id int64) error {
	return fmt.Errorf("%w: %w: delivery %d is being sent", component.ErrReceiptUnusable, errNotYet, id)
}

// awaiting returns the delivery that awaits the MDN answering
// as2MessageID, and its port.
func (r *Runner) awaiting(ctx context.Context, aw msgbox.MDNAwaiter, as2MessageID string) (msgbox.AwaitedMDN, *msgbox.Delivery, *port, error) {
	a, err := aw.AwaitedMDN(ctx, as2MessageID)
	if errors.Is(err, msgbox.ErrNotFound) {
		return a, nil, nil, fmt.Errorf("%w: %w: no delivery sent Message-ID %q", component.ErrReceiptUnusable, errNotYet, as2MessageID)
	}
	if err != nil {
		return a, nil, nil, err
	}
	pt := r.ports[a.Port]
	if pt == nil {
		pt = r.judges[a.Port]
	}
	if pt == nil {
		if err := r.unjudged[a.Port]; err != nil {
			// Another server may judge it.
			return a, nil, nil, fmt.Errorf("%w: send port %q, which awaits it, is not run by this server, which cannot judge its MDNs: %w",
				component.ErrReceiptNotYet, a.Port, err)
		}
		return a, nil, nil, fmt.Errorf("%w: send port %q, which awaits it, is not declared in the configuration", component.ErrReceiptUnusable, a.Port)
	}
	if a.State == msgbox.DeliveryInProgress && a.LeaseOwner != msgbox.AwaitOwner {
		// Sent again, its wait not recorded yet: known without Get,
		// which an early MDN would otherwise call at every poll.
		return a, nil, nil, beingSent(a.DeliveryID)
	}
	// The delivery itself, to judge and record the attempt; its state is
	// checked again, as it may have changed since AwaitedMDN.
	detail, err := r.opts.Box.Get(ctx, a.MessageID)
	if err != nil {
		return a, nil, nil, err
	}
	var awaited *msgbox.Delivery
	for i := range detail.Deliveries {
		d := &detail.Deliveries[i]
		switch {
		case d.ID != a.DeliveryID:
		case d.AwaitsMDN():
			return a, d, pt, nil
		case d.State == msgbox.DeliveryInProgress:
			// Sent again, its wait not recorded yet.
			return a, nil, nil, beingSent(a.DeliveryID)
		default:
			awaited = d
		}
	}
	if awaited == nil {
		return a, nil, nil, fmt.Errorf("%w: delivery %d %w", component.ErrReceiptUnusable, a.DeliveryID, errAwaitedNoMore)
	}
	return a, awaited, pt, fmt.Errorf("%w: delivery %d %w", component.ErrReceiptUnusable, a.DeliveryID, errAwaitedNoMore)
}

// settleLate settles d, which awaits no MDN any more but is not settled
// either, by in, an MDN for the attempt whose wait a keeps, come after
// that wait ended (its mdn_timeout passed), valid by the rules of one in
// time. A positive one: the partner has the message, so d is delivered,
// in kept, and its retry not made (an operator of BizTalk or of an AS2
// gateway expects no second copy of a message its partner confirmed). A
// negative one suspends d at once with its disposition (language §11),
// in kept, rather than sending again what the partner said failed; a d
// suspended already (without an MDN) stays so, keeping in. It reports
// whether in settled d (late), with the error to answer; false for any
// other MDN (unreadable, unsigned when a signed one was asked, not for
// what was sent, the very one d keeps from an earlier attempt), and for a
// d that is settled or suspended keeping an MDN: settledBefore judges
// those. When d changes while in is judged, errJudgeAgain if again.
func (r *Runner) settleLate(ctx context.Context, aw msgbox.MDNAwaiter, a msgbox.AwaitedMDN, d *msgbox.Delivery, pt *port,
	in component.IncomingReceipt, again bool) (late bool, err error) {
	if !msgbox.LateSettles(d.State, d.Receipt != nil) {
		return false, nil
	}
	if d.Receipt != nil && len(d.Receipt.Data) != 0 && sameEntity(in, d.Receipt) {
		// The MDN d keeps from an earlier attempt (resumed since), sent
		// again: not the verdict on the last (as in time).
		return false, nil
	}
	ck, ok := pt.sender.(component.ReceiptChecker)
	if !ok {
		return false, nil
	}
	rc, cerr := ck.CheckReceipt(ctx, in, component.Pending{Correlation: a.AS2MessageID, Deadline: a.Deadline, Check: a.MIC})
	if rc == nil {
		return false, nil
	}
	o, outcome := msgbox.Outcome{State: msgbox.DeliveryDelivered}, metrics.ReceiptPositive
	switch {
	case cerr == nil:
	case component.IsPermanent(cerr):
		// Negative: its error names the disposition, as in time.
		o, _, _ = r.failed(pt, d, cerr)
		o.Error = pt.hide.text(o.Error)
		outcome = metrics.ReceiptNegative
	default:
		return false, nil
	}
	o.Receipt = r.keptReceipt(pt, d, rc)
	err = aw.SettleLate(ctx, d.ID, d.Attempts, o)
	switch {
	case errors.Is(err, msgbox.ErrLeaseLost) && again:
		// Settled meanwhile, most often by a copy of in that reached
		// another server sharing the box at once: judged against what d
		// is now, as a copy racing an MDN in time is, rather than sent
		// again by the partner for nothing.
		return true, errJudgeAgain
	case errors.Is(err, msgbox.ErrLeaseLost):
		// Sent again, settled or terminated meanwhile: the partner is
		// asked to send it again, and then finds the delivery as it is.
		return true, fmt.Errorf("%w: delivery %d changed while its late MDN was judged: %w", component.ErrReceiptNotYet, d.ID, err)
	case err != nil:
		return true, err
	}
	r.countReceipt(pt, d, rc, outcome)
	log := pt.deliveryLog(d, slog.Int64("delivery", d.ID), slog.String("as2_message_id", a.AS2MessageID),
		slog.Bool("late_mdn", true), slog.String("was", string(d.State)), slog.Int("attempts", d.Attempts))
	if o.State == msgbox.DeliverySuspended && d.State == msgbox.DeliverySuspended {
		// Logged and counted as suspended when its wait timed out.
		log.Warn("its negative asynchronous MDN came after the delivery was suspended; kept, still suspended", "reason", o.Error)
	} else {
		// As an MDN in time: logged and counted as a delivery or a
		// suspension (the metrics and run --once's summary).
		r.recorded(claimed{d: d}, pt, log, o, nil, false, nil)
	}
	return true, nil
}

// errAwaitedNoMore: the delivery does not await an MDN any more (wrapped
// in component.ErrReceiptUnusable).
var errAwaitedNoMore = errors.New("does not await an MDN any more")

// settledBefore judges in, an MDN for delivery d of port pt, which awaits
// none any more (awaiting's err): a copy of the one d keeps, which the
// partner sent again (its first POST's answer lost), is
// component.ErrReceiptRepeated, acknowledged; another, for a delivery
// delivered, suspended or terminated, is component.ErrReceiptConflict,
// refused, whatever it says: an MDN is the final word on a message (RFC
// 3798), and one contradicting the one kept is a partner's fault or a
// forgery. Neither changes anything. Any other (for a delivery that keeps
// no MDN, or that is retrying) is err.
func settledBefore(pt *port, d *msgbox.Delivery, in component.IncomingReceipt, err error) error {
	ck, ok := pt.sender.(component.ReceiptChecker)
	if !ok || d.Receipt == nil || len(d.Receipt.Data) == 0 {
		return err
	}
	same, serr := ck.SameReceipt(in, d.Receipt.Data)
	switch {
	case serr != nil:
		return serr
	case same:
		return fmt.Errorf("%w: delivery %d (%s) keeps it", component.ErrReceiptRepeated, d.ID, d.State)
	case d.State == msgbox.DeliveryDelivered || d.State == msgbox.DeliverySuspended || d.State == msgbox.DeliveryTerminated:
		return fmt.Errorf("%w: delivery %d (%s) keeps the MDN %q", component.ErrReceiptConflict, d.ID, d.State, d.Receipt.Summary)
	}
	return err
}

// countAwaiting counts the deliveries of this server's ports that await
// an asynchronous MDN.
func (r *Runner) countAwaiting(ctx context.Context) (int, error) {
	aw, ok := r.opts.Box.(msgbox.MDNAwaiter)
	if !ok {
		return 0, nil
	}
	as, err := aw.AwaitingMDNs(ctx)
	if err != nil {
		return 0, fmt.Errorf("listing deliveries awaiting MDNs: %w", err)
	}
	n := 0
	for _, a := range as {
		if _, mine := r.ports[a.Port]; mine {
			n++
		}
	}
	return n, nil
}

// mdnTimedOut is the reason an attempt whose asynchronous MDN never came
// is told by, also when an earlier version's box recorded it in the
// words of the lease of the wait.
func mdnTimedOut(lastError string) string {
	if msgbox.IsMDNTimedOut(lastError) {
		return msgbox.MDNTimedOutError
	}
	return lastError
}
