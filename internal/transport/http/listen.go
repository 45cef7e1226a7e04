package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// maxIdempotencyKey bounds an Idempotency-Key (a UUID is 36 bytes).

// HealthPath answers GET (and HEAD) with 200 and the body "ok" while the
// receiver is serving, for load balancers and probes. It is reserved: no
// receive location may use it as its Path.
const HealthPath = "/healthz"

// MessageIDHeader carries the stored message's id in a 202 response.
const MessageIDHeader = "Bizpipe-Message-Id"

// IdempotencyKeyHeader is the request header (IETF draft "The
// Idempotency-Key HTTP Header Field") that makes a POST safe to repeat:
// the first request with a key stores the message, and a repeat is
// answered with that message's id instead of storing it again.
const IdempotencyKeyHeader = "Idempotency-Key"

// ReplayedHeader is "true" in the answer to a repeated Idempotency-Key.
const ReplayedHeader = "Idempotent-Replayed"

const maxIdempotencyKey = 255

// Server limits. The whole request's (ReadTimeout) is the location's
// request_timeout, so that a client trickling a body cannot hold a
// connection and an upload forever (ListenerOptions.BodyIdleTimeout
// bounds each pause of the body); the write timeout, writeMargin past
// it, runs from the end of the request header, so it must cover reading
// the body and storing it as well as writing the answer.
const (
	readHeaderTimeout = 10 * time.Second
	writeMargin       = time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// h2Window is the HTTP/2 flow control window a server grants each
// connection, and each request on it: how much of the bodies HTTP/2 reads
// ahead of the handlers, outside the Budget. Go's default, 1 MiB each,
// would let every connection hold that much; a connection's window is
// never less than HTTP/2's initial one, a byte under 64 KiB.
const h2Window = 64 << 10

// h2MaxStreams is how many requests one HTTP/2 connection may carry at
// once (SETTINGS_MAX_CONCURRENT_STREAMS). max_connections bounds what a
// flood of clients holds, each request its handler, its header (up to
// maxHeaderBytes, which HPACK lets a client send in a few bytes) and its
// upload waiting for the Budget: Go's default, 250, would make each
// connection hold 250 of them. A client with more to send waits for a
// stream, or opens another connection, which the cap counts.
const h2MaxStreams = 8

// Listener is an HTTP receive location (spec §3 transport "http").
//
// POST Path stores the request body as one message and answers 202 Accepted
// with the message id in the Bizpipe-Message-Id header and the JSON body
// {"id":"..."}, only after the Sink returned: a client that got no 202 must
// send again. Without an Idempotency-Key header that is at least once: a
// client that sends again after a lost answer stores the message twice.
// With one (1 to 255 visible ASCII characters, unique per message for
// the client), the SourceKey is the location and the key, so the box
// de-duplicates: a repeat with the same body is answered 202 with the
// first message's id and Idempotent-Replayed: true, its body not stored.
// A message the location's decoders refused does not hold the key: a
// repeat is stored as a new message, decoded again. A
// repeat whose body differs is answered 422 (as the IETF draft says) with
// a JSON error naming the key, and nothing is stored: a 202 would tell the
// client its new body was stored when it was dropped. The bodies are
// compared by length and SHA-256, each streamed (the request's as it is
// read, the stored bytes as received from the Sink when it is a
// transport.BodySink; with a Sink that is not, by length only). Other answers:
//
//   - 411: the request declares neither a Content-Length nor chunked
//     transfer encoding (an HTTP/1.0 POST without Content-Length, whose
//     body cannot be told from the connection's end); nothing is stored.
//   - 413: the body is larger than MaxBody; nothing is stored. A declared
//     Content-Length above the limit is refused before reading; a body that
//     turns out longer makes the body reader fail, while the receiver spools
//     it or else in the Sink, which fails, so the box rolls back.
//   - 408: the body brought no byte for BodyIdleTimeout, or the whole
//     request took longer than RequestTimeout (the answer and the log say
//     which); nothing is stored.
//   - 400: the Content-Type or Idempotency-Key is malformed, or the body
//     could not be read (the client went away); nothing is stored.
//   - 503: the Sink failed (storage problem); the answer says only that the
//     message was not stored, the log says why. Also when the Budget had
//     no room for the upload within BodyIdleTimeout, and when a Shutdown
//     cancelled the upload or its store (logged as the stop's, a
//     warning, not as the Sink failing). All with Retry-After.
//   - 405 with Allow: any method but POST on Path (GET and HEAD on
//     HealthPath); 404 any other path.
//
// The message's content type is the request's Content-Type, else (or
// always, with IgnoreContentType) ContentType. Its properties are the location's configured Properties
// only: request headers never set properties, because send ports'
// filters route on them (e.g. partner), and a client able to set them could
// send its message to another partner's port.
//
// Memory: the receiver reads the first MiB (spoolBytes) of a body
// itself, in segments counted against the Budget, and calls the Sink once
// the body is complete or that much has arrived; a larger body then streams
// into the Sink, its spooled segments' budget kept for the box's chunk
// buffer. So a stalled client holds what it sent, up to spoolBytes, and
// all uploads together at most the Budget's limit (plus each connection's
// own small buffers).
type Listener struct {
	o      ListenerOptions
	sink   transport.Sink
	log    *slog.Logger
	budget *Budget

	serving Serving // it also tracks the uploads, for Shutdown
}

// NewListener checks the options and returns an HTTP receiver; Start listens.
// log may be nil. Its errors leave naming the location to the caller.
func NewListener(o ListenerOptions, sink transport.Sink, log *slog.Logger) (*Listener, error) {
	if o.Location == "" {
		return nil, errors.New("http receive location: Location is required")
	}
	errf := func(format string, args ...any) error {
		return fmt.Errorf("http receive location: %s", fmt.Sprintf(format, args...))
	}
	if sink == nil {
		return nil, errf("Sink is required")
	}
	if o.Listen == "" {
		return nil, errf("Listen address is required")
	}
	if o.Path == "" {
		o.Path = "/"
	}
	if !strings.HasPrefix(o.Path, "/") {
		return nil, errf("path %q must start with /", o.Path)
	}
	if o.Path == HealthPath {
		return nil, errf("path %s is reserved for health checks", HealthPath)
	}
	switch {
	case o.MaxBody < 0:
		return nil, errf("negative max body %d", o.MaxBody)
	case o.MaxBody == 0:
		o.MaxBody = DefaultMaxBody
	}
	switch {
	case o.BodyIdleTimeout < 0:
		return nil, errf("negative body idle timeout %v", o.BodyIdleTimeout)
	case o.BodyIdleTimeout == 0:
		o.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	switch {
	case o.RequestTimeout < 0:
		return nil, errf("negative request timeout %v", o.RequestTimeout)
	case o.RequestTimeout == 0:
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxConnections < 0 {
		return nil, errf("negative max connections %d", o.MaxConnections)
	}
	budget := o.Budget
	if budget == nil {
		budget = NewBudget(DefaultInFlightBytes)
	}
	if o.ContentType == "" {
		o.ContentType = transport.DefaultContentType
	}
	o.Properties = maps.Clone(o.Properties)
	o.SensitiveProperties = slices.Clone(o.SensitiveProperties)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{o: o, sink: sink, log: log.With("receive_location", o.Location), budget: budget}, nil
}

// Start listens on Listen and serves in the background; it returns once the
// listener is open, or an error naming the location and address when it
// cannot be (address in use). ctx bounds only the listening itself; request
// contexts inherit its values but not its cancellation, so that a stopping
// runner's cancelled context does not abort requests in flight: call
// Shutdown to stop.
func (h *Listener) Start(ctx context.Context) error {
	if _, err := h.serving.Start(ctx, ServeOptions{Location: h.o.Location, Listen: h.o.Listen, Handler: h, Log: h.log, Name: "http",
		RequestTimeout: h.o.RequestTimeout, MaxConnections: h.o.MaxConnections, BodyIdleTimeout: h.o.BodyIdleTimeout}); err != nil {
		return err
	}
	h.log.Info("http receive location listening", "addr", h.serving.Addr().String(), "path", h.o.Path)
	return nil
}

// Addr is the address listened on (useful with port 0), or nil before
// Start.
func (h *Listener) Addr() net.Addr { return h.serving.Addr() }

// Shutdown stops accepting connections and waits for the requests in
// flight to finish (their messages stored and answered); if ctx ends
// first, the uploads still arriving are answered 503 and the rest aborted
// (Serving.Shutdown). Shutdown before Start does nothing.
func (h *Listener) Shutdown(ctx context.Context) error {
	if err := h.serving.Shutdown(ctx); err != nil {
		return err
	}
	if h.serving.Addr() != nil {
		h.log.Info("http receive location stopped")
	}
	return nil
}

// ServeHTTP handles one request (see Listener). It is exported so that the
// receiver can be tested, or mounted, as a plain http.Handler.
func (h *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case h.o.Path:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed; use POST")
			return
		}
		h.receive(w, r)
	case HealthPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method not allowed; use GET")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok")
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

// receive stores one POSTed message.
func (h *Listener) receive(w http.ResponseWriter, r *http.Request) {
	log := h.log.With("remote", r.RemoteAddr)
	if RefuseUnsized(w, r, log, writeError) {
		return
	}
	if r.ContentLength > h.o.MaxBody {
		log.Warn("request refused: body too large", "size", r.ContentLength, "max_body", h.o.MaxBody)
		w.Header().Set("Connection", "close") // do not read the body to reuse the connection
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", h.o.MaxBody))
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" || h.o.IgnoreContentType {
		ct = h.o.ContentType
	} else if _, _, err := message.NormaliseContentType(ct); err != nil {
		// The type ends up in MIME headers the send pipelines write: one
		// they would refuse ("garbage", no subtype) is refused here.
		log.Warn("request refused: malformed Content-Type", "error", err)
		writeError(w, http.StatusBadRequest, "malformed Content-Type")
		return
	}
	in := msgbox.Incoming{
		ReceiveLocation: h.o.Location,
		ContentType:     ct,
		Properties:      maps.Clone(h.o.Properties),
	}
	in.SensitiveProperties = slices.Clone(h.o.SensitiveProperties)
	if keys := r.Header.Values(IdempotencyKeyHeader); len(keys) > 0 {
		if len(keys) > 1 || !validIdempotencyKey(keys[0]) {
			log.Warn("request refused: malformed Idempotency-Key")
			writeError(w, http.StatusBadRequest, fmt.Sprintf("malformed Idempotency-Key: give one, of 1 to %d visible ASCII characters", maxIdempotencyKey))
			return
		}
		// Scoped to the location (and marked as HTTP's): two locations,
		// or a file location's claim keys, never share a key. Anyone who
		// reaches the location can send one, as an AS2 Message-ID: a
		// message its decoders refuse does not hold the key
		// (SourceKeyIfDecoded), so that junk sent first cannot take the
		// place of the client's message, nor a refused one that of its
		// repeat once the cause is fixed.
		in.SourceKey = h.o.Location + "/http/" + keys[0]
		in.SourceKeyIfDecoded = true
	}
	body := NewBody(w, r, h.o.MaxBody, h.o.BodyIdleTimeout, h.o.RequestTimeout)
	defer h.serving.Track(body)()
	up := h.budget.NewUpload(body, h.o.BodyIdleTimeout)
	defer up.Close()
	src, err := up.Stream(r.Context())
	if err != nil {
		h.refuse(w, log, up, err, in.SourceKey != "")
		return
	}
	var sent *digestReader
	if in.SourceKey != "" {
		// What the Sink reads is hashed: a repeat found only once the
		// body was read (another request with the key committed
		// meanwhile) is compared too.
		sent = &digestReader{r: src, h: sha256.New()}
		src = sent
	}
	msg, dup, err := h.sink.Publish(r.Context(), in, src)
	if err == nil && dup && sent != nil && !body.tooLarge {
		if h.repeatDiffers(w, r, log, up, sent, msg) {
			return
		}
	}
	switch {
	case body.tooLarge && err == nil:
		// The Sink ignored the body reader's error: a contract breach
		// that stored a truncated body. Say so loudly; an operator must
		// terminate the message.
		log.Error("sink stored a message whose body exceeded max_body; terminate it", "message_id", msg.ID, "max_body", h.o.MaxBody)
		writeError(w, http.StatusInternalServerError, "internal error")
	case err != nil:
		h.refuse(w, log, up, err, in.SourceKey != "")
	default:
		// Debug, as the file location's line: the sink logs the message.
		log.Debug("message received", "message_id", msg.ID, "size", msg.Size, "replayed", dup)
		w.Header().Set(MessageIDHeader, msg.ID)
		if dup {
			w.Header().Set(ReplayedHeader, "true")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(struct {
			ID string `json:"id"`
		}{msg.ID})
	}
}

// refuse answers a request whose body could not be spooled or stored, by
// the cause: err is the Sink's or the upload's error, the upload says
// whether the body or the Budget was to blame. keyed: the request has an
// Idempotency-Key, which makes sending it again safe.
func (h *Listener) refuse(w http.ResponseWriter, log *slog.Logger, up *Upload, err error, keyed bool) {
	if up.Refuse(w, log, err, writeError) {
		return
	}
	log.Error("storing a received message failed", "error", err)
	w.Header().Set("Retry-After", "5")
	repeat := ""
	if keyed {
		repeat = "with the same " + IdempotencyKeyHeader + " header"
	}
	writeError(w, http.StatusServiceUnavailable, NotStored(err, repeat))
}

// NotStored is what a receive location over HTTP (this one's or AS2's)
// tells a client, with 503 and Retry-After, when the message box failed to
// store its message: not stored; or, for a commit in doubt (its sync
// failed: msgbox.ErrCommitUncertain), maybe stored. Then a repeat sent as
// repeat says (with the same Idempotency-Key, Message-ID) is stored once;
// with repeat "" (a request without a key) a repeat may store it twice,
// and the answer says so. Saying "not stored" of a commit in doubt, which
// usually was, led clients to send again without their key, doubling the
// message.
func NotStored(err error, repeat string) string {
	switch {
	case !errors.Is(err, msgbox.ErrCommitUncertain):
		return "message not stored; try again later"
	case repeat == "":
		return "storing the message may not have completed: it may be stored already, and sending it again may store it twice; send an " +
			IdempotencyKeyHeader + " header to make repeats safe"
	default:
		return "storing the message may not have completed; send it again " + repeat + ", and it is stored once"
	}
}

// digestReader hashes and counts what is read through it.
type digestReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (d *digestReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	return n, err
}

// repeatDiffers checks a request that repeats a stored Idempotency-Key
// against msg, the message stored under it. It reports whether it
// answered the request: 422 when the bodies differ, or the body's error
// when the rest of it could not be read, or 503 when the stored body could
// not be. Otherwise the caller answers the replay.
func (h *Listener) repeatDiffers(w http.ResponseWriter, r *http.Request, log *slog.Logger, up *Upload, sent *digestReader, msg msgbox.Message) bool {
	key := r.Header.Get(IdempotencyKeyHeader)
	differs := func() bool {
		log.Warn("request refused: Idempotency-Key reused with another body; nothing stored", "message_id", msg.ID)
		w.Header().Set("Connection", "close") // the rest of the body may be unread
		writeError(w, http.StatusUnprocessableEntity,
			fmt.Sprintf("Idempotency-Key %q was used before with another body; this request's body differs, so it is not stored", key))
		return true
	}
	// The rest of the request, as the box did not read it (a duplicate
	// is found first); bounded by max_body and the timeouts, like any.
	if _, err := io.Copy(io.Discard, sent); err != nil {
		h.refuse(w, log, up, err, true)
		return true
	}
	bs, ok := h.sink.(transport.BodySink)
	if !ok {
		// msg.Size is the stored body's, which is what was received
		// when the location does not decode.
		if sent.n != msg.Size {
			return differs()
		}
		return false
	}
	rc, err := bs.AsReceived(r.Context(), msg.ID)
	if err == nil {
		stored := sha256.New()
		var n int64
		n, err = io.Copy(stored, rc)
		rc.Close()
		if err == nil {
			if n != sent.n || !bytes.Equal(stored.Sum(nil), sent.h.Sum(nil)) {
				return differs()
			}
			return false
		}
	}
	log.Error("reading the stored message to compare a repeated Idempotency-Key failed", "message_id", msg.ID, "error", err)
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "the repeated request could not be checked; try again later")
	return true
}

// validIdempotencyKey reports whether key is 1 to maxIdempotencyKey visible
// ASCII characters: it becomes part of a SourceKey and of log lines.
func validIdempotencyKey(key string) bool {
	if key == "" || len(key) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// writeError answers with a small JSON error that reveals no internals.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

// DefaultMaxBody is ListenerOptions.MaxBody when it is 0: 64 MiB.
const DefaultMaxBody int64 = 64 << 20

// DefaultBodyIdleTimeout is ListenerOptions.BodyIdleTimeout when it is 0.
const DefaultBodyIdleTimeout = 30 * time.Second

// DefaultRequestTimeout is ListenerOptions.RequestTimeout when it is 0, and
// request_timeout's default: one hour, so that a body of the default
// max_body (1 GiB) arrives at 300 kB/s (2.4 Mbit/s), a slow uplink. The
// cap does not guard memory (the Budget does) nor the message box (which
// holds no lock while a body streams in), and the idle timeout already
// cuts off a client that stops sending: it only bounds how long a client
// sending a byte just often enough can hold a connection and an upload.
const DefaultRequestTimeout = time.Hour

// ListenerOptions configures an HTTP receive location.
type ListenerOptions struct {
	Location    string
	Listen      string // host:port
	Path        string // request path that accepts POST; "/" by default
	MaxBody     int64  // 413 above this; 0 means DefaultMaxBody
	ContentType string // default when the request has none; else DefaultContentType
	// IgnoreContentType: the message's content type is ContentType
	// whatever the request's Content-Type says.
	IgnoreContentType bool
	Properties        map[string]string
	// BodyIdleTimeout is how long a request body may bring no byte
	// before the request is answered 408 and nothing is stored, and how
	// long an upload waits for room in Budget; 0 means
	// DefaultBodyIdleTimeout. (Added: the contract's transport "http"
	// has no such attribute, so the runner uses the default.)
	BodyIdleTimeout time.Duration
	// RequestTimeout bounds a whole request, body included, from its
	// first byte: a request that takes longer is answered 408 ("the
	// request took longer than ...") and nothing is stored; 0 means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxConnections is how many connections may be open at once; 0
	// means DefaultMaxConnections, and it may not be negative.
	MaxConnections int
	// Budget bounds the memory of the uploads in flight, shared with the
	// receivers given the same one; nil means a Budget of
	// DefaultInFlightBytes for this receiver alone.
	Budget *Budget
	// SensitiveProperties names the Properties whose values are
	// sensitive; each message carries the names to the box.
	SensitiveProperties []string
}
