// Package receive holds the receive-location transports: a polling file
// receiver and an HTTP listener (spec §3 receive_location, §9).
//
// A receiver hands every message to a Sink and acknowledges its source (deletes
// the file, answers 202) only after the Sink returned: the Sink returns only
// once the message is durably committed to the message box.
package receive

import (
	"context"
	"io"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// Sink stores a received message durably. The runner's sink commits it to the
// message box and routes it. dup reports that in.SourceKey was already
// stored: the source must still be acknowledged, but nothing new was published.
type Sink interface {
	Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msg msgbox.Message, dup bool, err error)
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
	// acknowledged; one with an error is not stored at all.
	PublishBatch(ctx context.Context, items []msgbox.Receipt) []msgbox.ReceiveResult
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error)

// Publish calls f.
func (f SinkFunc) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	return f(ctx, in, body)
}

// FileOptions configures a file receive location.
type FileOptions struct {
	// Location is the receive location's name, stamped on each message.
	Location     string
	Dir          string
	Pattern      string        // glob on the base name; "*" by default
	PollInterval time.Duration // 1s by default (spec §3)
	ContentType  string        // DefaultContentType when empty
	Properties   map[string]string
	// SensitiveProperties names the Properties whose values are
	// sensitive; each message carries the names to the box.
	SensitiveProperties []string
	// Owner is a stable name of this process's instance (e.g. the server
	// name). Files are claimed by renaming them to a hidden name that
	// carries the owner, so that several servers polling one shared
	// directory never publish a file twice, and a restarted owner finds
	// the files it had claimed when it was killed.
	Owner string
	// TakeoverAfter is how old another owner's claim must be before this
	// owner takes it over (a server that died and does not come back
	// leaves its claims behind). 0 means never. The claim keeps its
	// SourceKey, so a message the dead server had committed is not
	// published twice. (Added for scale-out.)
	TakeoverAfter time.Duration
	// Concurrency is how many files one pass publishes at once; 0 means
	// defaultConcurrency. (Added for throughput.) With a BatchSink it is
	// how many files a batch takes at most (one claim sync and one commit
	// for them all), and a pass runs two batches at once, so that one's
	// syncs overlap the other's work.
	Concurrency int
	// SettleTime is how far a file's modification time must be from now
	// before the file is taken, so that one still being written is left
	// alone (see File). 0 means min(PollInterval, 500ms). (Added: tests
	// and the runner's --once mode need it shorter than the default.)
	SettleTime time.Duration
}

// DefaultContentType is the content type stamped on a message when neither
// the receive location nor (HTTP) the request declares one (spec §3).
const DefaultContentType = "application/octet-stream"

// DefaultMaxBody is HTTPOptions.MaxBody when it is 0: 64 MiB.
const DefaultMaxBody int64 = 64 << 20

// DefaultBodyIdleTimeout is HTTPOptions.BodyIdleTimeout when it is 0.
const DefaultBodyIdleTimeout = 30 * time.Second

// HTTPOptions configures an HTTP receive location.
type HTTPOptions struct {
	Location    string
	Listen      string // host:port
	Path        string // request path that accepts POST; "/" by default
	MaxBody     int64  // 413 above this; 0 means DefaultMaxBody
	ContentType string // default when the request has none; else DefaultContentType
	Properties  map[string]string
	// BodyIdleTimeout is how long a request body may bring no byte
	// before the request is answered 408 and nothing is stored, and how
	// long an upload waits for room in Budget; 0 means
	// DefaultBodyIdleTimeout. (Added: the contract's transport "http"
	// has no such attribute, so the runner uses the default.)
	BodyIdleTimeout time.Duration
	// Budget bounds the memory of the uploads in flight, shared with the
	// receivers given the same one; nil means a Budget of
	// DefaultInFlightBytes for this receiver alone.
	Budget *Budget
	// SensitiveProperties names the Properties whose values are
	// sensitive; each message carries the names to the box.
	SensitiveProperties []string
}
