package msgbox

import (
	"context"
	"time"
)

// MDNState is the state of an MDN a receive location answers a message with.
type MDNState string

// MDN states.
const (
	// MDNSent: the MDN went out (in the HTTP response, or POSTed).
	MDNSent MDNState = "sent"
	// MDNPending: an asynchronous MDN waits to be POSTed, due at
	// NextAttemptAt.
	MDNPending MDNState = "pending"
	// MDNFailed: every attempt to POST an asynchronous MDN failed; it is
	// kept, and a repeat of the message makes it pending again.
	MDNFailed MDNState = "failed"
	// MDNUnrequested: the sender asked for no MDN. The one that would have
	// answered the message was not sent; it is kept as the record of what
	// was received (its Received-Content-MIC), so that a later message
	// under the same Message-ID is judged as any repeat is.
	MDNUnrequested MDNState = "unrequested"
)

// SentMDN is the MDN an as2 receive location answered a received message
// with (language §11): kept with the message, so that a repeated
// Message-ID is answered with the original MDN, and, for an asynchronous
// one, the durable work of POSTing it.
type SentMDN struct {
	// MessageID is the box id of the message the MDN answers.
	MessageID string
	// Location is the receive location that sends it.
	Location string
	// Data is the MDN: the whole MIME entity, header fields included, at
	// most MaxReceiptSize bytes.
	Data []byte
	// URL is where an asynchronous MDN goes (Receipt-Delivery-Option); ""
	// for a synchronous one.
	URL string
	// Authenticated says that the message it answers was signed by its
	// party (its signature verified): its POSTs get places that MDNs
	// anyone can ask for, naming any address, cannot all take
	// (ClaimMDNs's maxUnauthenticated).
	Authenticated bool
	State         MDNState
	Attempts      int       // POSTs started
	NextAttemptAt time.Time // when a pending one is due
	LastError     string    // why the last POST failed; shown to operators
}

// MDNOutbox is implemented by the boxes that keep the MDNs sent for
// received messages. It is apart from Box so that a box without it still
// serves every other transport. Such a box also stores a new message's
// MDN in the message's transaction (Incoming.MDN); PutMDN stores one for
// a message stored already.
type MDNOutbox interface {
	// PutMDN stores m for its message, replacing what was stored for it,
	// and resets its attempts; an MDNUnrequested one is stored only where
	// none is (it never replaces an MDN sent or to be sent). ErrNotFound when the message does not
	// exist; ErrInvalidOutcome when Data exceeds MaxReceiptSize or State is
	// not one of the MDN states.
	PutMDN(ctx context.Context, m SentMDN) error
	// SentMDN returns the MDN stored for message id; ErrNotFound when none
	// is.
	SentMDN(ctx context.Context, id string) (SentMDN, error)
	// ClaimMDNs returns up to max pending MDNs of location that are due,
	// the Authenticated ones first, then at most maxUnauthenticated of the
	// others, each kind oldest due first, and makes each due again only
	// lease from now, its Attempts incremented: one POST at a time per
	// MDN, and a process killed mid-POST leaves it due again after lease.
	ClaimMDNs(ctx context.Context, location string, lease time.Duration, max, maxUnauthenticated int) ([]SentMDN, error)
	// FinishMDN records the outcome of the POST of claimed, an MDN as
	// ClaimMDNs returned it: sent, pending again at retryAt, or failed;
	// lastError says why it failed. ErrLeaseLost, and nothing written, when
	// the MDN is no longer as claimed (a repeat's PutMDN replaced it, or
	// its lease passed and it was claimed again); ErrNotFound when none is
	// stored.
	FinishMDN(ctx context.Context, claimed SentMDN, state MDNState, retryAt time.Time, lastError string) error
	// NextMDNDue returns when location's earliest pending MDN is due,
	// among the Authenticated ones only unless unauthenticated; ok is
	// false when none is pending.
	NextMDNDue(ctx context.Context, location string, unauthenticated bool) (at time.Time, ok bool, err error)
}

// ValidMDNState reports whether s is one of the MDN states.
func ValidMDNState(s MDNState) bool {
	return s == MDNSent || s == MDNPending || s == MDNFailed || s == MDNUnrequested
}
