package pgbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// Reconnection backoff of the listening connection, and how long it may be
// silent before it is pinged (a connection to a server that vanished from
// the network would otherwise wait for a notification forever).
const (
	listenMinDelay = 100 * time.Millisecond
	listenMaxDelay = 5 * time.Second
	listenPingIdle = 30 * time.Second
)

// Subscribe returns a channel that receives a value when a delivery for one
// of ports may have become due: another instance routed a message to it,
// resumed or recovered a delivery, or scheduled a retry (whose time NextDue
// tells). Values do not queue: one wake-up stands for any number of
// notifications since the channel was last read. Call cancel when done.
//
// Subscribe before looking for work, and wait on the channel after finding
// none: a notification sent in between is then not missed. The channel also
// receives a value when the listening connection is (re-)established,
// since notifications sent while it was down are lost; a wake-up is a hint
// to look, never a promise of work.
//
// The first subscription opens the listening connection, a dedicated one
// outside the pool; it reconnects with backoff (100ms to 5s) after a loss.
// On a closed box the channel never receives.
func (b *Box) Subscribe(ports []string) (c <-chan struct{}, cancel func()) {
	s := &subscription{ports: make(map[string]bool, len(ports)), c: make(chan struct{}, 1)}
	for _, p := range msgbox.CleanPorts(ports) {
		s.ports[p] = true
	}
	b.listen.add(s)
	return s.c, func() { b.listen.remove(s) }
}

type subscription struct {
	ports map[string]bool
	c     chan struct{}
}

func (s *subscription) wake() {
	select {
	case s.c <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// listener holds the LISTEN connection and the subscriptions it serves.
type listener struct {
	b *Box

	mu       sync.Mutex
	subs     map[*subscription]bool
	running  bool
	stopped  bool
	cancel   context.CancelFunc
	done     chan struct{}
	sessions int   // times LISTEN was established
	lastErr  error // why the last session ended, or could not start
	// changed is closed and replaced whenever sessions or lastErr change,
	// for tests waiting for a reconnection.
	changed chan struct{}
}

func newListener(b *Box) *listener {
	return &listener{b: b, subs: map[*subscription]bool{}, changed: make(chan struct{})}
}

// add registers s, starting the listening loop on first use.
func (l *listener) add(s *subscription) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	l.subs[s] = true
	if !l.running {
		l.running = true
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel, l.done = cancel, make(chan struct{})
		go l.run(ctx)
	}
}

func (l *listener) remove(s *subscription) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.subs, s)
}

// stop ends the loop and waits for it; later subscriptions are ignored.
func (l *listener) stop() {
	l.mu.Lock()
	l.stopped = true
	running, cancel, done := l.running, l.cancel, l.done
	l.mu.Unlock()
	if running {
		cancel()
		<-done
	}
}

// state returns the number of sessions so far, a channel closed at the next
// change, and the last error.
func (l *listener) state() (int, <-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sessions, l.changed, l.lastErr
}

func (l *listener) update(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
	close(l.changed)
	l.changed = make(chan struct{})
}

// run keeps a LISTEN session open until ctx ends, reconnecting with
// exponential backoff.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	delay := listenMinDelay
	for {
		established, err := l.session(ctx)
		if ctx.Err() != nil {
			return
		}
		l.update(func() { l.lastErr = l.b.wrap(err, "listening for notifications") })
		if established {
			delay = listenMinDelay // it worked until now: try again soon
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, listenMaxDelay)
	}
}

// session connects, listens, wakes every subscriber, and dispatches
// notifications until the connection fails or ctx ends.
func (l *listener) session(ctx context.Context) (established bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := pgx.ConnectConfig(cctx, l.b.connCfg.Copy())
	cancel()
	if err != nil {
		return false, err
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return false, err
	}
	// Notifications sent while no session was listening are lost: every
	// subscriber looks again.
	l.update(func() {
		l.sessions++
		for s := range l.subs {
			s.wake()
		}
	})
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPingIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.dispatch(n.Payload)
			continue
		case ctx.Err() != nil:
			return true, ctx.Err()
		case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
			// Silent for a while: make sure the connection still is one.
			// (A timeout leaves a pgx connection usable.)
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, err
			}
			continue
		}
		return true, err
	}
}

// dispatch wakes the subscribers of port.
func (l *listener) dispatch(port string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.subs {
		if s.ports[port] {
			s.wake()
		}
	}
}
