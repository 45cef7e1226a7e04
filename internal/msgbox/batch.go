package msgbox

import (
	"context"
	"fmt"
	"io"
	"time"
)

// MaxBatch is the most items a box writes in one transaction of
// ReceiveBatch or FinishBatch (a longer batch takes several):
// enough to share one commit among a busy engine's writes, few enough that
// a batch holds the box's write lock (which operators' commands wait for)
// only briefly and its bodies (each up to one chunk in memory) stay small.
const MaxBatch = 64

// Receipt is one message of a ReceiveBatch: what ReceiveRouted takes.
type Receipt struct {
	In   Incoming
	Body io.Reader // nil is an empty body
}

// ReceiveResult is what became of one Receipt: what ReceiveRouted returns.
// Err nil means the message is durably committed (or was already, Dup).
type ReceiveResult struct {
	Message Message
	Dup     bool
	Err     error
	// Claimed is what a Handoff claimed of the message's deliveries (see
	// HandoffReceiver): nil otherwise, and for a duplicate.
	Claimed []*Delivery
}

// Handoff asks a receive to claim, in the transaction that stores and
// routes the messages, the deliveries it makes to any of Ports: leased to
// Owner for Lease, as ClaimBatch would lease them, their history saying
// so. The receiving process then delivers them itself, without a claim
// and a read of each message back from the box: one transaction per batch
// fewer.
type Handoff struct {
	Owner string
	Ports []string
	Lease time.Duration
}

// HandoffReceiver is a Box whose ReceiveBatch can claim what it routes.
type HandoffReceiver interface {
	// ReceiveHandoff is ReceiveBatch, claiming per h: each result's
	// Claimed holds the deliveries of its message to h's Ports, in the
	// state ClaimBatch would have returned them, Message set (and Body,
	// when the box has the whole body at hand). A message stored on its
	// own (a large body) may come back with its deliveries pending
	// instead, for a claim to take.
	ReceiveHandoff(ctx context.Context, items []Receipt, route Router, h Handoff) []ReceiveResult
}

// ReceiveHandoffInBatches is a box's ReceiveHandoff: h checked (an invalid
// one fails every item, storing nothing) and cleaned, then
// ReceiveInBatches, receive claiming per h.
func ReceiveHandoffInBatches(items []Receipt, h Handoff, receive func(items []Receipt, out []ReceiveResult, h *Handoff),
	wrap func(err error, format string, args ...any) error) []ReceiveResult {
	if err := CheckClaim(h.Owner, h.Lease, 1); err != nil {
		out := make([]ReceiveResult, len(items))
		for i := range out {
			out[i].Err = wrap(err, "receive")
		}
		return out
	}
	h.Owner, h.Ports = CleanText(h.Owner), CleanPorts(h.Ports)
	return ReceiveInBatches(items, func(items []Receipt, out []ReceiveResult) { receive(items, out, &h) }, wrap)
}

// Finishing is one outcome for FinishBatch: what Finish takes.
type Finishing struct {
	DeliveryID int64
	Owner      string
	Outcome    Outcome
}

// Renewal is one lease for Renew to extend: DeliveryID's, held by Owner.
type Renewal struct {
	DeliveryID int64
	Owner      string
}

// RenewOne is b.Renew of owner's lease on one delivery.
func RenewOne(ctx context.Context, b Box, deliveryID int64, owner string, lease time.Duration) error {
	return RenewAll(ctx, b, lease, []Renewal{{DeliveryID: deliveryID, Owner: owner}})[0]
}

// RenewAll is b.Renew of items, with one error per item even from a box
// that breaks Renew's contract (which then renewed nothing, for all its
// caller can tell).
func RenewAll(ctx context.Context, b Box, lease time.Duration, items []Renewal) []error {
	errs := b.Renew(ctx, lease, items...)
	if len(errs) != len(items) {
		err := fmt.Errorf("the message box answered %d of %d lease renewals", len(errs), len(items))
		errs = make([]error, len(items))
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// RenewInBatches is a box's Renew: the lease checked (an invalid one fails
// every item, renewing nothing), each owner cleaned, then renew called for
// each run of at most MaxBatch items (InBatches) with the part of out that
// is theirs, which it fills; each error is wrapped with the box's wrap,
// naming the delivery.
func RenewInBatches(items []Renewal, lease time.Duration, renew func(items []Renewal, out []error),
	wrap func(err error, format string, args ...any) error) []error {
	out := make([]error, len(items))
	if err := CheckLease(lease); err == nil {
		clean := make([]Renewal, len(items))
		for i, it := range items {
			clean[i] = Renewal{DeliveryID: it.DeliveryID, Owner: CleanText(it.Owner)}
		}
		InBatches(clean, out, renew)
	} else {
		for i := range out {
			out[i] = err
		}
	}
	for i, err := range out {
		if err != nil {
			out[i] = wrap(err, "renew delivery %d", items[i].DeliveryID)
		}
	}
	return out
}

// Batcher is the batched form of a Box's two busiest writes. Every Box
// implements it.
type Batcher interface {
	// ReceiveBatch does for each of items what
	// ReceiveRouted does, with the same router, sharing transactions and
	// commits among them. Results are in the order of items, one each.
	// Each item stands alone: an item whose body fails to read, or whose
	// Incoming is invalid, gets the error and nothing of it is stored,
	// while the others are stored; a failure of the box (a commit, a
	// closed box, ctx) fails the items it did not commit, each with that
	// error; an item whose commit is in doubt gets an error wrapping
	// ErrCommitUncertain, as in ReceiveRouted. A duplicate's body is not
	// read, as in ReceiveRouted.
	ReceiveBatch(ctx context.Context, items []Receipt, route Router) []ReceiveResult

	// FinishBatch does for each of items what Finish
	// does, sharing transactions and commits among them, and returns one
	// error per item, in order: nil when its outcome is recorded,
	// ErrLeaseLost (or DeliveryNotFound, or ErrInvalidOutcome) for that
	// item alone, which changes nothing of it, while the others are
	// recorded.
	FinishBatch(ctx context.Context, items []Finishing) []error
}

// ReceiveEach is ReceiveBatch made of one ReceiveRouted per item, for a box
// that has nothing better (and as the reference the conformance suite
// compares with).
func ReceiveEach(ctx context.Context, b Box, items []Receipt, route Router) []ReceiveResult {
	out := make([]ReceiveResult, len(items))
	for i, it := range items {
		m, dup, err := b.ReceiveRouted(ctx, it.In, it.Body, route)
		out[i] = ReceiveResult{Message: m, Dup: dup, Err: err}
	}
	return out
}

// FinishEach is FinishBatch made of one Finish per item.
func FinishEach(ctx context.Context, b Box, items []Finishing) []error {
	out := make([]error, len(items))
	for i, it := range items {
		out[i] = b.Finish(ctx, it.DeliveryID, it.Owner, it.Outcome)
	}
	return out
}

// InBatches calls do for each run of at most MaxBatch items with the part
// of out that is theirs: how a box splits ReceiveBatch and FinishBatch
// into transactions.
func InBatches[T, R any](items []T, out []R, do func(items []T, out []R)) {
	for start := 0; start < len(items); start += MaxBatch {
		end := min(start+MaxBatch, len(items))
		do(items[start:end], out[start:end])
	}
}

// ReceiveInBatches is a box's ReceiveBatch: receive stores each run of at
// most MaxBatch items (InBatches); then the results that failed are
// cleared and their errors wrapped with the box's wrap, naming the receive
// location.
func ReceiveInBatches(items []Receipt, receive func(items []Receipt, out []ReceiveResult),
	wrap func(err error, format string, args ...any) error) []ReceiveResult {
	out := make([]ReceiveResult, len(items))
	keyed := make([]Receipt, len(items)) // the caller's items stay as given
	for i, it := range items {
		keyed[i] = Receipt{In: it.In.NormalizeKey(), Body: it.Body}
	}
	InBatches(keyed, out, receive)
	for i := range out {
		if out[i].Err != nil {
			out[i].Message, out[i].Dup = Message{}, false
			out[i].Err = wrap(out[i].Err, "receive from %s", CleanText(items[i].In.ReceiveLocation))
		}
	}
	return out
}
