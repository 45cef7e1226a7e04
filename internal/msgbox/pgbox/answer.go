package pgbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A database can stop answering without closing its connections: a server
// frozen (SIGSTOP, a hung VM or storage), or a host gone behind a network
// that drops packets. The kernel acknowledges what is sent to a frozen
// server, so neither TCP keepalives nor retransmission timeouts end the
// wait; a pool connection then waits for its answer for ever, and `run`
// hangs without a word, a stop included (its last records wait too). So a
// pool connection that has waited answerWithin for any byte of an answer,
// or for the database to take what it writes, is given up as lost
// (noAnswerError): the operation is retried on a new connection like one
// whose connection broke, and fails, naming the database, once the
// retries give up. A commit cut short so is uncertain and settled as a
// lost one is (see the package comment): its lookups acquire and read
// within bounds of their own, so they still decide.
//
// Getting a connection is bounded alike, since a new connection to a
// frozen server may never be made (its listen queue full, SYNs dropped:
// the operating system tries for minutes) and the pool's waiters queue
// behind the ones being made: each pool Acquire gives up after
// answerWithin (acquireBound), and the pool's connection attempts after as
// long when the URL sets no connect_timeout (Open). An operation attempt
// thus waits answerWithin at most for each thing it waits for, and its
// retries stop after ReconnectTimeout: a silent database fails it after
// about the two together (a minute by default), where it waited for ever.

// noAnswerError is the read error of a pool connection that heard nothing
// from the database for within while it waited for an answer. It is not a
// net.Error timeout, which pgconn would take for a context's deadline and
// keep the connection: pgconn closes the connection on it.
type noAnswerError struct{ within time.Duration }

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("the database did not answer for %v (is the server stopped or the network cut?)", e.within)
}

// lockBound is the lock_timeout of the pool's sessions when a silent
// database is given up after within: five sixths of it, so that a wait
// for a lock ends, named, before the connection would be given up.
func lockBound(within time.Duration) time.Duration {
	return max(within*5/6, time.Millisecond)
}

// heldLockError is a statement's wait for a lock that another session
// holds, ended by the pool sessions' lock_timeout (55P03).
type heldLockError struct {
	within time.Duration
	err    error
}

func (e *heldLockError) Error() string {
	return fmt.Sprintf("waited %v for a lock another session holds on the message box's tables "+
		"(a VACUUM FULL, CLUSTER, REINDEX, ALTER TABLE or LOCK TABLE running?): %v", e.within, e.err)
}

func (e *heldLockError) Unwrap() error { return e.err }

// isLockTimeout reports whether err is a wait for a lock that ran out of
// lock_timeout.
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03" // lock_not_available
}

// isNoAnswer reports whether err is a connection given up for silence.
func isNoAnswer(err error) bool {
	var na *noAnswerError
	return errors.As(err, &na)
}

// answerDialer wraps dial so that its connections give up on an answer
// after the duration within holds (0: they wait as long as it takes).
// silent runs when one does: the pool's other connections are most
// likely as dead, and pgxpool would otherwise ping its idle ones one
// after the other, each for within, before it opened a new one.
func answerDialer(dial pgconn.DialFunc, within *atomic.Int64, silent func()) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &answerConn{Conn: c, within: within, silent: silent}, nil
	}
}

// answerConn bounds each Read by within, keeping any earlier deadline pgx
// sets itself (it interrupts reads that way when a context ends).
type answerConn struct {
	net.Conn
	within *atomic.Int64
	silent func()

	// mu orders pgx's deadlines and Read's, so that pgx's deadline, set
	// while a Read starts, is never overwritten by Read's later one.
	mu     sync.Mutex
	theirs time.Time // pgx's read deadline; zero: none
	// theirsW is pgx's write deadline; zero: none.
	theirsW time.Time

	// writing counts the Writes under way, and wrote is when one last
	// passed bytes on (Unix nanoseconds): while the database takes what
	// is sent, its silence is no sign of a freeze (it answers a batch
	// once it has read it all; see Read).
	writing atomic.Int32
	wrote   atomic.Int64
}

func (c *answerConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.theirs, c.theirsW = t, t
	return c.Conn.SetDeadline(t)
}

func (c *answerConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.theirsW = t
	return c.Conn.SetWriteDeadline(t)
}

// Write bounds each Write as Read does, by the time the database takes
// nothing of it: a frozen server's kernel takes what is sent until its
// buffers are full (a body's chunks fill them), and then the Write waits
// for ever. A Write the database takes slowly (a batch of large bodies
// over a slow link) goes on as long as each within passes bytes on.
func (c *answerConn) Write(p []byte) (int, error) {
	within := time.Duration(c.within.Load())
	if within <= 0 {
		return c.Conn.Write(p)
	}
	c.writing.Add(1)
	defer c.writing.Add(-1)
	var total int
	for {
		c.mu.Lock()
		ours := time.Now().Add(within)
		d := ours
		if !c.theirsW.IsZero() && c.theirsW.Before(d) {
			d = c.theirsW
		}
		err := c.Conn.SetWriteDeadline(d)
		c.mu.Unlock()
		if err != nil {
			return total, err
		}
		n, err := c.Conn.Write(p[total:])
		total += n
		if n > 0 {
			c.wrote.Store(time.Now().UnixNano())
		}
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return total, err
		}
		c.mu.Lock()
		theirsPassed := !c.theirsW.IsZero() && !time.Now().Before(c.theirsW)
		c.mu.Unlock()
		if theirsPassed || time.Now().Before(ours) {
			return total, err
		}
		if n == 0 {
			c.silent()
			return total, &noAnswerError{within: within}
		}
	}
}

func (c *answerConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.theirs = t
	return c.Conn.SetReadDeadline(t)
}

// Read waits within for a byte of an answer, or, while a Write passes
// bytes on (pgx reads while it writes a large batch), for as long as it
// does.
func (c *answerConn) Read(p []byte) (int, error) {
	within := time.Duration(c.within.Load())
	if within <= 0 {
		return c.Conn.Read(p)
	}
	for {
		c.mu.Lock()
		ours := time.Now().Add(within)
		d := ours
		if !c.theirs.IsZero() && c.theirs.Before(d) {
			d = c.theirs
		}
		err := c.Conn.SetReadDeadline(d)
		c.mu.Unlock()
		if err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(p)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		c.mu.Lock()
		theirsPassed := !c.theirs.IsZero() && !time.Now().Before(c.theirs)
		c.mu.Unlock()
		if theirsPassed || time.Now().Before(ours) {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		if c.writing.Load() > 0 || time.Since(time.Unix(0, c.wrote.Load())) < within {
			continue // the database is still taking what is sent
		}
		c.silent()
		return n, &noAnswerError{within: within}
	}
}

// poolTracer is the pool's tracer: it bounds each Acquire by answerWithin
// (see acquireCtx) and passes queries and batches on to Options.tracer.
type poolTracer struct {
	within *atomic.Int64
	query  pgx.QueryTracer // Options.tracer, or nil
}

var (
	_ pgxpool.AcquireTracer = (*poolTracer)(nil)
	_ pgx.BatchTracer       = (*poolTracer)(nil)
)

// TraceAcquireStart returns the context the Acquire runs with: bounded by
// answerWithin (none while 0: the migration).
func (t *poolTracer) TraceAcquireStart(ctx context.Context, pool *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	within := time.Duration(t.within.Load())
	if within <= 0 {
		return ctx
	}
	bounded, cancel := context.WithCancelCause(ctx)
	c := &acquireCtx{Context: bounded}
	// The cause is chosen when the bound ends, off puddle's locks: a pool
	// whose every connection is out with an operation waits for those,
	// not for the database to answer a new one.
	timer := time.AfterFunc(within, func() {
		var cause error = &noAnswerError{within: within}
		if st := pool.Stat(); st.AcquiredConns() >= st.MaxConns() {
			cause = &busyPoolError{noAnswerError{within: within}, st.MaxConns()}
		}
		c.cause.Store(&cause)
		cancel(cause)
	})
	c.cancel = func() { timer.Stop(); cancel(context.Canceled) }
	return c
}

func (t *poolTracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	if c, ok := ctx.(*acquireCtx); ok {
		c.cancel()
	}
}

// busyPoolError is an Acquire's wait bounded by answerWithin while every
// connection of the pool was out with an operation the database had not
// finished: stuck behind a lock another session holds (whose own wait
// ends in a heldLockError), or waiting for a database that does not
// answer. It is a noAnswerError all the same, retried and handled alike;
// only its words tell the two apart.
type busyPoolError struct {
	noAnswerError
	conns int32
}

func (e *busyPoolError) Error() string {
	return fmt.Sprintf("no connection of the pool's %d came free for %v: each was busy with an operation the database "+
		"had not finished (waiting for a lock another session holds, or for a database that does not answer)", e.conns, e.within)
}

func (e *busyPoolError) Unwrap() error { return &e.noAnswerError }

func (t *poolTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if t.query == nil {
		return ctx
	}
	return t.query.TraceQueryStart(ctx, conn, data)
}

func (t *poolTracer) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	if t.query != nil {
		t.query.TraceQueryEnd(ctx, conn, data)
	}
}

func (t *poolTracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if bt, ok := t.query.(pgx.BatchTracer); ok {
		return bt.TraceBatchStart(ctx, conn, data)
	}
	return ctx
}

func (t *poolTracer) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	if bt, ok := t.query.(pgx.BatchTracer); ok {
		bt.TraceBatchQuery(ctx, conn, data)
	}
}

func (t *poolTracer) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	if bt, ok := t.query.(pgx.BatchTracer); ok {
		bt.TraceBatchEnd(ctx, conn, data)
	}
}

// acquireCtx is the context of a pool Acquire bounded by answerWithin.
// When its own bound ends the wait, its Err is the noAnswerError (or the
// busyPoolError, one too), which
// pgxpool and puddle return as the Acquire's error (they return
// ctx.Err()): an operation then fails naming the silence, and retries it
// as a lost connection (isConnErr), where context.DeadlineExceeded would
// pass for its caller's deadline. A deadline or cancellation of the
// caller's keeps its own error.
type acquireCtx struct {
	context.Context
	cancel func()
	// cause is the bound's error once it ended the wait.
	cause atomic.Pointer[error]
}

func (c *acquireCtx) Err() error {
	err := c.Context.Err()
	if cause := c.cause.Load(); err != nil && cause != nil && context.Cause(c.Context) == *cause {
		return *cause
	}
	return err
}
