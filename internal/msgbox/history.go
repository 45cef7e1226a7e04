package msgbox

import (
	"fmt"
	"time"
)

// The details of the history entries (Event.Detail) every box records, so
// that operators read the same history whichever box holds the message.
// Their arguments are clean text (CleanText), so the details are too.

// Details of operators' changes.
const (
	ResumedRouteDetail = "resumed by an operator: to be routed again"
	ResumedRetryDetail = "resumed by an operator: attempts reset"
	TerminatedDetail   = "terminated by an operator"
	routedDetailPrefix = "routed to send port "
)

// ResubmittedStatus is the status of the history entry an operator's
// resubmission adds to the message resubmitted (bizpipe messages
// resubmit: Incoming.ResubmitOf); the copy's first entry says where it
// comes from (Incoming.Origin).
const ResubmittedStatus = "resubmitted"

// ResubmittedAsDetail is the entry of a message resubmitted as message id;
// ResubmittedFromDetail that of the copy, id being the message it copies.
func ResubmittedAsDetail(id string) string { return "resubmitted by an operator as message " + id }

// ResubmittedFromDetail: see ResubmittedAsDetail.
func ResubmittedFromDetail(id string) string {
	return "resubmitted by an operator: a copy of message " + id
}

// ResubmitKey is the SourceKey of the copy the n-th resubmission of
// message id makes (n counts from 1: one more than the ResubmittedStatus
// entries of its history, which the copy's transaction adds to:
// Incoming.ResubmitOf). Two resubmissions that read the same history
// make the same key, and the box stores only one of them: the second is
// answered as a duplicate instead of making a second copy. No receive
// location makes such a key (theirs start with the location's name, which
// has no space).
func ResubmitKey(id string, n int) string { return fmt.Sprintf("messages resubmit %s %d", id, n) }

// ArrivalDetail is the entry of a message of size bytes stored with
// Incoming.Origin origin: ReceivedDetail(loc, file, size), or origin's
// when it is not "".
func ArrivalDetail(origin, loc, file string, size int64) string {
	if origin != "" {
		return fmt.Sprintf("%s (%d bytes)", CleanText(origin), size)
	}
	return ReceivedDetail(loc, file, size)
}

// ReceivedDetail is the entry of a message received from receive location
// loc, from file (or "" when not from a file), of size bytes.
func ReceivedDetail(loc, file string, size int64) string {
	if file == "" {
		return fmt.Sprintf("received from %s (%d bytes)", loc, size)
	}
	return fmt.Sprintf("received from %s, file %s (%d bytes)", loc, file, size)
}

// RoutedDetail is the entry of the pending delivery to port a routing made.
func RoutedDetail(port string) string { return routedDetailPrefix + port }

// ClaimedDetail is the entry of the claim of a delivery's attempt number n
// by owner.
func ClaimedDetail(n int, owner string) string {
	return fmt.Sprintf("attempt %d claimed by %s", n, owner)
}

// AbandonedDetail is the entry of attempt number n that a box counted as
// failed with error err without its owner's word: its lease expired
// (LeaseExpiredError).
func AbandonedDetail(n int, err string) string {
	return fmt.Sprintf("attempt %d: %s", n, err)
}

// RecoveredDetail is the entry of attempt number n, interrupted with error
// err (InterruptedError) and returned to the pool by Recover(owner).
func RecoveredDetail(n int, err, owner string) string {
	return fmt.Sprintf("attempt %d: %s; recovered at the restart of %s, due again", n, err, owner)
}

// ReleasedDetail is the entry of a delivery that owner claimed for
// attempt number n and returned to the pool unattempted (Release).
func ReleasedDetail(n int, owner string) string {
	return fmt.Sprintf("attempt %d not made: %s stopped before it began; due again", n, owner)
}

// AwaitingMDNDetail is the history detail of a delivery sent and now
// awaiting its asynchronous MDN.
func AwaitingMDNDetail(a AwaitedMDN) string {
	return fmt.Sprintf("sent as %s; awaiting its asynchronous MDN until %s", a.AS2MessageID, a.Deadline.UTC().Format(time.RFC3339))
}

// LateMDNDetail is the entry of a delivery settled by SettleLate after n
// attempts with o: delivered or suspended by the MDN that came late,
// summarised (o.Receipt).
func LateMDNDetail(n int, o Outcome) string {
	var summary string
	if o.Receipt != nil {
		summary = o.Receipt.Summary
	}
	return fmt.Sprintf("%s after attempt %d: its asynchronous MDN came after the wait ended (%s); no retry", o.State, n, summary)
}

// FinishedDetail is the entry of attempt number n by owner that ended with
// o.
func FinishedDetail(n int, owner string, o Outcome) string {
	detail := fmt.Sprintf("attempt %d by %s", n, owner)
	switch o.State {
	case DeliveryRetrying:
		return detail + fmt.Sprintf(" failed, retry at %s: %s", Timestamp(o.RetryAt).Format(time.RFC3339), o.Error)
	case DeliverySuspended:
		return detail + " failed, suspended: " + o.Error
	}
	return detail + " delivered"
}
