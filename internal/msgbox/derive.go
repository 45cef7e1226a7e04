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
// loop.
func ValidateOutcome(o Outcome) error {
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
// instead of being retried forever.
func LeaseExpiredError(owner string) string {
	return fmt.Sprintf("lease of %s expired before the attempt finished", owner)
}
