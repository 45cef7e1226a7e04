package component

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// Config is a component's typed configuration, as its Spec's Decode made
// it. Besides the methods of its kind (ReceiverConfig, SenderConfig,
// StageConfig) it says which keys it needs, so that the reachability rules
// apply to every component alike.
type Config interface {
	Needs() Needs
}

// Need says whether a component needs a key.
type Need uint8

// Needs.
const (
	NotNeeded Need = iota
	Needed
	// MaybeNeeded: it depends on a value that is unknown during validate
	// (a variable without a value). The rules that would report the key
	// missing are skipped rather than guessed.
	MaybeNeeded
)

// Needs are the keys a component uses on the instance that runs it.
type Needs struct {
	// Signing is the group signing certificate with its private key, from
	// the personal store of the instance's service account.
	Signing Need
	// Encryption is the send port's encryption_certificate, from the
	// other-people store of the server the instance runs on.
	Encryption Need
	// Decryption is the host's decryption_certificate with its private
	// key, from the personal store of the instance's service account
	// (language §10: the inbound counterpart of Signing), and with it
	// each of the host's previous_decryption_certificates, which still
	// decrypt what partners encrypted for them while they switch: the
	// rules check every one of them alike.
	Decryption Need
	// PartySigning is the parties' signing_certificates, from the
	// other-people store of the server the instance runs on: what a
	// verifying stage checks a signature against (the embedded
	// certificate alone is never trusted).
	PartySigning Need
}

// UnknownNeedsConfig is implemented by a Config whose Needs depend on
// attribute values that may be unknown during validate (a variable without
// a value): the rules skip what a MaybeNeeded key would have them check,
// and say so (BP1009) at each attribute UnknownNeeds lists, so that a
// skipped check is never silent.
type UnknownNeedsConfig interface {
	Config
	UnknownNeeds() []UnknownNeed
}

// UnknownNeed is an attribute, set but unknown during validate, that makes
// some of its component's Needs MaybeNeeded.
type UnknownNeed struct {
	// Attribute is the attribute's name ("signature").
	Attribute string
	// Range is its value's.
	Range hcl.Range
	// Needs has MaybeNeeded for each key that depends on it.
	Needs Needs
}

// AppendUnknown appends attribute name to out when v is set but unknown
// during validate, with n, the needs that depend on it. An attribute that
// is absent (or invalid, reported already) is not unknown.
func AppendUnknown[T any](out []UnknownNeed, name string, v value.Value[T], n Needs) []UnknownNeed {
	if !v.Set || v.Known {
		return out
	}
	return append(out, UnknownNeed{Attribute: name, Range: v.Range, Needs: n})
}

// Merge combines the needs of two components run by one port or location.
func (n Needs) Merge(o Needs) Needs {
	return Needs{
		Signing:      merge(n.Signing, o.Signing),
		Encryption:   merge(n.Encryption, o.Encryption),
		Decryption:   merge(n.Decryption, o.Decryption),
		PartySigning: merge(n.PartySigning, o.PartySigning),
	}
}

func merge(a, b Need) Need {
	switch {
	case a == Needed || b == Needed:
		return Needed
	case a == MaybeNeeded || b == MaybeNeeded:
		return MaybeNeeded
	}
	return NotNeeded
}

// Identity is a certificate with its private key, and the intermediate
// certificates that chain it to a root (leaf-most first, without the root).
type Identity struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// Keys are the keys a component gets when it is built for one instance: what
// its Needs asked for, taken from the stores that instance reaches.
type Keys struct {
	// Signer is the group signing identity (Needs.Signing); with a
	// Rollover, it signs only before Rollover.At. Choose the identity of
	// each message or MDN with SignerAt or CurrentSigner.
	Signer    *Identity
	Rollover  *Rollover         // Needs.Signing: the planned change, nil without one
	Recipient *x509.Certificate // Needs.Encryption
	// Decrypter is the host's decryption certificate with its private key
	// (Needs.Decryption).
	Decrypter *DecryptionIdentity
	// PreviousDecrypters are the host's previous decryption certificates
	// with their keys (Needs.Decryption), in the order configured: a
	// message encrypted for one of them, by a partner that has not
	// switched to Decrypter yet, is decrypted with it.
	PreviousDecrypters []*DecryptionIdentity
	// PartySigners are the parties' signing certificates found in the
	// server's other-people store (Needs.PartySigning), each with its
	// party: a signature verified with one of them is that party's.
	PartySigners []PartyCertificate
	// AbsentPartySigners are the parties' signing certificates, listed
	// by thumbprint, that the server's other-people store lacks: a
	// signature made with one is refused as with any certificate not
	// in PartySigners, but the reason says which party lists it and
	// which store lacks it, rather than that no party does.
	AbsentPartySigners []AbsentPartyCertificate
}

// Rollover is a planned change of the group signing identity (language
// §12): from At on, Signer signs instead of Keys.Signer, without a restart.
type Rollover struct {
	At time.Time
	// Signer is nil when the instance's store did not hold the rollover
	// certificate with its key (validate reports BP3007): from At on,
	// signing then fails with Missing, which says so.
	Signer  *Identity
	Missing error
	// Now is the clock the identity is chosen by; nil means time.Now.
	Now func() time.Time
}

// SignerAt returns the identity that signs at t: Signer before the
// rollover's At (or always, without a rollover), the rollover identity from
// At on. An error says that the rollover identity is missing.
func (k Keys) SignerAt(t time.Time) (*Identity, error) {
	r := k.Rollover
	if r == nil || t.Before(r.At) {
		return k.Signer, nil
	}
	if r.Signer == nil {
		if r.Missing == nil {
			return nil, errors.New("no signing_rollover certificate with its private key")
		}
		return nil, r.Missing
	}
	return r.Signer, nil
}

// CurrentSigner is SignerAt the rollover's clock's now (time.Now without a
// rollover clock).
func (k Keys) CurrentSigner() (*Identity, error) {
	now := time.Now
	if k.Rollover != nil && k.Rollover.Now != nil {
		now = k.Rollover.Now
	}
	return k.SignerAt(now())
}

// DecryptionIdentity is a certificate with the private key that decrypts
// what was encrypted for it.
type DecryptionIdentity struct {
	Cert *x509.Certificate
	Key  crypto.Decrypter
}

// PartyCertificate is one of a party's signing certificates.
type PartyCertificate struct {
	Party string
	Cert  *x509.Certificate
}

// AbsentPartyCertificate is a party's signing certificate that the
// server's other-people store lacks.
type AbsentPartyCertificate struct {
	Party string
	// Thumbprint is the thumbprint configured, as errors show it (upper
	// case, or redact.Shown when it is sensitive).
	Thumbprint string
	// Matches reports whether the certificate with DER der has the
	// thumbprint.
	Matches func(der []byte) bool
	// Store is the other-people store that lacks it.
	Store string
}

// Provisioner is implemented by built components that acquire resources
// before they run (listeners, connections). The runner provisions each
// component as it builds it, before starting any; when it is closed, it
// closes every component that is an io.Closer, provisioned or not, also
// when a later one failed to provision.
type Provisioner interface {
	Provision(ctx context.Context) error
}

// --- Receive transports -------------------------------------------------

// ReceiverConfig is the Config of a receive transport.
type ReceiverConfig interface {
	Config
	NewReceiver(env *ReceiveEnv) (Receiver, error)
}

// ReceiveEnv is what a receive transport is built with.
type ReceiveEnv struct {
	// Location is the receive location's name, stamped on each message.
	Location string
	// ContentType and Properties are the location's content_type and
	// properties, stamped on each message; SensitiveProperties names the
	// properties whose values derive from a sensitive value.
	ContentType         string
	Properties          map[string]string
	SensitiveProperties []string
	// Owner is the stable name of this server: it carries claims across
	// restarts.
	Owner string
	// Lease is the engine's delivery lease; a transport that claims inputs
	// may take over another server's claim older than twice it.
	Lease time.Duration
	// SettleTime, when not 0, overrides how long an input must be quiet
	// before it is taken (tests and --once shorten it).
	SettleTime time.Duration
	Sink       Sink
	Log        *slog.Logger
	// Keys are what the transport's Needs asked for, from the stores of
	// the instance that runs the location.
	Keys Keys
	// Shared returns the value this run keeps under key, made by make the
	// first time it is asked for: a resource every instance of a component
	// shares (the HTTP receivers' memory budget for uploads in flight).
	// Keys are the component's own: prefix them with its name.
	Shared func(key string, make func() any) any
	// AS2ID is the group's as2_id ("" when not set): the AS2-To an AS2
	// receiver accepts and the AS2-From of its MDNs (language §11).
	AS2ID string
	// PartyAS2IDs are the declared parties' as2_id by party name (parties
	// without one are absent): an AS2 receiver accepts only these AS2-From.
	PartyAS2IDs map[string]string
	// MDNs keeps the MDNs an AS2 receiver answers with (a repeated
	// Message-ID gets the original; an asynchronous one is POSTed from
	// there, durably); nil when the message box does not keep them.
	MDNs msgbox.MDNOutbox
	// Receipts settles the deliveries that await the receipts the
	// transport gets (AS2 asynchronous MDNs); nil when none can.
	Receipts ReceiptSink
	// MaxMessageSize is the group's max_message_size; 0 when not known
	// (DefaultMaxMessageSize then). See MaxBody.
	MaxMessageSize int64
}

// MaxBody is the bound of a receive transport's bodies: its max_body as
// written, else the group's max_message_size, so that a body the engine
// would suspend as too large is refused as it arrives (413), not
// acknowledged first.
func (env *ReceiveEnv) MaxBody(maxBody value.Value[int64]) int64 {
	switch {
	case maxBody.Usable() && !maxBody.Default:
		return maxBody.V
	case env.MaxMessageSize > 0:
		return env.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

// Sink stores a received message durably and routes it. A receiver
// acknowledges its source (deletes the file, answers 202) only after
// Publish returned nil. dup reports that in.SourceKey was already stored:
// the source must still be acknowledged, but nothing new was stored.
type Sink interface {
	Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msg msgbox.Message, dup bool, err error)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error)

// Publish calls f.
func (f SinkFunc) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	return f(ctx, in, body)
}

// OutcomeSink is implemented by the runner's Sinks for a transport that
// must answer its sender with what decoding found (AS2's MDN, which
// reports the decryption, the signature and a MIC over what was received).
// PublishOutcome is Publish with that outcome, decoding as req asks and
// storing the MDN req.MDN makes with the message (ForBox). The file and
// http transports keep using Publish.
type OutcomeSink interface {
	Sink
	PublishOutcome(ctx context.Context, in msgbox.Incoming, body io.Reader, req DecodeRequest) (Published, error)
}

// DecodeRequest is what a transport asks of the decoding of one message.
type DecodeRequest struct {
	// MICHash, when not zero, asks for the AS2 MIC (RFC 4130 §7.3.1) in
	// that hash.
	MICHash crypto.Hash
	// Party, when not "", is the party the transport received the message
	// from (by AS2-From): a message whose signature verified as another
	// party's is refused (ErrAuthenticationFailed), stored and suspended.
	Party string
	// Head, when not "", is the header section (its fields, each ended
	// by CRLF, then the empty line) of the MIME entity whose body is the
	// body published, which the transport made from its request's header
	// fields (AS2: the HTTP Content-Type, Content-Transfer-Encoding and
	// Content-Disposition): a decoding pipeline reads, and keeps as
	// received, Head then the body, the whole MIME entity. It never
	// arrived as bytes of the body: a sink without a pipeline stores the
	// body alone, as received (language §10).
	Head string
	// MDN, when not nil, makes the MDN the box keeps with the message from
	// what decoding found (Published's Decoded, Party, MIC and Refused;
	// not Message nor Dup, unknown yet): the sink hands it to the box as
	// the message's msgbox.Incoming.MDN (ForBox), which stores it in the
	// message's transaction and says when it is called.
	MDN func(Published) (*msgbox.SentMDN, error)
}

// ForBox returns in as the box is to store it for a message whose
// decoding found p: with req.MDN made from p as its MDN, when req has one.
// Every OutcomeSink calls it for the Incoming it stores.
func (req DecodeRequest) ForBox(in msgbox.Incoming, p Published) msgbox.Incoming {
	if req.MDN != nil {
		p.Message, p.Dup = msgbox.Message{}, false
		in.MDN = func() (*msgbox.SentMDN, error) { return req.MDN(p) }
	}
	return in
}

// Published is what a Sink stored, and what decoding found out.
type Published struct {
	Message msgbox.Message
	// Dup: in.SourceKey was already stored; nothing new was.
	Dup bool
	// Decoded reports that the location's pipeline decoded the message
	// (false without a decoding pipeline, and when it was refused).
	Decoded bool
	// Party is the party whose signature verified, "" when none did.
	Party string
	// MIC is the AS2 MIC the decoders computed, nil when not asked for or
	// when no decoder computed one.
	MIC []byte
	// Refused is why the decoders refused the message (stored and
	// suspended), nil when they did not.
	Refused error
}

// micHashKey is the context key of WithMICHash.
type micHashKey struct{}

// WithMICHash returns ctx asking the decoder stages that decode under it for
// the AS2 MIC in hash h (Decoded.MIC). A context value rather than a
// parameter: only the AS2 receiver asks, per message, and the stages are
// built once per location.
func WithMICHash(ctx context.Context, h crypto.Hash) context.Context {
	return context.WithValue(ctx, micHashKey{}, h)
}

// MICHash returns the hash WithMICHash asked for, 0 when none.
func MICHash(ctx context.Context) crypto.Hash {
	h, _ := ctx.Value(micHashKey{}).(crypto.Hash)
	return h
}

// Receiver is a built receive transport.
type Receiver interface {
	// Start begins receiving in the background until Stop.
	Start(ctx context.Context) error
	// Stop stops taking new messages and waits, until ctx is done, for
	// those in flight to be stored or refused.
	Stop(ctx context.Context)
}

// Poller is a Receiver with inputs present to pick up (files), which a
// --once run drains with single passes instead of starting it.
type Poller interface {
	Receiver
	// Poll makes one pass and returns how many messages it stored.
	Poll(ctx context.Context) (int, error)
	// Pending counts inputs seen but not taken yet (still being written).
	Pending() int
	// SettleTime is how long an input must be quiet before it is taken.
	SettleTime() time.Duration
}

// --- Pipeline stages ----------------------------------------------------

// Field is one header field of a MIME entity.
type Field struct {
	Name  string
	Value string
}

// Header is the top-level header of an entity as it flows through a
// pipeline. MIME is false for a message no stage has touched: Fields then
// hold only its Content-Type, which a file transport does not write.
type Header struct {
	Fields []Field
	MIME   bool
}

// Get returns the value of the first field named name (case-insensitive).
func (h Header) Get(name string) string {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// StageConfig is the Config of a pipeline stage.
type StageConfig interface {
	Config
	NewStage(env *StageEnv) (Stage, error)
}

// StageEnv is what a stage is built with.
type StageEnv struct {
	Keys Keys
	// Rand is the source of randomness (keys, IVs, MIME boundaries).
	Rand io.Reader
}

// Stage is a built pipeline stage. It is immutable and safe for concurrent
// use: each message gets an Encoding of its own.
type Stage interface {
	// Start begins encoding one entity whose header is in.
	Start(in Header) (Encoding, error)
}

// Encoding is one entity going through a stage. Its output header is known
// before any body byte, so that a transport can send headers first and
// stream the body.
type Encoding interface {
	// Header is the header of the entity the stage produces.
	Header() Header
	// Wrap returns the writer the input body is written to; the output body
	// goes to dst. Close writes what ends the output (a signature, padding)
	// without closing dst. Write and Close fail for good after a failure.
	// Close must be called, also after a failure: it releases what the
	// encoding holds (a goroutine that encrypts while the caller signs).
	Wrap(dst io.Writer) io.WriteCloser
}

// DecoderConfig is the Config of a decoder stage: a stage of a receive
// pipeline, which turns a message as received into the payload routed.
type DecoderConfig interface {
	Config
	NewDecoder(env *DecoderEnv) (DecodeStage, error)
}

// DecoderEnv is what a decoder stage is built with.
type DecoderEnv struct {
	Keys Keys
	// SpoolDir is where a decoder keeps what it cannot hold in memory (a
	// large message it needs to read twice, decrypted content it must not
	// use before its tag verified).
	SpoolDir string
	// Followed reports that a later stage of the pipeline decodes what
	// this one writes: a stage that does not verify signatures then
	// leaves them in place for that one, instead of unwrapping them
	// unchecked where no later stage could verify them.
	Followed bool
}

// DecodeStage is a built decoder stage. It is immutable and safe for
// concurrent use.
type DecodeStage interface {
	// Decode reads one message from src, whose header is in (MIME false:
	// src is the whole entity, headers included, as a file holds it), and writes
	// the decoded body to dst. at is the time of receipt: certificates
	// must be valid then. dst may have received output when Decode fails
	// (a policy refused what decoded fine): the caller spools it and
	// discards it on error. An error says why
	// the message is refused (it cannot be decrypted, its signature does
	// not verify): the message is then stored as received and suspended,
	// never routed.
	Decode(ctx context.Context, in Header, src io.Reader, dst io.Writer, at time.Time) (Decoded, error)
}

// Decoded is what a decoder found out about a message.
type Decoded struct {
	// Header is the header of the decoded entity (its Content-Type).
	Header Header
	// Party is the party whose signature verified, "" when none did: the
	// first of Parties.
	Party string
	// Parties are all the parties that list the signer's certificate in
	// their signing_certificates, sorted by name: one, unless
	// parties share a certificate (two AS2 identities of one partner),
	// when the sink chooses the one the transport received the message
	// from (DecodeRequest.Party), if it is among them.
	Parties []string
	// DecryptedWith is the certificate whose key decrypted the message
	// (Keys.Decrypter's or one of Keys.PreviousDecrypters'), nil when
	// it was not encrypted: what tells an operator whether partners
	// still encrypt for a previous certificate.
	DecryptedWith *x509.Certificate
	// MIC is the AS2 MIC in the hash MICHash(ctx) asked for, nil when
	// none was asked for.
	MIC []byte
	// Unauthenticated reports that a layer was decrypted without
	// authentication (CBC): a later stage's refusal is then marked
	// Unauthenticated too.
	Unauthenticated bool
}

// --- Send transports ----------------------------------------------------

// SenderConfig is the Config of a send transport.
type SenderConfig interface {
	Config
	NewSender(env *SendEnv) (Sender, error)
}

// JudgeConfig is a SenderConfig whose receipts a server that does not run
// the port may judge (an AS2 asynchronous MDN reaching another server's
// receive location): NewJudge builds what judges them with env, and no
// more than that needs (no connection pool, no TLS client files, which
// only the servers that send have). What it returns judges receipts
// only; its Begin fails.
type JudgeConfig interface {
	SenderConfig
	NewJudge(env *SendEnv) (ReceiptChecker, error)
}

// SendEnv is what a send transport is built with.
type SendEnv struct {
	// Port is the send port's name.
	Port string
	// Keys are what the transport's Needs asked for, from the stores of
	// the instance that runs the port.
	Keys Keys
	// Namespace is the message box's identity (msgbox.Box.ID): part of
	// every name a transport stages outside the box, because delivery ids
	// are unique only within one box.
	Namespace string
	// SpoolDir is a directory on disk where a transport may keep what it
	// cannot send as it is written (an HTTP body sent with its length).
	SpoolDir string
	Log      *slog.Logger
	// Shared is ReceiveEnv.Shared, for send transports: a resource every
	// instance of a component shares (the file transports' rounds of
	// syncs). Keys are the component's own: prefix them with its name.
	Shared func(key string, make func() any) any
	// AS2ID is the group's as2_id ("" when not set): the AS2-From of an
	// AS2 transport's sends (language §11).
	AS2ID string
	// PartyAS2IDs are the declared parties' as2_id by party name (parties
	// without one are absent): an AS2 transport's AS2-To is its partner's.
	PartyAS2IDs map[string]string
}

// Delivery is one message to one send port, as a transport attempts it.
type Delivery struct {
	// ID is the message box's delivery id: unique within the box, stable
	// across retries and restarts.
	ID      int64
	Port    string
	Message *message.Message
	// First reports that the box counts no earlier attempt of the
	// delivery (msgbox.Delivery.Attempts is 0, interrupted attempts
	// included), so none can have left anything at the destination:
	// a transport may skip looking for it. Only `messages resume`,
	// which resets the count, breaks that, so a transport must still
	// be correct when something is there.
	First bool
	// Fence, when not nil, is what a transport calls right before the
	// step that makes the delivery visible at the destination (renaming
	// a file into place, sending a request), in Commit and in a Stager's
	// Redo. An error means the runner can no longer be sure it holds the
	// delivery: its lease lapsed (the process was paused, the message
	// box unreachable) and another server may have taken the delivery
	// over, or an operator ended its message. The step is then not
	// taken, and the attempt fails with that error. It is cheap while
	// the lease is safely held, may take a round trip to the box
	// otherwise, and is safe for concurrent use.
	Fence func(ctx context.Context) error
}

// CheckFence calls d.Fence, if there is one.
func (d *Delivery) CheckFence(ctx context.Context) error {
	if d.Fence == nil {
		return nil
	}
	return d.Fence(ctx)
}

// Sender is a built send transport.
type Sender interface {
	// Begin starts an attempt to deliver d, whose entity has header h. The
	// entity's body is written to the Attempt; Commit then delivers it.
	// A Begin error fails the attempt (see Permanent).
	Begin(ctx context.Context, d *Delivery, h Header) (Attempt, error)
}

// Attempt is one delivery attempt in progress.
type Attempt interface {
	// Write takes the next bytes of the entity's body.
	io.Writer
	// Commit delivers what was written. It returns only once the entity is
	// durable at the destination (a file synced into place) or accepted
	// (an HTTP 2xx); any error fails the attempt. Right before it makes
	// the entity visible there, it asks the Delivery's Fence.
	Commit(ctx context.Context) (Result, error)
	// Abort releases an attempt that will not be committed (the pipeline
	// failed). It is a no-op after Commit.
	Abort()
}

// SharedSync is implemented by an Attempt whose Commit waits mostly on
// syncs to disk that concurrent commits share (the file transport's), when
// its Sender is a SyncSharer. The runner commits a claimed batch's
// SharedSync attempts together once each of the batch's pipelines that may
// leave one has left its commit for later or is known to leave none, so
// that one round of syncs serves the whole batch instead of one sync per
// delivery. It holds a bounded number of such attempts at once
// (runner.Options.MaxDeferredCommits); beyond them, and for an attempt
// whose Written says not to share, it calls Commit at once, without
// Written or after it.
type SharedSync interface {
	Attempt
	// Written says that the whole entity was written and Commit may come
	// later: the attempt gives back what it holds only while writing (a
	// write buffer). share says whether Commit is worth deferring until
	// the batch's other commits, judged by what was written (a pipeline
	// may make a small message big): when false, the runner commits at
	// once, and the commit syncs on its own. An error fails the attempt,
	// as a Write error does.
	Written() (share bool, err error)
	// Alone says, after Written answered share and before Commit, that
	// no other commit is left to share the syncs with (the batch's others
	// went elsewhere, committed at once or failed): Commit syncs on its
	// own, as when Written said not to share, rather than in rounds meant
	// for many (the file transport's syncfs(2) writes back the whole
	// file system).
	Alone()
}

// SyncSharer is implemented by a Sender whose attempts are SharedSync.
// Only such a Sender's commits wait for the rest of their batch, and the
// runner runs a batch's pipelines to such Senders before the others, so
// that a slow delivery through another transport (a partner that takes
// its time to answer) does not hold their commits back.
type SyncSharer interface {
	Sender
	// SharesSyncs marks the interface: it does nothing.
	SharesSyncs()
}

// BatchCommit is implemented by a SharedSync attempt whose commits run
// best all in one call: each step for every attempt of the batch, then one
// round of syncs for them all, rather than a goroutine per commit waiting
// for the rounds it shares. The runner passes the deferred attempts of a
// batch whose Batch values are equal (==) to one CommitBatch call, instead
// of calling their Commit.
type BatchCommit interface {
	SharedSync
	// Batch returns what commits this attempt together with the others
	// that return the same value.
	Batch() BatchCommitter
}

// BatchCommitter commits attempts together (see BatchCommit).
type BatchCommitter interface {
	// CommitBatch commits atts, each a BatchCommit whose Batch returned
	// this committer, as Commit does each: it returns once every one is
	// committed or failed, their results and errors in the order of atts.
	CommitBatch(ctx context.Context, atts []Attempt) ([]Result, []error)
}

// ContentObserver is implemented by an Attempt whose protocol proves
// receipt with a digest of the content the pipeline protected (the AS2 MIC,
// RFC 4130 §7.3.1). Before the body flows, the runner makes the bytes that
// digest covers go to ContentWriter as well: the content MIME entity that
// the first stage signs (or, unsigned, encrypts), headers included, as that
// stage's ContentTeer copies it; without a stage, the body itself. A writer
// rather than one hash: the partner's receipt names the algorithm it used,
// which is known only when it arrives.
type ContentObserver interface {
	Attempt
	// ContentWriter returns the writer the content is copied to; its
	// writes must not fail.
	ContentWriter() io.Writer
}

// ContentTeer is implemented by an Encoding that can copy the content
// entity it protects, exactly the bytes its signature covers (or, unsigned,
// that it encrypts; with neither, its body), to a writer of the caller's:
// what a ContentObserver needs. TeeContent is called before Wrap.
type ContentTeer interface {
	Encoding
	TeeContent(w io.Writer)
}

// Result is what a committed attempt brought back.
type Result struct {
	// Receipt is the partner's proof of receipt, when the protocol returns
	// one in its answer (an AS2 synchronous MDN). nil otherwise.
	Receipt *Receipt
	// Pending, when not nil, says the partner will send the receipt later
	// (an AS2 asynchronous MDN): the delivery waits for it.
	Pending *Pending
}

// Receipt is a partner's proof of receipt, kept in the message box.
type Receipt struct {
	ContentType string
	Data        []byte // as received: the whole MIME entity
	// Summary is one line for operators: the disposition.
	Summary string
}

// Pending identifies a receipt that will arrive later.
type Pending struct {
	// Correlation matches the receipt to the delivery (an AS2 Message-ID).
	Correlation string
	// Deadline is when the attempt counts as failed if none arrived.
	Deadline time.Time
	// Check is what the sender needs to judge the receipt when it comes
	// (ReceiptChecker): kept in the box, opaque to the runner, at most
	// 1 KiB.
	Check string
}

// ReceiptChecker is a Sender whose receipts may come later (Pending): an
// AS2 asynchronous MDN, which a receive location hands to the runner.
type ReceiptChecker interface {
	Sender
	// CheckReceipt judges in against p: what it returns is as Commit's (a
	// nil error delivers; a Permanent one suspends at once; any other
	// fails the attempt), with the receipt to keep when in.Raw was
	// readable.
	CheckReceipt(ctx context.Context, in IncomingReceipt, p Pending) (*Receipt, error)
	// Correlation is the Pending.Correlation of d's attempts (an AS2
	// Message-ID), known before an attempt ends: a receipt that comes
	// while d is being sent is told from one that names nothing.
	Correlation(d *Delivery) string
	// SameReceipt reports whether in is kept (the entity of a receipt
	// CheckReceipt judged, as the box keeps it) received again: the
	// same verdict on the same content, however built anew.
	// ErrReceiptUnusable when in settles nothing here (another party's).
	SameReceipt(in IncomingReceipt, kept []byte) (bool, error)
}

// IncomingReceipt is a receipt a receive transport got for one of this
// group's sends.
type IncomingReceipt struct {
	// Party is who sent it.
	Party string
	// Correlation names the attempt it answers: that attempt's
	// Pending.Correlation (an AS2 MDN's Original-Message-ID).
	Correlation string
	// Raw is the receipt as received, which the box keeps, and
	// ContentType its Content-Type.
	Raw         []byte
	ContentType string
	// Parsed is the receive transport's reading of Raw, for the checker
	// of the same protocol, so that Raw is read once; opaque to the
	// runner.
	Parsed any
}

// ReceiptSink takes the receipts a receive transport gets for this
// group's own sends (AS2 asynchronous MDNs) and settles the deliveries
// awaiting them.
type ReceiptSink interface {
	// SettleReceipt settles the delivery whose attempt in.Correlation
	// names. ErrReceiptUnusable when it names no delivery this engine can
	// settle (unknown, or not awaited any more): the receive transport
	// refuses it. ErrReceiptRepeated when the delivery was settled by
	// this receipt already, or keeps it from an earlier attempt (the
	// correlation is the same for every attempt): it changes nothing,
	// and the transport acknowledges it. ErrReceiptConflict when the delivery is settled
	// and keeps another receipt: it changes nothing, and the transport
	// refuses it. ErrReceiptNotYet when it may settle a delivery later
	// (being sent, its wait not recorded yet): the transport asks for it
	// again.
	SettleReceipt(ctx context.Context, in IncomingReceipt) error
}

// Errors of SettleReceipt for a receipt that settles nothing. A partner
// sends a receipt again when it did not get our answer: such a repeat is
// acknowledged (ErrReceiptRepeated), lest it be sent again without end;
// any other is refused.
var (
	ErrReceiptUnusable = errors.New("the receipt settles no delivery")
	ErrReceiptRepeated = errors.New("the receipt was received before")
	ErrReceiptConflict = errors.New("the delivery is settled and keeps another receipt")
	// ErrReceiptNotYet: nothing is settled now, but a receipt sent again
	// later may settle its delivery (a partner retries a refusal it is
	// told is temporary, not one it is told is final).
	ErrReceiptNotYet = errors.New("the receipt cannot be settled yet")
)

// Stager is a Sender that makes delivery exactly-once across crashes (the
// file transport): Commit leaves a staged copy behind that only Cleanup
// removes, after the runner has durably recorded the delivery.
type Stager interface {
	Sender
	// Redo finishes an attempt a crash interrupted: when a staged copy of
	// d exists it makes sure it is in place and returns done=true, and
	// the runner records d as delivered without running the pipeline
	// again (whose output would differ: encryption is randomised).
	Redo(ctx context.Context, d *Delivery) (done bool, err error)
	// Cleanup removes the staged copy of a delivery the box has recorded
	// as delivered. Best-effort: a leftover is harmless.
	Cleanup(d *Delivery) error
	// Staged lists the ids of deliveries with a staged copy.
	Staged() ([]int64, error)
	// SweepStale removes leftovers of interrupted attempts (never the only
	// copy of anything) older than olderThan, and returns how many.
	SweepStale(olderThan time.Duration) (removed int, err error)
}

// permanent marks an error that fails the same way on every attempt.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as one a retry cannot fix (a template that yields an
// invalid URL, a file name with a path separator): the runner suspends the
// delivery at once instead of using up its retries.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err, or an error it wraps, is Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// RetryAfter returns the wait before the next attempt that a failed
// attempt's partner asked for (an HTTP Retry-After), if err or an error it
// wraps has a RetryDelay method that gives one.
func RetryAfter(err error) (time.Duration, bool) {
	var d interface{ RetryDelay() time.Duration }
	if errors.As(err, &d) {
		if wait := d.RetryDelay(); wait > 0 {
			return wait, true
		}
	}
	return 0, false
}

// TargetDescriber is implemented by the Config of a send transport that
// can say where delivery d (its Message, of its Port) would go without
// sending anything, for bizpipe route to print: a file's path, a URL. A
// part that derives from a sensitive value is shown as message.Redacted, a
// password never. An error is what would suspend the delivery before
// anything is sent: a template that fails, a file name that is not one, a
// URL or header the transport refuses. It runs the transport's own checks,
// so that route and run cannot disagree.
type TargetDescriber interface {
	Config
	DescribeTarget(d *Delivery) (string, error)
}
