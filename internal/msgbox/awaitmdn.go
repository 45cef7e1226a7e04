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
// mdn_timeout, expires and a worker takes it over, counting the attempt as
// failed. No process's Recover returns it: a restart does not send again.
const AwaitOwner = "as2:awaiting-mdn"

// StatusAwaitingMDN is the status `messages list` and `run` show for a
// message whose undelivered deliveries all await an asynchronous MDN. The
// boxes store it as StatusRouted (the delivery is in progress): it is
// derived from AwaitingMDNs, which is why it is not a Status constant
// ValidStatus accepts.
const StatusAwaitingMDN Status = "awaiting_mdn"

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
	// kept), with a history entry: the delivery now awaits its MDN.
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
	return a, nil
}
