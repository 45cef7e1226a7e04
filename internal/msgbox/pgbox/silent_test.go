//go:build linux

package pgbox

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// silentProxy is a TCP proxy between a box and the test server that can
// fall silent: from then on it passes nothing either way and closes
// nothing, as a frozen server (SIGSTOP) or a network that drops packets
// does. New connections then go as they go to a frozen server: the first
// are made (the kernel queues them) and never answered, and once its
// listen queue is full the others are never made (their SYNs are
// dropped, and the dial waits for minutes).
type silentProxy struct {
	ln    net.Listener
	quiet chan struct{} // closed: silent
	once  sync.Once

	mu    sync.Mutex
	conns []net.Conn
}

func newSilentProxy(t *testing.T, target string) *silentProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentProxy{ln: ln, quiet: make(chan struct{})}
	t.Cleanup(p.close)
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			p.keep(client)
			select {
			case <-p.quiet:
				// Accepted, never answered; and no more are accepted: the
				// listen queue (of one, see silence) fills.
				return
			default:
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			p.keep(server)
			go p.pass(client, server)
			go p.pass(server, client)
		}
	}()
	return p
}

// pass copies from to to until the proxy falls silent; then it holds what
// it read, and both connections stay open.
func (p *silentProxy) pass(from, to net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := from.Read(buf)
		select {
		case <-p.quiet:
			return
		default:
		}
		if n > 0 {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			to.Close()
			return
		}
	}
}

func (p *silentProxy) keep(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

// close closes the listener and every connection: what waits on them
// fails, so that a box whose operations hang can still be closed.
func (p *silentProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// silence makes the proxy fall silent. Its listen queue shrinks to one
// connection (Linux lets listen change the backlog of a listening
// socket), so that the connections made after it fills wait in their dial.
func (p *silentProxy) silence(t *testing.T) {
	p.once.Do(func() {
		close(p.quiet)
		rc, err := p.ln.(*net.TCPListener).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var lerr error
		if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), 0) }); err != nil {
			t.Fatal(err)
		}
		if lerr != nil {
			t.Fatal(lerr)
		}
	})
}

// url returns dbURL rewritten to go through the proxy.
func (p *silentProxy) url(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// TestSilentDatabase: a database that stops answering without closing its
// connections (a frozen server, a network that drops packets) fails each
// operation of a running engine, with an error naming the database and
// without its password, once the retries give up, where the operation
// waited for ever for its answer: `run` hung, silent, and could not stop.
// That holds for the operations that wait for a new connection too, one
// the pool makes or another operation's (the pool's waiters, more than it
// has connections), where the dial to a frozen server waited for minutes.
func TestSilentDatabase(t *testing.T) {
	t.Parallel()
	dbURL := pg.NewDatabase(t)
	p := newSilentProxy(t, mustHost(t, dbURL))
	b := openURL(t, p.url(t, dbURL), Options{ReconnectTimeout: 500 * time.Millisecond, MaxConns: 2})
	b.answerWithin.Store(int64(500 * time.Millisecond))
	t.Cleanup(p.close) // before b closes: an operation that hung ends
	direct := openURL(t, dbURL, Options{})
	ctx := context.Background() // as run's records after a stop: no deadline
	route(t, direct, "claimed", "a")
	m := route(t, direct, "to route", "b")
	d := mustClaim(t, b, "srv1/w1", time.Minute, "a")
	route(t, direct, "due", "a")
	p.silence(t)

	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	tests := []struct {
		name string
		op   func() error
	}{
		{"claim", func() error {
			_, err := b.ClaimBatch(ctx, "srv1/w2", []string{"a"}, time.Minute, 16, nil)
			return err
		}},
		{"finish", func() error {
			return b.Finish(ctx, d.ID, "srv1/w1", msgbox.Outcome{State: msgbox.DeliveryDelivered})
		}},
		{"renew", func() error { return msgbox.RenewOne(ctx, b, d.ID, "srv1/w1", time.Minute) }},
		{"receive", func() error {
			_, _, err := b.ReceiveRouted(ctx, incoming("new"), strings.NewReader("<order/>"), nil)
			return err
		}},
		{"route", func() error { return b.Route(ctx, m.ID, []string{"b"}, "") }},
		{"list", func() error { _, err := msgbox.Collect(ctx, b, msgbox.Filter{}); return err }},
	}
	// Then, at once, more claims than the pool has connections: they wait
	// for the connections being made, and for each other.
	for i := range 6 {
		tests = append(tests, struct {
			name string
			op   func() error
		}{fmt.Sprintf("claim %d of 6 at once", i+1), func() error {
			_, err := b.ClaimBatch(ctx, fmt.Sprintf("srv1/c%d", i), []string{"a"}, time.Minute, 16, nil)
			return err
		}})
	}
	results := make([]chan error, len(tests))
	for i, tt := range tests {
		results[i] = make(chan error, 1)
		if strings.Contains(tt.name, "at once") {
			go func() { results[i] <- tt.op() }()
		}
	}
	giveUp := time.After(2 * deadline)
	for i, tt := range tests {
		done := results[i]
		if !strings.Contains(tt.name, "at once") {
			go func() { done <- tt.op() }()
		}
		var err error
		select {
		case err = <-done:
		case <-giveUp:
			t.Fatalf("%s: still waiting for a database that does not answer after %v", tt.name, 2*deadline)
		}
		t.Logf("%s: %v", tt.name, err)
		switch {
		case err == nil:
			t.Errorf("%s succeeded on a database that does not answer", tt.name)
		case !strings.Contains(err.Error(), b.Name()) || !silenceError(err):
			t.Errorf("%s: %v; want an error naming %s that says it did not answer, or that a connection to it timed out", tt.name, err, b.Name())
		case password != "" && strings.Contains(err.Error(), password):
			t.Errorf("%s: the error shows the password: %v", tt.name, err)
		}
	}
}

// silenceError reports whether err says that the database did not
// answer: a connection given up for silence, or, for an operation that
// waited for a new connection once the listen queue was full, the dial's
// connect_timeout (whichever of the two the operation met first depends
// on the timing).
func silenceError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "did not answer") ||
		(strings.Contains(s, "failed to connect") && strings.Contains(s, "timeout"))
}
