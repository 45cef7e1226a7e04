package http

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxConnections is max_connections when a location sets none:
// far above what partners open (a client pools a few connections), and
// far below what a process may hold (Go raises its open-file limit to
// the hard one), so that a flood of connections to one location holds a
// bounded share of the process's memory and file descriptors, which the
// message box and the other locations need too.
const DefaultMaxConnections = 1024

// fullWarnEvery is how often, at most, a location at its cap says so.
const fullWarnEvery = time.Minute

// minIdleForRoom is how long a connection must have been idle before it
// may be closed for room. net/http calls an HTTP/2 connection idle as
// soon as it has sent its preface, before its first request, and an
// HTTP/1 client often sends its next request right after an answer; one
// idle this long is seldom sending a request at that instant (the race
// any server's idle timeout has: its client sends again on a new
// connection).
const minIdleForRoom = time.Second

// connCap is a net.Listener that holds at most max connections open at
// once. At the cap, Accept waits until one closes, so that new clients
// queue in the kernel's backlog, as nginx and HAProxy do at theirs, rather
// than being accepted into memory the process does not have. When a
// connection has been idle between requests for minIdle (its client keeps
// it for a next request), Accept takes one client past the cap and then
// closes the longest idle connection for it, which costs that connection's
// client only a new connection later: idle keep-alives cannot hold every
// slot against clients with a message to send. So at most max+1 are open,
// for a moment. A connection serving a request is never closed for room:
// the server's own timeouts (request header, request_timeout, body idle)
// bound how long it can hold its slot. One goroutine calls Accept, as
// http.Server does.
//
// The server must report its connections' states to connState, for the
// idle ones to be known.
type connCap struct {
	net.Listener
	max     int
	minIdle time.Duration
	log     *slog.Logger // warns when the cap is reached
	loc     string

	mu      sync.Mutex
	open    int                    // connections accepted and not yet closed
	idle    map[net.Conn]time.Time // those idle, as the server reports them (a TLS one is its *tls.Conn), and since when
	changed chan struct{}          // a slot freed or a connection went idle: a wake-up for Accept (buffered 1)
	done    chan struct{}          // closed by Close
	closed  bool
	warned  time.Time // the last warning that the cap was reached
	// waiting says Accept is waiting at the cap (for tests to see).
	waiting bool
}

func newConnCap(ln net.Listener, max int, log *slog.Logger, loc string) *connCap {
	if max <= 0 {
		max = DefaultMaxConnections
	}
	return &connCap{Listener: ln, max: max, minIdle: minIdleForRoom, log: log, loc: loc,
		idle: map[net.Conn]time.Time{}, changed: make(chan struct{}, 1), done: make(chan struct{})}
}

// Accept waits for a slot, then accepts a connection, which gives its slot
// back when it is closed. Past the cap, it closes an idle connection once
// the new one has come.
func (l *connCap) Accept() (net.Conn, error) {
	past, err := l.acquire()
	if err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.release()
		return nil, err
	}
	if past {
		l.makeRoom()
	}
	return &cappedConn{Conn: c, l: l}, nil
}

// acquire takes a slot, or the one past the cap (past) when a connection
// has been idle for minIdle, and waits otherwise: for a connection to
// close, to go idle, or to have been idle long enough. It fails once the
// listener is closed.
func (l *connCap) acquire() (past bool, err error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return false, net.ErrClosed
		}
		if l.open < l.max {
			l.open++
			l.waiting = false
			l.mu.Unlock()
			return false, nil
		}
		var left time.Duration // until the longest idle may be closed; 0: none is idle
		if _, since, ok := l.longestIdle(); ok && l.open == l.max {
			if left = l.minIdle - time.Since(since); left <= 0 {
				l.open++
				l.waiting = false
				l.mu.Unlock()
				return true, nil
			}
		}
		l.waiting = true
		warn := len(l.idle) == 0 && time.Since(l.warned) >= fullWarnEvery
		if warn {
			l.warned = time.Now()
		}
		l.mu.Unlock()
		if warn {
			l.log.Warn("receive location has max_connections open, none idle: new connections wait until one closes or goes idle",
				"receive_location", l.loc, "max_connections", l.max)
		}
		var t *time.Timer
		var wait <-chan time.Time
		if left > 0 {
			t = time.NewTimer(left)
			wait = t.C
		}
		select {
		case <-l.changed:
		case <-wait:
		case <-l.done:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// longestIdle is the connection idle the longest, and since when; l.mu is
// held.
func (l *connCap) longestIdle() (c net.Conn, since time.Time, ok bool) {
	for ic, t := range l.idle {
		if !ok || t.Before(since) {
			c, since, ok = ic, t, true
		}
	}
	return c, since, ok
}

// makeRoom closes the connection idle the longest, for one accepted past
// the cap, unless a slot freed meanwhile. If none has been idle for
// minIdle any more (its client sent a request meanwhile), the new one
// stays past the cap until one closes: acquire takes no other slot until
// then.
func (l *connCap) makeRoom() {
	l.mu.Lock()
	c, since, ok := l.longestIdle()
	ok = ok && time.Since(since) >= l.minIdle && l.open > l.max
	if ok {
		delete(l.idle, c)
	}
	l.mu.Unlock()
	if ok {
		// In its own goroutine: a TLS connection's Close writes an alert,
		// which a client that does not read could hold up.
		go c.Close()
	}
}

// wake tells a waiting Accept that something changed.
func (l *connCap) wake() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// release gives a slot back and wakes a waiting Accept.
func (l *connCap) release() {
	l.mu.Lock()
	l.open--
	l.mu.Unlock()
	l.wake()
}

// connState tracks the idle connections; it is the server's ConnState.
func (l *connCap) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	if s == http.StateIdle {
		l.idle[c] = time.Now()
	} else {
		delete(l.idle, c)
	}
	l.mu.Unlock()
	if s == http.StateIdle {
		l.wake() // an Accept at the cap may make room by it, in time
	}
}

// Close closes the listener and ends a wait at the cap.
func (l *connCap) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

// atCap reports whether Accept is waiting at the cap.
func (l *connCap) atCap() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiting
}

// cappedConn gives its slot back when first closed.
type cappedConn struct {
	net.Conn
	l    *connCap
	once sync.Once
}

// CloseWrite half-closes the connection under c: net/http does so, when
// the connection has it, before closing one whose request body it did not
// read (a 413), so that the client reads the end of the answer instead of
// a reset.
func (c *cappedConn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return errors.ErrUnsupported
	}
	return cw.CloseWrite()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.release)
	return err
}
