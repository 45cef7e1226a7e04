package receive

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// published is one message a recorder took.
type published struct {
	In   msgbox.Incoming
	Body []byte
	ID   string
	Dup  bool
}

// recorder is an in-memory Sink. It reads the body to the end as the box
// does and keeps what it got. Hooks let a test fail, delay or inspect.
type recorder struct {
	mu   sync.Mutex
	msgs []published
	keys map[string]string // SourceKey → id, for de-duplication
	n    int

	// before runs inside Publish before the body is read; an error fails it.
	before func(ctx context.Context, in msgbox.Incoming) error
}

func newRecorder() *recorder {
	return &recorder{keys: map[string]string{}}
}

// stored makes the recorder hold key as stored before (a crash between
// the commit and the removal of the source).
func (r *recorder) stored(key, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys[key] = id
}

func (r *recorder) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
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
		return msgbox.Message{}, false, fmt.Errorf("recorder: reading body: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.keys[in.SourceKey]; ok && in.SourceKey != "" {
		r.msgs = append(r.msgs, published{In: in, ID: id, Dup: true})
		return msgbox.Message{ID: id}, true, nil
	}
	r.n++
	id := fmt.Sprintf("msg%04d", r.n)
	if in.SourceKey != "" {
		r.keys[in.SourceKey] = id
	}
	r.msgs = append(r.msgs, published{In: in, Body: data, ID: id})
	return msgbox.Message{ID: id, ReceiveLocation: in.ReceiveLocation, FileName: in.FileName, Size: int64(len(data))}, false, nil
}

func (r *recorder) setBefore(f func(ctx context.Context, in msgbox.Incoming) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.before = f
}

// all returns a copy of what was published.
func (r *recorder) all() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]published(nil), r.msgs...)
}

// logRecorder is a slog.Handler that keeps records for assertions.
type logRecorder struct {
	mu    *sync.Mutex
	recs  *[]slog.Record
	attrs []slog.Attr
}

func newLog() (*slog.Logger, *logRecorder) {
	h := &logRecorder{mu: &sync.Mutex{}, recs: &[]slog.Record{}}
	return slog.New(h), h
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r)
	return nil
}

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// count returns how many records at level have a message containing sub.
func (h *logRecorder) count(level slog.Level, sub string) int {
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

// countAny returns how many records at any level have a message containing
// sub.
func (h *logRecorder) countAny(sub string) int {
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

// countFile returns how many records at level or above have the attribute
// file=name.
func (h *logRecorder) countFile(name string, level slog.Level) int {
	_, n := h.fileRecord(name, level)
	return n
}

// findFile returns the string attributes of the first record at level or
// above with the attribute file=name.
func (h *logRecorder) findFile(name string, level slog.Level) (map[string]string, bool) {
	m, n := h.fileRecord(name, level)
	return m, n > 0
}

func (h *logRecorder) fileRecord(name string, level slog.Level) (first map[string]string, n int) {
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

// attrs returns the string attributes of the first record whose message
// contains sub.
func (h *logRecorder) find(sub string) (map[string]string, bool) {
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// oldTime is a modification time well past any settle time used in tests.
func oldTime() time.Time { return time.Now().Add(-time.Hour) }

// writeFile writes a file and backdates it so that it counts as settled.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, oldTime(), oldTime()); err != nil {
		t.Fatal(err)
	}
	return p
}

// names lists a directory's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range es {
		ns = append(ns, e.Name())
	}
	return ns
}

// rawConn opens a connection to addr and writes req on it: a client that
// sends what it likes and then, perhaps, nothing more. It is closed when
// the test ends.
func rawConn(t *testing.T, addr string, req ...[]byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, b := range req {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// readStatus reads the answer on c. The deadline only turns a server that
// never answers into a failure instead of a hung test.
func readStatus(c net.Conn) (int, error) {
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// header is a POST request's head; length < 0 means chunked.
func header(length int) []byte {
	if length < 0 {
		return []byte("POST /orders HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
	}
	return fmt.Appendf(nil, "POST /orders HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", length)
}

// chunk is one chunk of a chunked body.
func chunk(data []byte) []byte {
	return append(fmt.Appendf(nil, "%x\r\n", len(data)), append(data, "\r\n"...)...)
}
