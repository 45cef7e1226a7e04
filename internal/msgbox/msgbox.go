// Package msgbox defines the message box: the durable store between receive
// locations and send ports (spec §9). Implementations (embedded SQLite,
// shared PostgreSQL) live in sub-packages and must pass the conformance
// suite in msgboxtest.
//
// Life of a message: ReceiveRouted commits it (the source may then be
// acknowledged) and routes it, recording one delivery per subscribing send
// port, or suspending it as a routing failure; workers claim due deliveries
// under a lease (ClaimBatch), run the pipeline and the transport, and Finish
// each attempt as delivered, to be retried, or suspended. Delivered and
// terminated messages stay for inspection until Purge deletes them: `bizpipe
// messages purge`, or `bizpipe run --retention`. Purge is the only way a
// message or any part of it leaves the box, but it means that a message, a
// delivery or a body may be gone between two calls; the box then answers
// ErrNotFound (see Purge), never a corruption error.
//
// Strings are stored and returned alike by every box: see CleanText.
package msgbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Status is a message's overall state, derived from its deliveries.
type Status string

// Message statuses, as `bizpipe messages list --status` names them.
const (
	// StatusReceived: stored, not yet routed.
	StatusReceived Status = "received"
	// StatusRouted: at least one delivery is pending or in progress, and
	// none is waiting for a retry or suspended.
	StatusRouted Status = "routed"
	// StatusRetrying: at least one delivery failed and waits for its next
	// attempt (and none is suspended).
	StatusRetrying Status = "retrying"
	// StatusSuspended: a delivery is suspended, or no send port subscribed
	// (routing failure). An operator resumes or terminates it.
	StatusSuspended Status = "suspended"
	// StatusDelivered: every delivery is delivered.
	StatusDelivered Status = "delivered"
	// StatusTerminated: an operator ended it; it will never be delivered.
	StatusTerminated Status = "terminated"
)

// DeliveryState is the state of one delivery (one message to one send port).
type DeliveryState string

// Delivery states.
const (
	DeliveryPending    DeliveryState = "pending"     // due now (or at NextAttemptAt)
	DeliveryInProgress DeliveryState = "in_progress" // claimed under a lease
	DeliveryRetrying   DeliveryState = "retrying"    // failed; due again at NextAttemptAt
	DeliveryDelivered  DeliveryState = "delivered"
	DeliverySuspended  DeliveryState = "suspended"
	DeliveryTerminated DeliveryState = "terminated"
)

// Incoming is a message as a receive location hands it to the box.
type Incoming struct {
	ReceiveLocation string
	FileName        string // original base name; "" when not from a file
	ContentType     string
	Properties      map[string]string
	// SourceKey identifies the message at its source (e.g. the file's path,
	// size and modification time), byte for byte. ReceiveRouted with a
	// SourceKey already stored returns the stored message instead of a new
	// one, so that a crash between the commit and the deletion of the
	// source never publishes the message twice. Empty means no
	// de-duplication (HTTP).
	SourceKey string
	// SourceKeyIfDecoded says that SourceKey is only the sender's claim
	// (an AS2 Message-ID), which the decoders back by authenticating the
	// sender: a message whose Decoding is DecodingFailed is then stored
	// without it, neither found as a duplicate nor holding the key, so
	// that a message nobody authenticated cannot take the place of the
	// authentic one sent under the same key (see DedupKey).
	SourceKeyIfDecoded bool

	// SensitiveProperties names the Properties whose values derive from a
	// sensitive value: the box stores the names with the message, and
	// displays show those values as SensitiveValue (see ShownProperties).
	SensitiveProperties []string

	// AsReceived, when not nil, is the message as it arrived, when the
	// body given with it is something else (the payload a decoding
	// receive location made of it): the box stores both, read to the end,
	// and AsReceived reads it back. nil: the body is the message as it
	// arrived.
	AsReceived io.Reader

	// Origin, when not "", is how the message came other than by its
	// receive location: the start of its first history entry in place of
	// ReceivedDetail's (messages resubmit: ResubmittedFromDetail).
	Origin string

	// ResubmitOf, when not "", is the message this one is a copy of
	// (messages resubmit, with Origin ResubmittedFromDetail): the
	// transaction that stores the copy adds ResubmittedAsDetail(its id)
	// to that message's history, if that message is still stored, so that
	// the copy is never stored without the entry (see ResubmitKey). In
	// that transaction too, the box applies CheckResubmit to that message
	// as it is then (with ResubmitPort): a message resumed since the
	// caller looked, whose delivery the copy would make a second time,
	// fails the receive with its error (ErrInvalidState), and nothing is
	// stored. Resume applies the converse rule (CheckResumeCopies).
	ResubmitOf string
	// ResubmitPort, with ResubmitOf, is the send port the copy is routed
	// to alone (messages resubmit --port): only ResubmitOf's delivery to
	// it must be done. "": the copy is routed by the filters, anywhere,
	// and every delivery of ResubmitOf must be.
	ResubmitPort string

	// Party is the party whose signature a decoder verified (language
	// §10, message.party); "" when none was.
	Party string
	// Decoding says what the location's decoders made of the message.
	Decoding Decoding

	// MDN, when not nil, makes the MDN kept for the message (an AS2
	// receive location's: see MDNOutbox), which a box that keeps them
	// stores in the transaction that stores the message, its MessageID
	// set to the message's: whoever finds the message (by its SourceKey,
	// from any process sharing the box) finds that MDN too, and neither
	// is stored without the other. ReceiveRouted calls it at most once,
	// once body has been read to its end (what it makes may depend on
	// all of it: a MIC), before the commit; not for a duplicate found
	// before the body is read; for one found after (another Receive of
	// the key committed meanwhile), what it made is dropped. It may
	// return nil: no MDN is kept. An error from it, or an MDN PutMDN would
	// refuse (CheckSentMDN), fails the receive and nothing is stored.
	MDN func() (*SentMDN, error)
}

// DedupKey is the key the box de-duplicates on: SourceKey, or "" when
// SourceKeyIfDecoded and the decoders refused the message. Every box reads
// SourceKey through it (NormalizeKey).
func (in Incoming) DedupKey() string {
	if in.SourceKeyIfDecoded && in.Decoding == DecodingFailed {
		return ""
	}
	return in.SourceKey
}

// NormalizeKey returns in with SourceKey set to its DedupKey: what a box
// does first with what it receives, so that the rest of it only sees
// SourceKey. ResubmitOf and ResubmitPort, which the box compares with a
// stored message id and send port names, are cleaned as those were
// (CleanText): one that is not clean text names nothing.
func (in Incoming) NormalizeKey() Incoming {
	in.SourceKey, in.SourceKeyIfDecoded = in.DedupKey(), false
	in.ResubmitOf, in.ResubmitPort = CleanText(in.ResubmitOf), CleanText(in.ResubmitPort)
	return in
}

// Decoding is what a receive location's decoder stages made of a message.
type Decoding string

// Decodings.
const (
	// NotDecoded: the location has no decoder stage; the body is stored
	// as received.
	NotDecoded Decoding = ""
	// Decoded: the decoders ran; the body is their output.
	Decoded Decoding = "decoded"
	// DecodingFailed: the decoders refused the message; the body is the
	// bytes as received, and the message is never routed (its Reason
	// says why), not even after a Resume: it was never authenticated.
	DecodingFailed Decoding = "failed"
)

// Message is a stored message's metadata (never its body).
type Message struct {
	ID              string
	ReceiveLocation string
	FileName        string
	ContentType     string
	Properties      map[string]string
	Size            int64
	ReceivedAt      time.Time // UTC
	Status          Status
	// Reason explains a suspended or terminated status.
	Reason string

	// SensitiveProperties are the sorted names of the Properties whose
	// values are sensitive (nil when none): never shown, but available to
	// filters and templates, which mark them sensitive.
	SensitiveProperties []string

	// Party and Decoding are as in Incoming.
	Party    string
	Decoding Decoding
}

// Delivery is one message to one send port.
type Delivery struct {
	ID        int64
	MessageID string
	Port      string
	State     DeliveryState
	// Attempts counts the attempts made so far, including those that
	// ended without an outcome (a lease that expired, a process stopped
	// mid-attempt: see Recover); Resume resets it. So 0 means no attempt
	// of this delivery has started since it was routed or resumed, which
	// the runner relies on to skip looking for an earlier attempt's
	// leftovers.
	Attempts      int
	NextAttemptAt time.Time // when a pending or retrying delivery is due (awaiting an MDN: AwaitedMDN.RetryAt)
	LeaseOwner    string    // instance holding an in-progress delivery
	LeaseUntil    time.Time
	LastError     string

	// Message and Body are the delivery's message and its whole body,
	// when the box read them with the claim (ClaimBatch) to spare the
	// runner a read of each: the SQLite box does, for a body stored in
	// one chunk, its size and checksum verified. nil when it did not:
	// then Box.Message and Box.Body read them.
	Message *Message
	Body    []byte

	// Receipt is the partner's proof of receipt that the delivery's last
	// attempt with one brought back (an AS2 MDN), data included. Get sets
	// it; ClaimBatch does not (nil).
	Receipt *DeliveryReceipt
}

// MaxReceiptSize is the most bytes of receipt data (DeliveryReceipt.Data)
// a box stores: an AS2 MDN is a few kilobytes, and the as2 package reads
// none larger than this (as2.MaxMDNSize, which a test keeps within it).
// Get reads receipts whole, so they must stay small.
const MaxReceiptSize = 4 << 20

// DeliveryReceipt is a partner's proof of receipt of a delivery (language
// §11: an AS2 MDN), kept in the box with the delivery's outcome.
type DeliveryReceipt struct {
	// ContentType is the receipt's media type (multipart/signed,
	// multipart/report).
	ContentType string
	// Summary is one line for operators: the disposition. Clean text.
	Summary string
	// Data is the receipt as received: the whole MIME entity, headers
	// included, at most MaxReceiptSize bytes.
	Data []byte
}

// Attempt is one delivery attempt's record.
type Attempt struct {
	DeliveryID int64
	Port       string
	Number     int
	Owner      string
	StartedAt  time.Time
	FinishedAt time.Time
	Outcome    DeliveryState // delivered, retrying or suspended
	Error      string
}

// Event is one entry of a message's status history.
type Event struct {
	At     time.Time
	Port   string // "" for message-level events
	Status string
	Detail string
}

// Detail is everything the box knows about a message.
type Detail struct {
	Message    Message
	Deliveries []Delivery
	Attempts   []Attempt
	History    []Event
}

// Outcome is the result of one delivery attempt, given to Finish.
type Outcome struct {
	State DeliveryState // DeliveryDelivered, DeliveryRetrying or DeliverySuspended
	// RetryAt is when a retrying delivery is due again.
	RetryAt time.Time
	// Error is the reason the attempt failed (empty when delivered). It is
	// shown to operators: never put key material or secrets in it.
	Error string
	// Receipt, when not nil, is the partner's proof of receipt the attempt
	// brought back: the box stores it in the transaction that records the
	// outcome, replacing any an earlier attempt of the delivery stored, and
	// Get returns it with the delivery. Purge deletes it with the message.
	Receipt *DeliveryReceipt
}

// BacklogStatuses returns the statuses of messages not finished, which
// Box.Backlog counts: waiting to be routed or delivered, waiting for a
// retry, or waiting for an operator.
func BacklogStatuses() []Status {
	return []Status{StatusReceived, StatusRouted, StatusRetrying, StatusSuspended}
}

// Filter selects messages for List.
type Filter struct {
	Status Status // "" = any; else one of ListStatuses
	Limit  int    // 0 = no limit
	// Location, Port and Party narrow the list, "" for any: the messages
	// received by that receive location, routed to that send port (a
	// delivery to it, in any state), or whose sender resolved to that
	// party.
	Location, Port, Party string
	// Since, when not zero, keeps the messages received at or after it.
	Since time.Time
	// OldestFirst lists oldest first (in the order the box received
	// them), and only the messages received before List started: a
	// caller that acts on each message as it is listed (resume
	// --all-suspended) acts in the order they came, and ends however
	// many arrive meanwhile.
	OldestFirst bool
}

// OwnerHolder is a box that processes on several servers share. Each
// process claims deliveries under a name of its own (its server's) and, at
// start, takes back as interrupted whatever that name holds (Recover): two
// processes running under one name would each take the other's
// deliveries in flight for interrupted ones. HoldOwner makes the calling
// process the only one that runs as owner on the box until release is
// called, or fails with an error wrapping ErrOwnerInUse. A hold that the
// box cannot keep (its connection lost, and the name taken by another
// process meanwhile) is told to lost, which must not block, each time the
// box finds it so; the box keeps trying to take it back.
type OwnerHolder interface {
	HoldOwner(ctx context.Context, owner string, lost func(error)) (release func(), err error)
}

// ErrOwnerInUse is what HoldOwner's error wraps when another process runs
// under the name.
var ErrOwnerInUse = errors.New("another bizpipe process runs under this name on the message box")

// AbandonedFunc hears of each attempt a box records as failed on its own,
// because the process that made it left no outcome: a lease that expired,
// which ClaimBatch takes over (LeaseExpiredError; MDNTimedOutError for an
// asynchronous MDN that did not come within its wait), or an attempt that
// Recover found interrupted (InterruptedError). The box calls it once per
// attempt, after the transaction that recorded the attempt committed, on
// the goroutine of the call that recorded it; it must not block. An
// attempt recorded by a commit whose outcome the box could not learn (a
// PostgreSQL connection lost at the commit) is not told: at most once,
// never twice. Nor is the attempt Terminate records (CutOffAttempt): its
// delivery is never tried again. The run engine counts these attempts in
// bizpipe_messages_retried_total, beside the ones it finishes itself,
// when the delivery's port has a try left for them.
type AbandonedFunc func(Abandoned)

// Abandoned is an attempt a box recorded as failed on its own (see
// AbandonedFunc).
type Abandoned struct {
	// Port is the delivery's send port.
	Port string
	// Attempt is the attempt's number, 1 for the first: the delivery's
	// attempts counted, this one included. A port whose retry policy
	// allows fewer suspends the delivery rather than try it again, so the
	// box itself cannot say whether the attempt is to be retried.
	Attempt int
}

// Tell tells f of the attempts a committed transaction recorded as failed
// on its own; a nil f hears of nothing.
func (f AbandonedFunc) Tell(as []Abandoned) {
	if f == nil {
		return
	}
	for _, a := range as {
		f(a)
	}
}

// InterruptedError is the Error of the attempt Recover records for a
// delivery that owner (a lease owner: the process or one of its workers)
// held in progress when it stopped: the attempt counts as made and failed,
// so that a message whose processing kills the process still exhausts its
// retries (see Box.Recover and LeaseExpiredError).
func InterruptedError(owner string) string {
	return fmt.Sprintf("attempt interrupted: %s stopped while it was in progress", owner)
}

// Errors callers test for.
var (
	ErrNotFound = errors.New("message not found")
	// ErrLeaseLost: the delivery's lease expired and another instance may
	// have claimed it; the attempt's outcome is discarded.
	ErrLeaseLost = errors.New("delivery lease lost")
	// ErrInvalidState: the operation does not apply to the message's
	// current status (e.g. resuming a delivered message).
	ErrInvalidState = errors.New("operation not valid in the message's status")
	// ErrCommitUncertain: a write failed in a way that leaves unknown
	// whether it was committed (and, after a restart, is in the box): a
	// connection lost during the commit, a log sync that failed after it.
	// A source must then keep the message and send it again under the
	// same SourceKey, which the box answers as a duplicate if it was
	// stored; one sent again under a new key would be stored twice.
	ErrCommitUncertain = errors.New("the change may or may not have been made")
	// ErrCorrupt: a stored body does not read back as it was stored (its
	// checksum or its length differ, a chunk is missing). Every read of
	// it fails the same way: the runner suspends its deliveries at once.
	// A body file that cannot be opened or read is not ErrCorrupt: its
	// directory may be on a volume that comes back.
	ErrCorrupt = errors.New("the stored body is corrupt")
)

// Router decides where a new message goes: the send ports whose filters
// match it, or none and the reason for the routing failure. A box may call
// it more than once for one message (when it retries a transaction), so it
// must not have side effects, and it must be quick: it runs while the box
// holds its write lock.
type Router func(Message) (ports []string, reason string)

// Box is a message box. Implementations are safe for concurrent use by the
// goroutines of one process and, for shared implementations, by several
// processes on several servers.
type Box interface {
	Batcher

	// ReceiveRouted stores a new message and its body, reading body to the
	// end, and routes it in the same transaction: one commit instead of
	// two, and no message left unrouted by a crash. When it returns without
	// error the message is durably committed. msg is the message as stored
	// (its text cleaned: see CleanText), routed by what Route(ports, reason)
	// does with route's answer; with a nil route it is stored unrouted
	// (StatusReceived), for Route.
	//
	// dup is true when in.SourceKey was already stored: the existing message
	// is returned as stored (possibly still unrouted), body is not read and
	// route is not called. A purged message's source key is forgotten.
	//
	// An error means nothing was stored, unless it wraps
	// ErrCommitUncertain: the message may be stored, and only a receive
	// again with the same SourceKey tells (as a duplicate).
	ReceiveRouted(ctx context.Context, in Incoming, body io.Reader, route Router) (msg Message, dup bool, err error)

	// Route records one pending delivery for each of ports (NewRouting).
	// With no ports, the message is suspended as a routing failure, its
	// Reason (and history entry) RoutingFailureReason(reason). Routing a
	// message that is not in StatusReceived is ErrInvalidState.
	Route(ctx context.Context, id string, ports []string, reason string) error

	// Unrouted returns up to limit messages still in StatusReceived, oldest
	// first: those stored without routing, or resumed after a routing
	// failure.
	Unrouted(ctx context.Context, limit int) ([]Message, error)

	// ClaimBatch leases up to max due deliveries (pending or retrying with
	// NextAttemptAt <= now, or in progress with an expired lease) for ports
	// to owner until now+lease, in one transaction, oldest due first (ties
	// in the order the deliveries were made), passing over the deliveries
	// in except. It returns no deliveries and no error when none is due.
	//
	// A process passes the deliveries its own workers are still working on
	// as except: after a pause longer than the lease (a stopped process, a
	// stalled disk) their leases have expired, but nobody else has taken
	// them, so their holders still hold them (see Recover's lease rules);
	// a sibling worker must not take them over and start a second attempt
	// of work in flight in its own process. The box keeps none of except
	// once it returns: the caller may reuse it.
	ClaimBatch(ctx context.Context, owner string, ports []string, lease time.Duration, max int, except []int64) ([]*Delivery, error)

	// Recover returns every delivery held in progress by owner, or by one
	// of its workers (an owner named "owner/..."), to the pool as pending,
	// due now, live lease or not. A process calls it at start with its
	// stable name (the server it runs as; its workers claim as
	// "server/wN"): whatever it held when it was killed is then redone at
	// once instead of after the lease expires.
	//
	// The interrupted attempt counts, as one whose lease expired does: for
	// each delivery Recover records an attempt by the lease owner, outcome
	// DeliveryRetrying, error InterruptedError(lease owner), started when
	// the delivery was claimed and finished now; it increments Attempts,
	// sets LastError to that error and appends to the history. A message
	// whose processing kills the process (a poison message) thereby uses
	// up its retries instead of being redone at every restart forever;
	// the caller decides, from Attempts, when to stop trying.
	//
	// Lease rules: an owner keeps an expired lease until another owner
	// claims the delivery, so its Renew and Finish still succeed; a
	// takeover after expiry records the abandoned attempt and counts it.
	Recover(ctx context.Context, owner string) (int, error)

	// Release returns the deliveries of ids that owner holds in progress,
	// and on which it made no attempt, to the pool, due now: pending, or
	// retrying when an attempt was made before the claim. Unlike Recover
	// it counts no attempt (none began): a process that stops hands back
	// what it claimed but had not started, instead of attempting each one
	// (which, against a partner that never answers, holds the stop for a
	// transport timeout per delivery) or leaving it leased until its next
	// start. Deliveries owner no longer holds, or that do not exist, are
	// passed over. It returns how many deliveries it returned.
	Release(ctx context.Context, owner string, ids []int64) (int, error)

	// Renew extends, for each of items, the lease its Owner holds on its
	// delivery to now+lease, sharing transactions and commits among them
	// (a process renews every lease it holds at once), and returns one
	// error per item, in order: nil when the lease was extended,
	// ErrLeaseLost when Owner no longer holds it, DeliveryNotFound
	// (ErrNotFound and ErrLeaseLost) when the delivery does not exist
	// (purged); those change nothing of that item alone. A failure of the
	// box (or ctx, or an invalid lease) fails the items it did not renew,
	// each with that error. RenewOne renews one lease.
	Renew(ctx context.Context, lease time.Duration, items ...Renewal) []error

	// Finish records the outcome of the attempt owner made on a delivery it
	// holds, increments its attempt count and appends to the history.
	// ErrLeaseLost if owner no longer holds the lease, DeliveryNotFound
	// (ErrNotFound and ErrLeaseLost) if the delivery does not exist
	// (purged).
	Finish(ctx context.Context, deliveryID int64, owner string, o Outcome) error

	// NextDue returns the earliest time a delivery for one of ports becomes
	// due (a retry, or an expired lease); ok is false when none is waiting.
	NextDue(ctx context.Context, ports []string) (at time.Time, ok bool, err error)

	// Retrying counts the deliveries for ports that wait for a retry,
	// whatever their messages' status (a message with a suspended
	// delivery shows as suspended while its others still retry).
	Retrying(ctx context.Context, ports []string) (int, error)

	// AsReceived opens the bytes of a message as they arrived: those
	// stored apart from its body (Incoming.AsReceived), or its body when
	// none were. It streams, and fails as Body does.
	AsReceived(ctx context.Context, id string) (io.ReadCloser, error)

	// Body opens a message's body for reading. It streams: a large body is
	// never held in memory whole by the box. A read fails with an error
	// wrapping ErrNotFound if the message is purged meanwhile.
	Body(ctx context.Context, id string) (io.ReadCloser, error)

	// DeliveryStates returns the states of the deliveries with the given
	// ids; ids that do not exist are absent from the map. A runner uses it
	// at start to tell which of the copies its transports staged belong to
	// deliveries already recorded as done, or purged (absent).
	DeliveryStates(ctx context.Context, ids []int64) (map[int64]DeliveryState, error)
	// Message returns a message's metadata alone: what a delivery attempt
	// needs, without Get's deliveries, attempts and history.
	Message(ctx context.Context, id string) (Message, error)
	// Get returns a message with its deliveries, attempts and history;
	// the message's status is ShownStatus's (awaiting_mdn derived).
	Get(ctx context.Context, id string) (*Detail, error)

	// List calls fn with each message f selects, newest first (oldest
	// first with f.OldestFirst), with
	// ShownStatus's status, as it reads them, a page (ListPage) at a time
	// and no read open while fn runs: a box of millions of messages is
	// listed without holding them all (Collect holds them).
	// f.Status is one of ListStatuses or "". An error from fn stops the
	// listing and is returned as it is.
	List(ctx context.Context, f Filter, fn func(Message) error) error
	// Backlog counts the messages not finished, by status: every one of
	// BacklogStatuses() is in the map, 0 when none. It reads an index, not
	// the finished messages, so it stays cheap however many are kept
	// (the metrics scrape calls it).
	Backlog(ctx context.Context) (map[Status]int, error)

	// Resume makes a suspended message's suspended deliveries due now, with
	// their attempt counts reset; a routing failure returns to
	// StatusReceived, to be routed again. A message that is not suspended,
	// or that failed decoding (never authenticated, so never routed), is
	// ErrInvalidState with the reason (CheckResume), and is left as it is;
	// so is one a copy of which (Incoming.ResubmitOf) was or may still be
	// sent where it would be (CheckResumeCopies), both read in the
	// transaction that resumes it.
	Resume(ctx context.Context, id string) error

	// Terminate ends every undelivered delivery of a message (not those in
	// progress under a live lease: ErrInvalidState; one awaiting an
	// asynchronous MDN is ended, and the MDN then settles nothing), which
	// is then never delivered. The attempt of one it ends in progress (a
	// lease expired, or a wait for an MDN) is recorded as failed and
	// counted, in the same transaction, as the takeover of an expired
	// lease records it (CutOffAttempt): it may have placed its file or
	// begun sending.
	Terminate(ctx context.Context, id string) error
	// TerminateSuspended is Terminate of a message that is suspended when
	// it runs: any other status is ErrInvalidState, and nothing changes.
	// It is what terminate --all-suspended does to each message it listed
	// as suspended, so that one resumed since (by another operator) is
	// skipped, not ended.
	TerminateSuspended(ctx context.Context, id string) error

	// Purge deletes the messages that are delivered or terminated and have
	// had no activity (no history entry) since before, and no asynchronous
	// MDN still to be POSTed (MDNOutbox), with their bodies, deliveries,
	// attempts and history, and returns how many: when it fails, how many
	// it deleted before (it deletes in batches, each whole or not at
	// all). It is the
	// only way a message leaves the box. A purged message's source key is
	// forgotten: purge only what no source can still deliver again (hours,
	// not seconds).
	//
	// What a caller read before may then be gone: every method taking a
	// message id (Route, Body, Message, Get, Resume, Terminate) answers
	// ErrNotFound for a purged message, as for any id that names none (a
	// malformed one too: CheckID); a body being read fails likewise; Renew
	// and Finish answer DeliveryNotFound; DeliveryStates leaves the
	// delivery out, and Recover does not count it.
	Purge(ctx context.Context, before time.Time) (int, error)
	// Purgeable counts the messages Purge(ctx, before) would delete now,
	// deleting nothing (bizpipe messages purge --dry-run).
	Purgeable(ctx context.Context, before time.Time) (int, error)
	// ID identifies the store, the same for every process that opens it and
	// different for every other box. Transports name what they stage
	// outside the box with it, so that two boxes delivering into one
	// directory never take each other's staged files for their own
	// (delivery ids are unique only within a box).
	ID() string
	// Close releases the box's resources.
	Close() error
}
