// Package transport holds what bizpipe's transports share: the sink a
// receiver hands messages to, and the delivery a sender is given. Each
// transport is a package below this one (file, http), holding its
// component spec and its receiving and sending.
//
// A receiver hands every message to a Sink and acknowledges its source
// (deletes the file, answers 202) only after the Sink returned: the Sink
// returns only once the message is durably committed to the message box.
//
// The runner evaluates a port's templates (file_name, url, headers) per
// message and hands the sender a Delivery with concrete values. A sender
// reports success only when the payload is durably delivered; any error
// means the attempt failed, and the runner retries or suspends per the
// port's retry policy.
package transport

import (
	"context"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// Sink stores a received message durably. The runner's sink commits it to the
// message box and routes it. dup reports that in.SourceKey was already
// stored: the source must still be acknowledged, but nothing new was published.
// An error means it was not stored, unless it wraps msgbox.ErrCommitUncertain:
// it may have been, and the source must be kept to publish it again under the
// same SourceKey.
type Sink interface {
	Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msg msgbox.Message, dup bool, err error)
}

// BodySink is a Sink that also opens the bytes a stored message arrived as
// (the runner's, over msgbox.Box.AsReceived: the body, or the bytes before
// a decoding location decoded them): the HTTP receiver compares a request
// repeating an Idempotency-Key with the message stored under it.
type BodySink interface {
	Sink
	// AsReceived opens the bytes stored message id arrived as; it
	// streams.
	AsReceived(ctx context.Context, id string) (io.ReadCloser, error)
}

// BatchSink is a Sink that also stores several messages at once, sharing
// one commit (the runner's, over msgbox.Batcher). The file receiver uses
// PublishBatch when its sink has it: the inputs a pass finds are claimed,
// stored and removed by the batch, one directory sync and one commit for
// many files.
type BatchSink interface {
	Sink
	// PublishBatch stores items as Publish stores each, and returns one
	// result per item, in order (see msgbox.Batcher.ReceiveBatch): an
	// item with Err nil is durably stored and its source may be
	// acknowledged; one with an error is not stored at all, unless the
	// error wraps msgbox.ErrCommitUncertain (it may be: see Sink).
	PublishBatch(ctx context.Context, items []msgbox.Receipt) []msgbox.ReceiveResult
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error)

// Publish calls f.
func (f SinkFunc) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	return f(ctx, in, body)
}

// DefaultContentType is the content type stamped on a message when neither
// the receive location nor (HTTP) the request declares one (spec §3).
const DefaultContentType = "application/octet-stream"

// Field is one top-level header field of the payload, in order.
type Field struct {
	Name  string
	Value string
}

// Fields are h's fields, in order, as the HTTP transports send them.
func Fields(h component.Header) []Field {
	fields := make([]Field, 0, len(h.Fields))
	for _, f := range h.Fields {
		fields = append(fields, Field{Name: f.Name, Value: f.Value})
	}
	return fields
}

// Payload is what a send port delivers.
type Payload struct {
	// Data is what a file transport writes: the whole MIME entity (headers,
	// blank line, body) when a pipeline produced one, else the raw body.
	Data []byte
	// Header and Body are what an HTTP transport sends: the entity's
	// top-level header fields as HTTP headers and its body (a sub-slice of
	// Data) as the request body. For a pass-through port Header holds just
	// Content-Type and Body is the raw message.
	Header []Field
	Body   []byte
}

// Delivery identifies one attempt's target with templates already evaluated.
type Delivery struct {
	// ID is the message box's delivery id: unique across every server
	// sharing the box, stable across retries and restarts.
	ID        int64
	MessageID string
	Port      string
	// FileName is the evaluated file_name template (file transport).
	FileName string
	// URL and Headers are the evaluated url and headers (HTTP transport).
	URL     string
	Headers map[string]string

	// FileNameSensitive reports that FileName derives from a sensitive
	// value: errors show it as (sensitive value).
	FileNameSensitive bool
	// URLOrigin says which parts of URL derive from a sensitive value and
	// from what the message's sender chose.
	URLOrigin Origin
	// HeadersSensitive reports that a header value derives from a
	// sensitive value. Header values are never shown; a partner's answer
	// may echo them, so its body and Location are not shown either.
	HeadersSensitive bool

	// First reports that no earlier attempt of the delivery is counted
	// (component.Delivery.First): a Stager may skip looking for its
	// staged copy, which only `messages resume` can have left, but must
	// still place it if it is there.
	First bool
	// Fence is component.Delivery.Fence: called right before the step
	// that makes the delivery visible (see CheckFence).
	Fence func(ctx context.Context) error
}

// CheckFence calls d.Fence, if there is one: a transport calls it right
// before the step that makes the delivery visible at the destination, and
// takes that step only when it returns nil.
func (d Delivery) CheckFence(ctx context.Context) error {
	if d.Fence == nil {
		return nil
	}
	return d.Fence(ctx)
}

// Origin says where the parts of an evaluated template came from (see
// lang.Template). The zero value: all from the configuration.
type Origin struct {
	// Sensitive reports that the text from SensitiveAt on derives, at
	// least in part, from a sensitive value: it is never shown.
	Sensitive   bool
	SensitiveAt int
	// FromSender reports that the text from FromSenderAt on derives, at
	// least in part, from what the message's sender chose (its file name,
	// its content type): a URL's scheme and host must not.
	FromSender   bool
	FromSenderAt int
}

// Permanent reports whether err is a failure that every attempt of the
// delivery would repeat: its target, evaluated from the message, is invalid
// (ErrInvalidFileName, ErrInvalidURL, ErrInvalidHeader). The runner
// suspends such a delivery at once instead of spending its retries.
func Permanent(err error) bool {
	return errors.Is(err, ErrInvalidFileName) || errors.Is(err, ErrInvalidURL) || errors.Is(err, ErrInvalidHeader)
}

// Sender delivers payloads.
type Sender interface {
	// Send delivers p. It returns nil only when the delivery is durable at
	// the destination (file renamed into place and synced; HTTP 2xx).
	Send(ctx context.Context, d Delivery, p Payload) error
}

// Stager is implemented by transports that make delivery exactly-once across
// crashes (the file transport): Send leaves a staged copy behind that only
// Cleanup removes, after the runner has durably recorded the delivery. Send
// must itself place a staged copy of d it finds, ignoring p: the runner
// calls Redo only for a delivery the box counted an attempt of (see
// msgbox.Delivery.Attempts), and `messages resume` resets that count.
type Stager interface {
	Sender
	// Redo finishes an attempt a crash interrupted, without the payload:
	// when a staged copy of delivery d exists it makes sure it is in place
	// and returns done=true; the runner then records d as delivered without
	// running the pipeline again (whose output would differ: encryption is
	// randomised). done=false means there is nothing staged: run the
	// pipeline and Send as usual.
	Redo(ctx context.Context, d Delivery) (done bool, err error)
	// Cleanup removes the staged copy of a delivery the box has recorded as
	// delivered. It is best-effort: a leftover staged copy is harmless.
	Cleanup(d Delivery) error
	// Staged lists the ids of the deliveries with a staged copy: a crash
	// between the box recording a delivery and Cleanup leaves one behind,
	// which the runner removes at start once the box says the delivery is
	// done.
	Staged() ([]int64, error)
	// SweepStale removes leftovers of interrupted attempts (never the only
	// copy of anything) older than olderThan, and returns how many.
	SweepStale(olderThan time.Duration) (removed int, err error)
}

// ErrInvalidFileName is wrapped by the errors for a file_name that is not a
// plain base name. Retrying such a delivery cannot help: the name is a
// function of the message.
var ErrInvalidFileName = errors.New("invalid file name")

// ErrInvalidURL is wrapped by the errors for an evaluated url that cannot
// be sent as it is. Retrying cannot help: the url is a function of the
// message.
var ErrInvalidURL = errors.New("invalid URL")

// ErrInvalidHeader is wrapped by the errors for a header no request can
// carry (a name that is not a token, a control character in a value).
// Retrying cannot help: the header is a function of the message.
var ErrInvalidHeader = errors.New("invalid header")

// SensitiveValue is what errors show instead of a sensitive value.
const SensitiveValue = redact.Shown

// Shorten cuts s to n bytes, marking the cut: file names and URLs come from
// messages and may be huge. It cuts before a character that the n-th byte
// would split: half of one would show as a byte the value does not hold
// ("\xc3" where %q quotes it).
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); i++ {
		n--
	}
	return s[:n] + "..."
}

// Writing is an attempt in progress as a transport's sending half makes it:
// written to, then committed or aborted.
type Writing interface {
	io.Writer
	Commit(ctx context.Context) error
	Abort()
}

// Attempt adapts w to the component.Attempt the runner drives: a commit
// brings no receipt back, and its errors that every attempt would repeat
// are marked permanent (PermanentError).
func Attempt(w Writing) component.Attempt { return attempt{w} }

type attempt struct{ w Writing }

func (a attempt) Write(p []byte) (int, error) { return a.w.Write(p) }

func (a attempt) Commit(ctx context.Context) (component.Result, error) {
	return component.Result{}, PermanentError(a.w.Commit(ctx))
}

func (a attempt) Abort() { a.w.Abort() }

// PermanentError marks err for the runner as a failure that every attempt
// would repeat (see Permanent), so that it suspends the delivery at once.
func PermanentError(err error) error {
	if Permanent(err) {
		return component.Permanent(err)
	}
	return err
}
