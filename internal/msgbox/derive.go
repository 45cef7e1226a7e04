package msgbox

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file holds the rules every Box implementation shares, so that the
// embedded and the shared box agree on them by construction rather than by
// parallel maintenance: the conformance suite checks the results, these
// functions are the one place they are decided.

// DeriveStatus computes a message's Status. routed reports that Route has
// run (with or without ports), terminated that an operator terminated the
// message, and deliveries lists the states of its deliveries in any order.
//
// Precedence, first match wins:
//
//   - terminated, or any delivery terminated: StatusTerminated
//   - not routed: StatusReceived
//   - routed to no port (a routing failure): StatusSuspended
//   - any delivery suspended: StatusSuspended
//   - any delivery retrying: StatusRetrying
//   - every delivery delivered: StatusDelivered
//   - otherwise (pending or in progress): StatusRouted
//
// A delivery that is in progress again after a failure counts as routed, not
// retrying: it is no longer waiting. The result never depends on the clock,
// so a box may store it alongside the message and filter on it.
func DeriveStatus(routed, terminated bool, deliveries []DeliveryState) Status {
	if terminated {
		return StatusTerminated
	}
	var suspended, retrying, delivered bool
	allDelivered := true
	for _, s := range deliveries {
		switch s {
		case DeliveryTerminated:
			return StatusTerminated
		case DeliverySuspended:
			suspended = true
		case DeliveryRetrying:
			retrying = true
		case DeliveryDelivered:
			delivered = true
		}
		if s != DeliveryDelivered {
			allDelivered = false
		}
	}
	switch {
	case !routed:
		return StatusReceived
	case len(deliveries) == 0, suspended:
		return StatusSuspended
	case retrying:
		return StatusRetrying
	case delivered && allDelivered:
		return StatusDelivered
	default:
		return StatusRouted
	}
}

// ValidStatus reports whether s is one of the Status constants. Boxes reject
// a List filter naming anything else rather than silently matching nothing.
func ValidStatus(s Status) bool {
	switch s {
	case StatusReceived, StatusRouted, StatusRetrying, StatusSuspended, StatusDelivered, StatusTerminated:
		return true
	}
	return false
}

// Timestamp returns t as boxes store and return it: UTC, truncated to the
// microsecond (PostgreSQL's timestamptz precision). A box applies it to
// every time it records, so a value read back equals the value it returned
// when the record was made, whichever implementation stores it.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// ErrInvalidOutcome is wrapped by the error Finish returns for an Outcome
// that does not say how the attempt ended. The delivery is left untouched,
// still held by its owner.
var ErrInvalidOutcome = errors.New("invalid delivery outcome")

// ValidateOutcome checks an Outcome before a box records it: State must be
// delivered, retrying or suspended, and a retrying outcome needs a RetryAt,
// since a zero time would make the delivery due at once and retry in a tight
// loop. A Receipt's data must not exceed MaxReceiptSize.
func ValidateOutcome(o Outcome) error {
	if o.Receipt != nil && len(o.Receipt.Data) > MaxReceiptSize {
		return fmt.Errorf("%w: receipt of %d bytes (at most %d)", ErrInvalidOutcome, len(o.Receipt.Data), MaxReceiptSize)
	}
	switch o.State {
	case DeliveryDelivered, DeliverySuspended:
		return nil
	case DeliveryRetrying:
		if o.RetryAt.IsZero() {
			return fmt.Errorf("%w: retrying without RetryAt", ErrInvalidOutcome)
		}
		return nil
	default:
		return fmt.Errorf("%w: state %q (want delivered, retrying or suspended)", ErrInvalidOutcome, o.State)
	}
}

// Reasons a box records in Message.Reason and the history. They are shared
// so that operators read the same words whichever box stores the message.

// DefaultRoutingFailure is the reason of a routing failure when Route is
// given none.
const DefaultRoutingFailure = "no send port subscribes to the message"

// RoutingFailureReason is the Reason (and history entry) of a message
// suspended as a routing failure with reason (DefaultRoutingFailure when
// empty): "routing failure: ...", the words operators look for.
func RoutingFailureReason(reason string) string {
	if reason == "" {
		reason = DefaultRoutingFailure
	}
	return "routing failure: " + reason
}

// SuspendedReason is the Reason of a message suspended because the delivery
// to port failed for good with err: `send port "NAME": err`, naming the port
// once when err already starts so (the transports' errors do).
func SuspendedReason(port, err string) string {
	prefix := fmt.Sprintf("send port %q: ", port)
	switch {
	case err == "":
		return prefix + "suspended"
	case strings.HasPrefix(err, prefix):
		return err
	}
	return prefix + err
}

// TerminatedReason is the Reason of a message an operator terminated;
// previous is its Reason before (why it was suspended), kept so that the
// cause stays visible after termination.
func TerminatedReason(previous string) string {
	if previous == "" {
		return "terminated by an operator"
	}
	return "terminated by an operator; was: " + previous
}

// LeaseExpiredError is the Error of the attempt a box records when it gives a
// delivery whose lease expired to a new owner: the previous owner's attempt
// counts as made and failed, so that a message that kills its worker every
// time (a poison message) still exhausts its retries and gets suspended
// instead of being retried forever. The wait for an asynchronous MDN is a
// lease only inside the box (AwaitOwner): its end is told as what it is,
// the MDN that did not come, since messages show prints this error.
func LeaseExpiredError(owner string) string {
	if owner == AwaitOwner {
		return MDNTimedOutError
	}
	return fmt.Sprintf("lease of %s expired before the attempt finished", owner)
}

// MDNTimedOutError is the Error of an attempt whose asynchronous MDN did
// not arrive within the send port's mdn_timeout (LeaseExpiredError of
// AwaitOwner).
const MDNTimedOutError = "no asynchronous MDN arrived within mdn_timeout"

// TerminatedAwaitingMDNError is the Error of the attempt Terminate records
// for a delivery it ends while its asynchronous MDN is awaited, before the
// wait's deadline: the message was sent, and its MDN had not come yet.
const TerminatedAwaitingMDNError = "terminated while its asynchronous MDN was awaited"

// CutOffAttempt is the Error and FinishedAt of the attempt Terminate
// records, as the takeover of an expired lease records it, for a delivery
// it ends in progress under owner's lease ending at until (never a live
// lease of a process: Terminate refuses that). The attempt may have placed
// its file or begun sending, so it counts, and messages show lists it. It
// ended when its lease did (LeaseExpiredError), or, for a wait for an MDN
// whose deadline is still to come, now (TerminatedAwaitingMDNError): that
// MDN did not time out.
func CutOffAttempt(owner string, until, now time.Time) (err string, finishedAt time.Time) {
	switch {
	case owner == AwaitOwner && until.After(now):
		return TerminatedAwaitingMDNError, now
	case until.IsZero() || until.After(now):
		return LeaseExpiredError(owner), now // no end recorded, or not come yet
	}
	return LeaseExpiredError(owner), until
}

// IsMDNTimedOut reports whether err, an attempt's Error, is that of an
// attempt whose asynchronous MDN did not arrive in time: MDNTimedOutError,
// or the lease's words that boxes written by earlier versions hold.
func IsMDNTimedOut(err string) bool {
	return err == MDNTimedOutError || err == "lease of "+AwaitOwner+" expired before the attempt finished"
}

// InvalidState is the error of an operation that does not apply to message
// id in status st (ErrInvalidState).
func InvalidState(id string, st Status) error {
	return fmt.Errorf("message %s is %s: %w", id, st, ErrInvalidState)
}

// CheckResume is the rule of every box's Resume, given the message's
// status, decoding and reason as stored: only a suspended message resumes,
// and not one whose receive pipeline refused it (DecodingFailed). Such a
// message was never authenticated, so routing it again would only suspend
// it again (or, were that ever to change, deliver what the pipeline
// refused); the error says so, and what to do instead, so that an operator
// does not read "resumed" for a message that can never move. Both errors
// are ErrInvalidState: a bulk resume skips the message with this reason.
func CheckResume(id string, st Status, d Decoding, reason string) error {
	if st != StatusSuspended {
		return InvalidState(id, st)
	}
	if d == DecodingFailed {
		why := ""
		if reason != "" {
			why = " (" + reason + ")"
		}
		return fmt.Errorf("message %s cannot be resumed: its receive pipeline refused it, so it was never authenticated and is never routed%s; terminate it, and have it sent again once the cause is fixed: %w",
			id, why, ErrInvalidState)
	}
	return nil
}

// CheckID returns nil when id has the shape of a message id (ValidID), and
// otherwise the ErrNotFound every box returns for it before touching its
// store: an operator's typo costs no query, and the error quotes the id
// (shortened when long), so that a hostile one cannot smuggle control
// characters or megabytes into an error message.
func CheckID(id string) error {
	if ValidID(id) {
		return nil
	}
	const show = 64
	if len(id) > show {
		return fmt.Errorf("%q... (%d bytes): %w", id[:show], len(id), ErrNotFound)
	}
	return fmt.Errorf("%q: %w", id, ErrNotFound)
}

// Routing is a routing decision as a box records it (Route, ReceiveRouted).
type Routing struct {
	// Ports are the send ports to deliver to: cleaned and distinct
	// (UniquePorts), in the order given.
	Ports []string
	// Reason is the message's Reason (and history entry) when Ports is
	// empty, a routing failure: RoutingFailureReason of the reason given,
	// cleaned (CleanText). "" when routed to ports.
	Reason string
	// Status is the message's status once routed so: every delivery is
	// pending, or none is made.
	Status Status
}

// NewRouting returns the routing of a message to ports, or, when there are
// none, its routing failure with reason. An empty port name is an error.
func NewRouting(ports []string, reason string) (Routing, error) {
	uniq, err := UniquePorts(ports)
	if err != nil {
		return Routing{}, err
	}
	r := Routing{Ports: uniq}
	if len(uniq) == 0 {
		r.Reason = CleanText(RoutingFailureReason(reason))
	}
	states := make([]DeliveryState, len(uniq))
	for i := range states {
		states[i] = DeliveryPending
	}
	r.Status = DeriveStatus(true, false, states)
	return r, nil
}

// CheckClaim checks ClaimBatch's arguments: an owner, a positive lease and
// a positive max are required.
func CheckClaim(owner string, lease time.Duration, max int) error {
	if owner == "" || lease <= 0 || max <= 0 {
		return fmt.Errorf("owner %q, lease %v and max %d: all are required", owner, lease, max)
	}
	return nil
}

// CheckLease checks Renew's lease: it must be positive.
func CheckLease(lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("lease %v: must be positive", lease)
	}
	return nil
}

// ErrNoOwner is Recover's error for an empty owner.
var ErrNoOwner = errors.New("owner is required")

// LeaseLost is the error of Renew and Finish when owner does not hold the
// delivery's lease (ErrLeaseLost).
func LeaseLost(owner string) error {
	return fmt.Errorf("%s does not hold it: %w", owner, ErrLeaseLost)
}

// DeliveryNotFound is the error of Renew and Finish for a delivery that does
// not exist: its message was purged (an operator terminated it while the
// attempt ran, and it was purged since), or it never existed. It matches
// both ErrNotFound, which says why, and ErrLeaseLost, which says what to do
// with the attempt's outcome: discard it, as nobody holds the delivery.
func DeliveryNotFound(id int64) error { return deliveryNotFound(id) }

type deliveryNotFound int64

func (e deliveryNotFound) Error() string {
	return fmt.Sprintf("delivery %d not found: its message was purged, or it never existed; the attempt's outcome is discarded", int64(e))
}

func (e deliveryNotFound) Is(target error) bool {
	return target == ErrNotFound || target == ErrLeaseLost
}

// LeaseLive is Terminate's error for message id whose delivery to port is
// in progress under owner's lease until until (ErrInvalidState): the
// attempt may be delivering right now.
func LeaseLive(id, port, owner string, until time.Time) error {
	return fmt.Errorf("message %s: delivery to %s is in progress, leased by %s until %s: %w",
		id, port, owner, until.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), ErrInvalidState)
}

// PurgeBatches runs purge, which deletes a bounded batch of messages and
// returns how many it deleted and whether more may be left, until none may
// be, and returns the total: a large purge runs as many short writes, and
// other writers take the write lock between them.
func PurgeBatches(purge func() (n int, more bool, err error)) (int, error) {
	total := 0
	for {
		n, more, err := purge()
		if err != nil {
			return total, err // nothing of the failed batch was deleted
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// CleanOutcome returns o as a box stores it: its text cleaned (CleanText)
// and RetryAt at the box's precision (Timestamp). Its Receipt is a copy,
// so the caller's is never changed.
func CleanOutcome(o Outcome) Outcome {
	o.Error, o.RetryAt = CleanText(o.Error), Timestamp(o.RetryAt)
	if r := o.Receipt; r != nil {
		o.Receipt = &DeliveryReceipt{ContentType: CleanText(r.ContentType), Summary: CleanText(r.Summary), Data: r.Data}
		if o.Receipt.Data == nil {
			o.Receipt.Data = []byte{} // stored NOT NULL
		}
	}
	return o
}
