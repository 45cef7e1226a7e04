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

// connCap is a net.Listener that holds at most max connections open at
// once. At the cap, Accept waits until one closes, so that new clients
// queue in the kernel's backlog, as nginx and HAProxy do at theirs, rather
// than being accepted into memory the process does not have; and it
// first closes a connection that is idle between requests (its client
// sent a request and keeps the connection for the next one), which costs
// its client only a new connection later, so that idle keep-alives cannot
// hold every slot against clients with a message to send. A connection
// in the middle of a request is never closed for room: the server's own
// timeouts (request header, request_timeout, body idle) bound how long
// it can hold its slot.
//
// The server must report its connections' states to connState, for the
// idle ones to be known.
type connCap struct {
	net.Listener
	max int
	log *slog.Logger // warns when the cap is reached
	loc string

	mu     sync.Mutex
	open   int                   // connections accepted and not yet closed
	idle   map[net.Conn]struct{} // those the server reports idle, by the conn it was given
	freed  chan struct{}         // a slot freed (buffered 1: a wake-up for Accept)
	done   chan struct{}         // closed by Close
	closed bool
	warned time.Time // the last warning that the cap was reached
	// waiting says Accept is waiting at the cap (for tests to see).
	waiting bool
}

func newConnCap(ln net.Listener, max int, log *slog.Logger, loc string) *connCap {
	if max <= 0 {
		max = DefaultMaxConnections
	}
	return &connCap{Listener: ln, max: max, log: log, loc: loc, idle: map[net.Conn]struct{}{},
		freed: make(chan struct{}, 1), done: make(chan struct{})}
}

// Accept waits for a slot, then accepts a connection, which gives its slot
// back when it is closed.
func (l *connCap) Accept() (net.Conn, error) {
	if err := l.acquire(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.release()
		return nil, err
	}
	return &cappedConn{Conn: c, l: l}, nil
}

// acquire takes a slot, closing an idle connection for room when at the
// cap, and waiting for one to close otherwise; it fails once the listener
// is closed.
func (l *connCap) acquire() error {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return net.ErrClosed
		}
		if l.open < l.max {
			l.open++
			l.waiting = false
			l.mu.Unlock()
			return nil
		}
		var victim net.Conn
		for c := range l.idle {
			victim = c
			delete(l.idle, c)
			break
		}
		l.waiting = true
		warn := victim == nil && time.Since(l.warned) >= fullWarnEvery
		if warn {
			l.warned = time.Now()
		}
		l.mu.Unlock()
		if victim != nil {
			// In its own goroutine: a TLS connection's Close writes an
			// alert, which a client that does not read could hold up.
			go victim.Close()
		}
		if warn {
			l.log.Warn("receive location has max_connections open, none idle: new connections wait until one closes",
				"receive_location", l.loc, "max_connections", l.max)
		}
		select {
		case <-l.freed:
		case <-l.done:
		}
	}
}

// release gives a slot back and wakes a waiting Accept.
func (l *connCap) release() {
	l.mu.Lock()
	l.open--
	l.mu.Unlock()
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// connState tracks the idle connections; it is the server's ConnState.
func (l *connCap) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == http.StateIdle {
		l.idle[c] = struct{}{}
	} else {
		delete(l.idle, c)
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
