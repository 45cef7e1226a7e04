package msgbox

import (
	"context"
	"fmt"
	"time"
)

// AwaitOwner is the lease owner of a delivery whose message was sent and
// whose asynchronous AS2 MDN is awaited (language §11, status
// awaiting_mdn): the delivery stays in progress under this lease until the
// MDN settles it (Finish as AwaitOwner) or the lease, which ends at the
// mdn_timeout, expires and a claim counts the attempt as failed: the
// delivery is retrying until AwaitedMDN.RetryAt, or taken over by the
// claim when that is zero or past. No process's Recover returns it: a
// restart does not send again.
const AwaitOwner = "as2:awaiting-mdn"

// StatusAwaitingMDN is the status of a message whose undelivered
// deliveries all await an asynchronous MDN (and at least one does). The
// boxes store such a message as StatusRouted, its deliveries in progress:
// List and Get derive it (ShownStatus, AwaitingCondition), which is why it
// is not a Status constant ValidStatus accepts, nor one of Backlog's.
const StatusAwaitingMDN Status = "awaiting_mdn"

// AwaitsMDN reports whether d waits for an asynchronous MDN: in progress
// under AwaitOwner's lease.
func (d Delivery) AwaitsMDN() bool {
	return d.State == DeliveryInProgress && d.LeaseOwner == AwaitOwner
}

// AttemptsMade is d.Attempts counting, when d awaits an asynchronous MDN,
// the attempt that sent it: a box counts an attempt when it ends, and the
// wait ends with the MDN or at mdn_timeout, up to hours after the message
// went, while an operator sees a delivery sent once.
func (d Delivery) AttemptsMade() int {
	if d.AwaitsMDN() {
		return d.Attempts + 1
	}
	return d.Attempts
}

// ShownStatus is the status List and Get return for a message stored with
// status stored and with deliveries ds: StatusAwaitingMDN when it is
// routed and every delivery not yet delivered awaits an MDN; stored
// otherwise. AwaitingCondition is the same rule in SQL.
func ShownStatus(stored Status, ds []Delivery) Status {
	if stored != StatusRouted {
		return stored
	}
	awaits := false
	for _, d := range ds {
		switch {
		case d.AwaitsMDN():
			awaits = true
		case d.State != DeliveryDelivered:
			return stored
		}
	}
	if awaits {
		return StatusAwaitingMDN
	}
	return stored
}

// awaitingCondition is ShownStatus's rule as an SQL condition on a routed
// row of messages: it has a delivery awaiting an MDN and none pending or
// in progress otherwise (a routed message has no other undelivered state).
// Valid in SQLite and PostgreSQL; AwaitOwner holds no quote.
const awaitingCondition = "(EXISTS (SELECT 1 FROM deliveries aw WHERE aw.message_id = messages.id" +
	" AND aw.state = 'in_progress' AND aw.lease_owner = '" + AwaitOwner + "')" +
	" AND NOT EXISTS (SELECT 1 FROM deliveries aw WHERE aw.message_id = messages.id" +
	" AND aw.state IN ('pending', 'in_progress') AND aw.lease_owner <> '" + AwaitOwner + "'))"

// ShownStatusSQL is ShownStatus as an SQL expression on a row of
// messages, for a box's List to select in place of the stored status.
const ShownStatusSQL = "CASE WHEN status = 'routed' AND " + awaitingCondition +
	" THEN '" + string(StatusAwaitingMDN) + "' ELSE status END"

// ListStatuses are the statuses List filters on, in the order of a
// message's life: the stored ones and StatusAwaitingMDN.
func ListStatuses() []Status {
	return []Status{StatusReceived, StatusRouted, StatusAwaitingMDN, StatusDelivered,
		StatusRetrying, StatusSuspended, StatusTerminated}
}

// ValidListStatus reports whether List filters on s: one of ListStatuses.
func ValidListStatus(s Status) bool { return ValidStatus(s) || s == StatusAwaitingMDN }

// ListWhere is a box's List condition on the messages table for filter
// status, one of ListStatuses: param stands for the stored status, the
// value to bind. Every message it keeps shows status (ShownStatus).
func ListWhere(status Status, param string) (where string, stored Status) {
	switch status {
	case StatusAwaitingMDN:
		return "status = " + param + " AND " + awaitingCondition, StatusRouted
	case StatusRouted:
		return "status = " + param + " AND NOT " + awaitingCondition, StatusRouted
	default:
		return "status = " + param, status
	}
}

// AwaitedMDN is an asynchronous MDN a delivery waits for.
type AwaitedMDN struct {
	DeliveryID int64
	MessageID  string // the box's message id
	Port       string
	// AS2MessageID is the Message-ID sent, which the MDN's
	// Original-Message-ID names.
	AS2MessageID string
	// MIC is what the sender needs to check the MDN's
	// Received-Content-MIC (opaque to the box, at most 1 KiB).
	MIC string
	// Deadline is when the wait ends (mdn_timeout after sending).
	Deadline time.Time
	// RetryAt is when the delivery is sent again should the wait time out
	// (retry.interval after Deadline, as after any failed attempt,
	// language §9): a claim after Deadline records the wait as a failed
	// attempt and leaves the delivery retrying, due at RetryAt, rather
	// than taking it over. Zero (no retry left), or already past when the
	// claim comes: the claim takes it over at once, as an expired lease.
	// AwaitMDN keeps it; AwaitedMDN and AwaitingMDNs leave it zero.
	RetryAt time.Time

	// State and LeaseOwner are the delivery's when AwaitedMDN or
	// AwaitingMDNs read them (AwaitMDN ignores them): it awaits the MDN
	// while in progress under AwaitOwner. An MDN that comes before its
	// wait is recorded polls these rather than the whole message (Get).
	State      DeliveryState
	LeaseOwner string
}

// MDNAwaiter is implemented by the boxes that keep deliveries waiting for
// an asynchronous MDN. Apart from Box, like MDNOutbox.
type MDNAwaiter interface {
	// AwaitMDN hands the lease owner holds on a.DeliveryID to AwaitOwner
	// until a.Deadline and keeps a (replacing what an earlier attempt
	// kept), a.RetryAt as the delivery's NextAttemptAt, with a history
	// entry: the delivery now awaits its MDN.
	// ErrLeaseLost when owner does not hold the lease.
	AwaitMDN(ctx context.Context, owner string, a AwaitedMDN) error
	// AwaitedMDN returns what was kept for the delivery that sent
	// as2MessageID, with the delivery's State and LeaseOwner now;
	// ErrNotFound when nothing was. The delivery may no longer await it
	// (its wait timed out): Finish as AwaitOwner then answers
	// ErrLeaseLost.
	AwaitedMDN(ctx context.Context, as2MessageID string) (AwaitedMDN, error)
	// AwaitingMDNs returns the deliveries awaiting an MDN now, oldest
	// deadline first.
	AwaitingMDNs(ctx context.Context) ([]AwaitedMDN, error)
	// SendingDeliveries returns the ids of the deliveries of ports in
	// progress under a lease other than AwaitOwner's that has not ended:
	// claimed by a worker, of any process sharing the box, and not yet
	// awaiting an MDN (nil for no ports). An MDN that comes before the first wait
	// of its delivery is recorded, and still does when its early wait
	// ends, is told by them from one naming a Message-ID nobody sent:
	// only the runner derives a delivery's Message-ID from its id.
	SendingDeliveries(ctx context.Context, ports []string) ([]int64, error)
	// SettleLate records o, the verdict of an asynchronous MDN that came
	// after the wait for it ended (its mdn_timeout passed), on delivery
	// deliveryID, which is neither in progress nor settled (pending or
	// retrying, or suspended keeping no receipt) and counts attempts
	// attempts, as the caller read it. o is delivered (a positive MDN)
	// or suspended (a negative one, o.Error naming its disposition, which
	// becomes the message's Reason, language §11), o.Receipt the MDN: the
	// delivery becomes so, keeping o.Receipt, with a history entry
	// (LateMDNDetail); its attempts stay as they are (the MDN ends none),
	// and its retry is not made. ErrLeaseLost when the delivery is not so
	// any more (claimed, attempted again, settled, terminated or given a
	// receipt meanwhile): nothing changes. DeliveryNotFound when no
	// delivery has that id; ErrInvalidOutcome for another o.
	SettleLate(ctx context.Context, deliveryID int64, attempts int, o Outcome) error
}

// CheckLateOutcome checks and cleans the outcome SettleLate is to record:
// delivered or suspended, with a receipt, and no retry.
func CheckLateOutcome(o Outcome) (Outcome, error) {
	o = CleanOutcome(o)
	o.RetryAt = time.Time{}
	if err := ValidateOutcome(o); err != nil {
		return o, err
	}
	switch {
	case o.Receipt == nil:
		return o, fmt.Errorf("%w: a late MDN's outcome without the MDN", ErrInvalidOutcome)
	case o.State != DeliveryDelivered && o.State != DeliverySuspended:
		return o, fmt.Errorf("%w: a late MDN's outcome %q (want delivered or suspended)", ErrInvalidOutcome, o.State)
	}
	return o, nil
}

// CheckAwaitedMDN checks an AwaitedMDN before a box keeps it.
func CheckAwaitedMDN(a AwaitedMDN) (AwaitedMDN, error) {
	if err := CheckID(a.MessageID); err != nil {
		return a, err
	}
	if a.AS2MessageID == "" || len(a.AS2MessageID) > 1024 || len(a.MIC) > 1024 || a.Deadline.IsZero() {
		return a, fmt.Errorf("%w: awaited MDN without Message-ID or deadline, or too long", ErrInvalidOutcome)
	}
	a.Port, a.AS2MessageID, a.MIC = CleanText(a.Port), CleanText(a.AS2MessageID), CleanText(a.MIC)
	a.Deadline = Timestamp(a.Deadline)
	if !a.RetryAt.IsZero() {
		a.RetryAt = Timestamp(a.RetryAt)
	}
	return a, nil
}

// LateSettleLost is SettleLate's ErrLeaseLost: delivery id is no longer
// pending, retrying or suspended without a receipt after attempts
// attempts.
func LateSettleLost(id int64, attempts int) error {
	return fmt.Errorf("%w: delivery %d is no longer pending, retrying or suspended without a receipt after %d attempt(s)",
		ErrLeaseLost, id, attempts)
}

// LateSettles reports whether SettleLate settles a delivery in state that
// keeps a receipt or not (hasReceipt): pending or retrying, or suspended
// without a receipt (a suspended delivery's MDN is its final word).
func LateSettles(state DeliveryState, hasReceipt bool) bool {
	switch state {
	case DeliveryPending, DeliveryRetrying:
		return true
	case DeliverySuspended:
		return !hasReceipt
	}
	return false
}
