package http

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
	"github.com/hashicorp/hcl/v2"
)

const capWarning = "receive location has max_connections open, none idle"

// capOf is the connection cap of h's serving.
func capOf(h *Listener) *connCap {
	h.serving.mu.Lock()
	defer h.serving.mu.Unlock()
	return h.serving.ln
}

// idleConns counts the connections the server reported idle.
func (l *connCap) idleConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.idle)
}

// TestConnCapWaitsForASlot: with max_connections open and none idle (two
// clients that connected and sent nothing), a third client's request is
// not taken until one of them goes; the location says it is at its cap.
func TestConnCapWaitsForASlot(t *testing.T) {
	rec := transporttest.NewRecorder()
	o := httpOpts()
	o.MaxConnections = 2
	h, base, lr := startHTTP(t, o, rec)
	addr := strings.TrimPrefix(base, "http://")
	stalled := rawConn(t, addr)
	rawConn(t, addr)
	transporttest.WaitFor(t, "the accept waiting at the cap", capOf(h).atCap)

	third := rawConn(t, addr, append(header(1), 'x'))
	answered := make(chan int, 1)
	go func() {
		code, err := readStatus(third)
		if err != nil {
			t.Error(err)
		}
		answered <- code
	}()
	// Not a timing assertion: nothing may take the request while both
	// slots are held, however long this waits.
	time.Sleep(200 * time.Millisecond)
	if n := len(rec.All()); n != 0 {
		t.Fatalf("%d messages stored with every slot held, want 0", n)
	}
	if lr.Count(slog.LevelWarn, capWarning) != 1 {
		t.Errorf("no warning that the cap was reached")
	}
	stalled.Close()
	if code := <-answered; code != http.StatusAccepted {
		t.Fatalf("third client answered %d once a slot freed, want 202", code)
	}
	if n := len(rec.All()); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}

// setMinIdle sets how long a connection of h must have been idle to be
// closed for room.
func setMinIdle(h *Listener, d time.Duration) {
	l := capOf(h)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.minIdle = d
}

// finish sends the rest of a request whose first line was sent (pending),
// with a one-byte body.
func finish(t *testing.T, c net.Conn, body byte) {
	t.Helper()
	if _, err := c.Write(append([]byte("Host: test\r\nContent-Length: 1\r\n\r\n"), body)); err != nil {
		t.Fatal(err)
	}
}

// pending is the first line of a request, the rest to come (finish).
var pending = []byte("POST /orders HTTP/1.1\r\n")

// closedBy reports whether the server closed c (its read ends at once),
// as opposed to keeping it open (its read waits out wait).
func closedBy(t *testing.T, c net.Conn, wait time.Duration) bool {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(make([]byte, 1))
	if n != 0 {
		t.Fatalf("read %d bytes on an idle connection", n)
	}
	return !isTimeout(err)
}

// TestConnCapClosesIdleForRoom: at the cap, a connection idle between
// requests is closed when a new client comes, not before, and one in the
// middle of a request is not.
func TestConnCapClosesIdleForRoom(t *testing.T) {
	rec := transporttest.NewRecorder()
	o := httpOpts()
	o.MaxConnections = 2
	h, base, _ := startHTTP(t, o, rec)
	setMinIdle(h, 100*time.Millisecond)
	addr := strings.TrimPrefix(base, "http://")

	idle := rawConn(t, addr, append(header(1), 'a'))
	if code, err := readStatus(idle); err != nil || code != http.StatusAccepted {
		t.Fatalf("first request: %d, %v", code, err)
	}
	transporttest.WaitFor(t, "the first connection idle", func() bool { return capOf(h).idleConns() == 1 })
	busy := rawConn(t, addr, pending)
	// Idle long enough to be closed, but no client needs its room.
	if closedBy(t, idle, 500*time.Millisecond) {
		t.Fatal("idle connection closed at the cap with no new client")
	}

	newcomer := rawConn(t, addr, append(header(1), 'b'))
	if code, err := readStatus(newcomer); err != nil || code != http.StatusAccepted {
		t.Fatalf("new client at the cap: %d, %v; want 202 once the idle connection was closed", code, err)
	}
	if !closedBy(t, idle, 10*time.Second) {
		t.Error("idle connection still open; want it closed for the new client")
	}
	// The one in the middle of its request was left alone: it finishes.
	finish(t, busy, 'c')
	if code, err := readStatus(busy); err != nil || code != http.StatusAccepted {
		t.Fatalf("connection mid-request at the cap: %d, %v; want 202", code, err)
	}
	if n := len(rec.All()); n != 3 {
		t.Errorf("%d messages stored, want 3", n)
	}
}

// TestConnCapRoomFromLaterIdle: connections that go idle while a new
// client waits at the cap make room for it, one for one client.
func TestConnCapRoomFromLaterIdle(t *testing.T) {
	rec := transporttest.NewRecorder()
	o := httpOpts()
	o.MaxConnections = 2
	h, base, _ := startHTTP(t, o, rec)
	setMinIdle(h, 100*time.Millisecond)
	addr := strings.TrimPrefix(base, "http://")

	a, b := rawConn(t, addr, pending), rawConn(t, addr, pending)
	transporttest.WaitFor(t, "the accept waiting at the cap", capOf(h).atCap)
	newcomer := rawConn(t, addr, append(header(1), 'n'))
	for i, c := range []net.Conn{a, b} {
		finish(t, c, 'a'+byte(i))
		if code, err := readStatus(c); err != nil || code != http.StatusAccepted {
			t.Fatalf("request %d: %d, %v", i, code, err)
		}
	}
	if code, err := readStatus(newcomer); err != nil || code != http.StatusAccepted {
		t.Fatalf("waiting client once two connections went idle: %d, %v; want 202", code, err)
	}
	closed := 0
	for _, c := range []net.Conn{a, b} {
		if closedBy(t, c, 300*time.Millisecond) {
			closed++
		}
	}
	if closed != 1 {
		t.Errorf("%d idle connections closed for one new client, want 1", closed)
	}
}

// TestConnCapSparesNewlyIdle: a connection idle for less than minIdle is
// not closed for room (an HTTP/2 connection is idle from its preface on,
// before its first request; an HTTP/1 client may be sending its next).
func TestConnCapSparesNewlyIdle(t *testing.T) {
	rec := transporttest.NewRecorder()
	o := httpOpts()
	o.MaxConnections = 2
	h, base, _ := startHTTP(t, o, rec)
	setMinIdle(h, time.Hour)
	addr := strings.TrimPrefix(base, "http://")

	idle := rawConn(t, addr, append(header(1), 'a'))
	if code, err := readStatus(idle); err != nil || code != http.StatusAccepted {
		t.Fatalf("first request: %d, %v", code, err)
	}
	other := rawConn(t, addr, pending)
	newcomer := rawConn(t, addr, append(header(1), 'n'))
	if closedBy(t, idle, 500*time.Millisecond) {
		t.Fatal("a connection idle for less than minIdle was closed for room")
	}
	if n := len(rec.All()); n != 1 {
		t.Fatalf("%d messages stored while the cap was full, want 1", n)
	}
	other.Close() // a slot frees: the new client is taken
	if code, err := readStatus(newcomer); err != nil || code != http.StatusAccepted {
		t.Fatalf("new client once a slot freed: %d, %v; want 202", code, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// acceptOne is a connCap of one slot on a local port, with the one
// connection it accepted and its client's end, closed when the test ends.
func acceptOne(t *testing.T) (l *connCap, client, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l = newConnCap(ln, 1, slog.New(slog.DiscardHandler), "r")
	t.Cleanup(func() { l.Close() })
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	accepted, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accepted.Close() })
	return l, client, accepted
}

// TestConnCapCloseEndsTheWait: closing the listener (Shutdown does)
// ends an Accept waiting at the cap.
func TestConnCapCloseEndsTheWait(t *testing.T) {
	l, _, c := acceptOne(t)
	accepted := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		accepted <- err
	}()
	transporttest.WaitFor(t, "the accept waiting at the cap", l.atCap)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	// A connection closed twice gives its slot back once.
	c.Close()
	c.Close()
	if l.open != 0 {
		t.Errorf("%d slots taken after the only connection closed, want 0", l.open)
	}
}

// max_connections must be at least 1; unset, it is the default.
func TestDecodeReceiveMaxConnections(t *testing.T) {
	for _, tc := range []struct {
		v    int
		diag bool
	}{{1, false}, {DefaultMaxConnections, false}, {0, true}, {-5, true}} {
		var diags []*hcl.Diagnostic
		b := component.NewBody(`transport "http" of receive_location "r"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
		b.Set("listen", value.Known("127.0.0.1:0", hcl.Range{}))
		b.Set("path", value.Defaulted("/", hcl.Range{}))
		b.Set("max_body", value.Defaulted(int64(1<<30), hcl.Range{}))
		b.Set("request_content_type", value.Defaulted("use", hcl.Range{}))
		b.Set("request_timeout", value.Defaulted(DefaultRequestTimeout, hcl.Range{}))
		b.Set("max_connections", value.Known(tc.v, hcl.Range{}))
		cfg := ReceiveSpec.Decode(b).(*ReceiveConfig)
		switch {
		case tc.diag && (len(diags) != 1 || !strings.Contains(diags[0].Detail, "max_connections")):
			t.Errorf("max_connections %d: diagnostics %v, want one naming max_connections", tc.v, diags)
		case !tc.diag && (len(diags) != 0 || cfg.MaxConnections.V != tc.v):
			t.Errorf("max_connections %d: diagnostics %v, value %v", tc.v, diags, cfg.MaxConnections.V)
		}
	}
}

// TestConnCapKeepsCloseWrite: a capped connection half-closes as the TCP
// connection under it does. net/http half-closes before it closes a
// connection whose request body it did not read (a 413), so that the client
// reads the end of the answer instead of a reset, but only on a connection
// that has CloseWrite.
func TestConnCapKeepsCloseWrite(t *testing.T) {
	_, client, c := acceptOne(t)
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", c)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := client.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("client read %d, %v after CloseWrite; want EOF", n, err)
	}
}

// closeCounter is a net.Conn, as the server reports one, that counts its
// closes.
type closeCounter struct {
	net.Conn
	closes atomic.Int32
}

func (c *closeCounter) Close() error { c.closes.Add(1); return nil }

// TestConnCapMakesRoomOnlyFromLongIdle: a client taken past the cap
// closes the connection idle the longest only if that one has been idle
// for minIdle still: the one that allowed it may have started a request
// meanwhile, and one idle since just now is not closed instead.
func TestConnCapMakesRoomOnlyFromLongIdle(t *testing.T) {
	l, _, _ := acceptOne(t) // its one slot taken
	old, young := &closeCounter{}, &closeCounter{}
	l.connState(old, http.StateIdle)
	l.mu.Lock()
	l.minIdle = time.Minute
	l.idle[old] = time.Now().Add(-time.Hour)
	l.mu.Unlock()

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	transporttest.WaitFor(t, "a slot taken past the cap", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.open == 2
	})
	l.connState(old, http.StateActive) // its client sent a request
	l.connState(young, http.StateIdle)
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := <-accepted
	defer c.Close()
	if l.idleConns() != 1 {
		t.Errorf("the connection idle since just now was taken for room")
	}
	if old.closes.Load() != 0 {
		t.Errorf("a connection serving a request was closed for room")
	}
}
