// Package transporttest holds what the transports' tests share: an
// in-memory sink that records what a receiver publishes, a log handler that
// keeps records for assertions, and polling.
package transporttest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// Published is one message a Recorder took.
type Published struct {
	In   msgbox.Incoming
	Body []byte
	ID   string
	Dup  bool
}

// Recorder is an in-memory Sink. It reads the body to the end as the box
// does and keeps what it got. Hooks let a test fail, delay or inspect.
type Recorder struct {
	mu   sync.Mutex
	msgs []Published
	keys map[string]string // SourceKey → id, for de-duplication
	n    int

	// before runs inside Publish before the body is read; an error fails it.
	before func(ctx context.Context, in msgbox.Incoming) error
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{keys: map[string]string{}}
}

// Stored makes the Recorder hold key as stored before (a crash between
// the commit and the removal of the source).
func (r *Recorder) Stored(key, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys[key] = id
}

// Publish implements the receivers' sink.
func (r *Recorder) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	r.mu.Lock()
	before := r.before
	r.mu.Unlock()
	if before != nil {
		if err := before(ctx, in); err != nil {
			return msgbox.Message{}, false, err
		}
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return msgbox.Message{}, false, fmt.Errorf("Recorder: reading body: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.keys[in.SourceKey]; ok && in.SourceKey != "" {
		r.msgs = append(r.msgs, Published{In: in, ID: id, Dup: true})
		return msgbox.Message{ID: id}, true, nil
	}
	r.n++
	id := fmt.Sprintf("msg%04d", r.n)
	if in.SourceKey != "" {
		r.keys[in.SourceKey] = id
	}
	r.msgs = append(r.msgs, Published{In: in, Body: data, ID: id})
	return msgbox.Message{ID: id, ReceiveLocation: in.ReceiveLocation, FileName: in.FileName, Size: int64(len(data))}, false, nil
}

// SetBefore sets the hook Publish runs before reading the body.
func (r *Recorder) SetBefore(f func(ctx context.Context, in msgbox.Incoming) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.before = f
}

// All returns a copy of what was Published.
func (r *Recorder) All() []Published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Published(nil), r.msgs...)
}

// LogRecorder is a slog.Handler that keeps records for assertions.
type LogRecorder struct {
	mu    *sync.Mutex
	recs  *[]slog.Record
	attrs []slog.Attr
}

// NewLog returns a logger whose records h keeps.
func NewLog() (*slog.Logger, *LogRecorder) {
	h := &LogRecorder{mu: &sync.Mutex{}, recs: &[]slog.Record{}}
	return slog.New(h), h
}

// Enabled, Handle, WithAttrs and WithGroup implement slog.Handler.
func (h *LogRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *LogRecorder) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r)
	return nil
}

func (h *LogRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *LogRecorder) WithGroup(string) slog.Handler { return h }

// Records returns a copy of the records kept.
func (h *LogRecorder) Records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), *h.recs...)
}

// Count returns how many records at level have a message containing sub.
func (h *LogRecorder) Count(level slog.Level, sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range *h.recs {
		if r.Level == level && strings.Contains(r.Message, sub) {
			n++
		}
	}
	return n
}

// CountAny returns how many records at any level have a message containing
// sub.
func (h *LogRecorder) CountAny(sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range *h.recs {
		if strings.Contains(r.Message, sub) {
			n++
		}
	}
	return n
}

// CountFile returns how many records at level or above have the attribute
// file=name.
func (h *LogRecorder) CountFile(name string, level slog.Level) int {
	_, n := h.fileRecord(name, level)
	return n
}

// FindFile returns the string attributes of the first record at level or
// above with the attribute file=name.
func (h *LogRecorder) FindFile(name string, level slog.Level) (map[string]string, bool) {
	m, n := h.fileRecord(name, level)
	return m, n > 0
}

func (h *LogRecorder) fileRecord(name string, level slog.Level) (first map[string]string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range *h.recs {
		if r.Level < level {
			continue
		}
		m := map[string]string{"msg": r.Message}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		if m["file"] == name {
			if n == 0 {
				first = m
			}
			n++
		}
	}
	return first, n
}

// Find returns the string attributes of the first record whose message
// contains sub.
func (h *LogRecorder) Find(sub string) (map[string]string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range *h.recs {
		if strings.Contains(r.Message, sub) {
			m := map[string]string{}
			r.Attrs(func(a slog.Attr) bool {
				m[a.Key] = a.Value.String()
				return true
			})
			return m, true
		}
	}
	return nil, false
}

// WaitFor polls cond until it holds or the deadline passes.
func WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Log texts of the HTTP listener, which serves AS2 too, that the tests of
// both look for: the start of the warning for a complete body whose store
// a stop cancelled once its grace ran out, and of the stop's own warning.
const (
	StoreAborted  = "stopping: storing a received message cancelled"
	StoresAborted = "stopping: messages being stored cancelled"
)

// Await waits for a signal on ch, failing the test after 30 seconds: a
// bound on the test, not a time under test.
func Await(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// BoxSink is a sink storing into a real message box, unrouted, one by one
// or in batches.
type BoxSink struct{ Box msgbox.Box }

// Publish stores one message.
func (s BoxSink) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	return s.Box.ReceiveRouted(ctx, in, body, nil)
}

// PublishBatch stores several in one commit.
func (s BoxSink) PublishBatch(ctx context.Context, items []msgbox.Receipt) []msgbox.ReceiveResult {
	return s.Box.ReceiveBatch(ctx, items, nil)
}

// Pattern returns n deterministic pseudo-random bytes.
func Pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// WriteInPieces writes data to w in pieces of the given sizes, cycling, as
// a stage's output reaches a transport.
func WriteInPieces(t *testing.T, w io.Writer, data []byte, sizes []int) {
	t.Helper()
	for i := 0; len(data) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(data))
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		data = data[n:]
	}
}

// Trickle writes a byte to w every pace, in the background, as a client
// that keeps sending but too slowly: until a write fails (the server
// stopped reading) or stop is called, which waits for it to end.
func Trickle(w io.Writer, pace time.Duration) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-time.After(pace):
			}
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// NewBox opens a fresh SQLite message box in a temporary directory,
// closed when the test ends.
func NewBox(t testing.TB) *sqlitebox.Box {
	t.Helper()
	box, err := sqlitebox.Open(filepath.Join(t.TempDir(), "box.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	return box
}

// CheckJudgedAlike checks that validate and a delivery judge a
// configured value alike: validate's diagnostics for it (diags) are none
// exactly when a delivery of it succeeds (err nil). A diagnostic must name
// send_port "p" and give the reason once (its detail does not repeat the
// delivery error's prefix, repeated), and never show any of hidden (the
// parts of a sensitive value). what names the value in failures.
func CheckJudgedAlike(t testing.TB, what string, diags []*hcl.Diagnostic, err error, repeated string, hidden ...string) {
	t.Helper()
	if refused := err != nil; refused != (len(diags) > 0) {
		t.Errorf("%s: validate's diagnostics %v, but a delivery's error %v", what, diags, err)
		return
	}
	if len(diags) == 0 {
		return
	}
	d := diags[0].Detail
	if !strings.Contains(d, `send_port "p"`) || strings.Contains(d, repeated) {
		t.Errorf("%s: detail %q, want it to name the port and give the reason once", what, d)
	}
	for _, h := range hidden {
		if strings.Contains(d, h) {
			t.Errorf("%s: detail %q shows %q", what, d, h)
		}
	}
}
