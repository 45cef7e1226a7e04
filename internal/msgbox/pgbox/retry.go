package pgbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Backoff between retries of an operation whose connection was lost.
const (
	retryMinDelay = 50 * time.Millisecond
	retryMaxDelay = 2 * time.Second
)

// uncertainError marks a connection lost while a commit was in flight (a
// COMMIT, or a statement run outside a transaction): it may have been made.
// It is never retried blindly; the operation looks for its effect.
type uncertainError struct {
	err error
	// pid is the server process of the lost transaction's session, when
	// its connection is closed and that session may outlive it (see
	// awaitLostTx); 0 when not known.
	pid uint32
}

func (e *uncertainError) Error() string {
	return fmt.Sprintf("%v: %v", ErrCommitUncertain, e.err)
}

func (e *uncertainError) Unwrap() []error { return []error{ErrCommitUncertain, e.err} }

// lostConn returns the connection error an uncertainError holds, for an
// operation that found the commit was not made and may run again (the
// retry loop retries connection errors).
func lostConn(err error) error {
	var u *uncertainError
	if errors.As(err, &u) {
		return u.err
	}
	return err
}

// rerunError is a lost commit (an uncertainError) after which the
// operation runs again to find out what it did (a rerun finds the change
// made, or makes it): retried as the lost connection it holds. When the
// retries end before a rerun could tell (ctx ended, the box closed, the
// ReconnectTimeout passed, the rerun's connection lost too), the commit
// is still in doubt, and retryWhile returns the uncertainError: the lost
// connection alone would tell the caller the change was not made (a stop
// cancelling a Recover or a Route mid-commit).
type rerunError struct{ u *uncertainError }

func (e *rerunError) Error() string { return e.u.err.Error() }

func (e *rerunError) Unwrap() error { return e.u.err }

// rerun returns err, an uncertainError, to be retried as a rerunError;
// any other err as it is.
func rerun(err error) error {
	var u *uncertainError
	if errors.As(err, &u) {
		return &rerunError{u}
	}
	return err
}

// lookContext is the context of the look by which an operation whose
// commit was lost finds out what the commit did. Not ctx itself: its end
// may be what cut the commit short (a stop cancelling a claim or a receive
// mid-commit), and a look failed on it would leave the caller in doubt of
// a commit that took leases for it, held then by nobody until they expire.
// While ctx lasts, the look's retries bound it (Options.ReconnectTimeout),
// as they do any operation's; once ctx has ended, it has lateCommitWait
// more, so that a stop during an outage is not held up for the retries: a
// look takes milliseconds, and one that cannot answer in time leaves the
// commit in doubt, as a look on ctx did. The caller calls cancel when the
// look is over.
func lookContext(ctx context.Context) (look context.Context, cancel context.CancelFunc) {
	look, cancelLook := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(lateCommitWait, cancelLook)
		context.AfterFunc(look, func() { t.Stop() })
	})
	return look, func() {
		stop()
		cancelLook()
	}
}

func isUncertain(err error) bool {
	var u *uncertainError
	return errors.As(err, &u)
}

// isConnErr reports whether err is the loss (or absence) of the connection
// to the database, rather than something the database answered.
func isConnErr(err error) bool {
	if isNoAnswer(err) {
		return true // a connection given up for silence (see answerConn)
	}
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.Is(err, context.DeadlineExceeded) {
		// The caller's deadline; or the pool's connect_timeout, which
		// a connection attempt that heard nothing ran into: the
		// database is absent.
		return errors.As(err, &connectErr)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", // admin_shutdown: pg_terminate_backend, or a server shutting down
			"57P02", // crash_shutdown
			"57P03": // cannot_connect_now: starting up or shutting down
			return true
		}
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08" // connection_exception
	}
	if errors.As(err, &connectErr) || pgconn.SafeToRetry(err) {
		return true
	}
	if errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// retryable reports whether an operation that failed with err can safely run
// again: the connection was lost before anything was committed, or the
// database rolled the transaction back to resolve a conflict.
func retryable(err error) bool {
	if isUncertain(err) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01") {
		return true // serialization_failure, deadlock_detected
	}
	if errors.As(err, new(*heldLockError)) {
		return true // rolled back: the lock may be free by the next try
	}
	return isConnErr(err)
}

// retry runs op until it succeeds, fails in a way that is not retryable, ctx
// ends, or the box's ReconnectTimeout has passed since the first failure.
func (b *Box) retry(ctx context.Context, op func(ctx context.Context) error) error {
	return b.retryWhile(ctx, nil, op)
}

// retryWhile is retry for an operation that may lose the right to run again
// (a Receive that has read its body): canRetry, when not nil, is asked
// before each retry.
func (b *Box) retryWhile(ctx context.Context, canRetry func() bool, op func(ctx context.Context) error) error {
	var deadline time.Time
	delay := retryMinDelay
	// The commit in doubt of a try the op is to run again (rerunError),
	// and what the retries return when they end before the op could tell.
	var doubt *uncertainError
	inDoubt := func(err error) error {
		if doubt != nil && err != nil && (errors.As(err, new(*rerunError)) || isConnErr(err) || ctx.Err() != nil) {
			return doubt
		}
		return err
	}
	for {
		err := op(ctx)
		if isLockTimeout(err) && !errors.As(err, new(*lateLockError)) && !errors.As(err, new(*heldLockError)) {
			err = &heldLockError{within: b.lockWithin, err: err}
		}
		var r *rerunError
		if errors.As(err, &r) {
			doubt = r.u
		}
		if err == nil || ctx.Err() != nil || !retryable(err) || b.isClosed() ||
			(canRetry != nil && !canRetry()) || b.retryFor < 0 {
			return inDoubt(err)
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(b.retryFor)
			var connectErr *pgconn.ConnectError
			if isConnErr(err) && !errors.As(err, &connectErr) {
				// A connection that was open broke: its idle siblings
				// were likely cut at the same time (a restart, a
				// failover, a network drop). Have the pool replace them
				// all rather than fail on each in turn. The first retry
				// goes at once, on a new connection.
				b.pool.Reset()
				delay = 0
			}
		}
		if time.Now().Add(delay).After(deadline) {
			return inDoubt(silentConnect(err, b.pool.Config().ConnConfig.ConnectTimeout))
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return inDoubt(err)
			case <-b.closed:
				t.Stop()
				return inDoubt(err)
			case <-t.C:
			}
		}
		delay = min(max(2*delay, retryMinDelay), retryMaxDelay)
	}
}

// silentConnect gives err, the last of an operation's retries, the words
// of a silent database when it is a connection attempt that ran out of
// its connect_timeout (within; nothing answered it), as an operation that
// waited on an open connection has them (noAnswerError): which of the
// two a frozen server ends an operation with is a matter of timing.
func silentConnect(err error, within time.Duration) error {
	var connectErr *pgconn.ConnectError
	if isNoAnswer(err) || !errors.As(err, &connectErr) || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", &noAnswerError{within: within}, err)
}

func (b *Box) isClosed() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}

// withTx runs fn in a READ COMMITTED transaction and commits it if fn
// returns nil. A connection lost during the commit is an uncertainError,
// with the lost session's pid for a look that needs to wait for it
// (awaitLostTx, called by the look: the connection is released first).
func (b *Box) withTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return b.withTxOptions(ctx, pgx.TxOptions{}, fn)
}

func (b *Box) withTxOptions(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	tx, err := b.pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		rollback(ctx, tx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		if err = commitErr(err); isUncertain(err) {
			return lostTx(err, tx.Conn())
		}
		return err
	}
	return nil
}

// lostTx returns u, the uncertainError of a COMMIT lost on conn, with the
// pid of conn's server process when conn is closed: the session may still
// hold the transaction open on the server (see awaitLostTx). A connection
// still open lost no session (the error was the client's own), and goes
// back to the pool, where the look itself may get it: nothing to wait for.
func lostTx(u error, conn *pgx.Conn) error {
	var lost *uncertainError
	if errors.As(u, &lost) && conn.IsClosed() {
		lost.pid = conn.PgConn().PID()
	}
	return u
}

// commitErr classifies the error of a commit (a COMMIT, or a statement
// outside a transaction). Nothing sent, or a refusal by the database (a
// *PgError that is not about the connection: a serialization failure, a
// constraint): not made. Anything else leaves it unknown, a lost connection
// reported by the server (57P01 and the like) included: the server may
// have committed and then been told to end the session before its answer
// left.
func commitErr(err error) error {
	if neverSent(err) || isPgError(err) && !isConnErr(err) {
		return err
	}
	return &uncertainError{err: err}
}

// neverSent reports whether err happened before anything reached the
// server: no connection could be made, or pgx knows it sent nothing.
func neverSent(err error) bool {
	var connectErr *pgconn.ConnectError
	return pgconn.SafeToRetry(err) || errors.As(err, &connectErr)
}

// rollback ends a failed transaction. ctx may be done (that may be why it
// failed), so the rollback gets a deadline of its own; if it fails, the
// connection is closed and the server rolls back.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// sendBatch runs a batch in tx and reads every result, calling the
// callbacks queued with it; it returns the first error.
func sendBatch(ctx context.Context, tx pgx.Tx, batch *pgx.Batch) error {
	return tx.SendBatch(ctx, batch).Close()
}

// Transaction starts for pipeTx.
const (
	beginReadCommitted = "BEGIN"
	beginSnapshot      = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
)

// pipeTx is a transaction whose BEGIN travels in the pipeline of its first
// batch and whose COMMIT in that of its last: a transaction that reads once
// and then writes costs two round trips, not four. That is what a remote
// database's latency is paid in, once per claim, Finish or Route.
type pipeTx struct {
	conn  *pgxpool.Conn
	begin string
	begun bool
}

// send runs batch in the transaction (see sendBatch).
func (t *pipeTx) send(ctx context.Context, batch *pgx.Batch) error {
	return t.conn.SendBatch(ctx, t.withBegin(batch)).Close()
}

// withBegin returns batch, led by BEGIN if the transaction has not begun.
func (t *pipeTx) withBegin(batch *pgx.Batch) *pgx.Batch {
	if t.begun {
		return batch
	}
	t.begun = true
	b := &pgx.Batch{}
	b.Queue(t.begin)
	b.QueuedQueries = append(b.QueuedQueries, batch.QueuedQueries...)
	return b
}

// abort rolls back what the transaction left open. A broken connection
// needs nothing: the server rolled back, and the pool discards it.
func (t *pipeTx) abort(ctx context.Context) {
	c := t.conn.Conn()
	if c.IsClosed() || c.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = c.Exec(ctx, "ROLLBACK")
}

// inTx runs fn in a transaction started with begin (beginReadCommitted or
// beginSnapshot). fn sends its reads with t.send and returns the batch of
// its writes (or nil), which is sent with the COMMIT. If fn fails, the
// transaction is rolled back. A connection lost while the last batch was
// in flight is an uncertainError: the COMMIT may have run. It carries the
// lost session's pid (lostTx) for a look that needs to wait for that
// session's transaction (awaitLostTx): the look waits, not inTx, which
// would hold the lost connection through the wait.
func (b *Box) inTx(ctx context.Context, begin string, fn func(t *pipeTx) (*pgx.Batch, error)) error {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	t := &pipeTx{conn: conn, begin: begin}
	final, err := fn(t)
	if err != nil {
		t.abort(ctx)
		return err
	}
	if final == nil {
		final = &pgx.Batch{}
	}
	committed := false
	final.Queue("COMMIT").Exec(func(pgconn.CommandTag) error { committed = true; return nil })
	err = conn.SendBatch(ctx, t.withBegin(final)).Close()
	switch {
	case err == nil, committed:
		// COMMIT answered: done, whatever came after (the server may
		// have been told to end the session right after).
		return nil
	case isPgError(err) || neverSent(err):
		// An error answered a statement of the batch, COMMIT included,
		// and the ones after it were skipped; or nothing was sent. Not
		// committed.
		t.abort(ctx)
		return err
	}
	return lostTx(&uncertainError{err: err}, conn.Conn())
}

// awaitLostTx waits, up to lateCommitWait, until the server has ended the
// transaction whose COMMIT was lost with err (an uncertainError whose
// connection closed: see lostTx), the server process outliving the
// connection: the server may not have read that COMMIT yet, or still be
// running it. The caller then looks for what the commit did, and finds it
// if it was made; a look made before would find nothing yet, and tell its
// caller the change was not made (a receive whose context ended
// mid-commit, the deliveries it claimed then held by nobody once the
// COMMIT landed). Only a look that takes no lock needs it: the claims'
// looks wait for the lost transaction by locking its rows
// (afterLateCommit), and the reruns by writing them. It is called with
// the look's context, once the lost connection is back in the pool: a
// wait holding it would hold up a small pool's other operations. When it
// cannot tell (the server does not answer), it returns, and the look runs
// as it would have.
func (b *Box) awaitLostTx(ctx context.Context, err error) {
	var lost *uncertainError
	if !errors.As(err, &lost) || lost.pid == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, lateCommitWait)
	defer cancel()
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		var open bool
		err := b.retry(ctx, func(ctx context.Context) error {
			// Not the look's own session: the pid may have been reused.
			return b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
				WHERE pid = $1 AND pid <> pg_backend_pid() AND xact_start IS NOT NULL)`, int64(lost.pid)).Scan(&open)
		})
		if err != nil || !open {
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
