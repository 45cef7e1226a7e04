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
)

// Backoff between retries of an operation whose connection was lost.
const (
	retryMinDelay = 50 * time.Millisecond
	retryMaxDelay = 2 * time.Second
)

// uncertainError marks a connection lost while a commit was in flight (a
// COMMIT, or a statement run outside a transaction): it may have been made.
// It is never retried blindly; the operation looks for its effect.
type uncertainError struct{ err error }

func (e *uncertainError) Error() string {
	return fmt.Sprintf("%v: %v", ErrCommitUncertain, e.err)
}

func (e *uncertainError) Unwrap() []error { return []error{ErrCommitUncertain, e.err} }

func isUncertain(err error) bool {
	var u *uncertainError
	return errors.As(err, &u)
}

// isConnErr reports whether err is the loss (or absence) of the connection
// to the database, rather than something the database answered.
func isConnErr(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
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
	var connectErr *pgconn.ConnectError
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
	for {
		err := op(ctx)
		if err == nil || ctx.Err() != nil || !retryable(err) || b.isClosed() ||
			(canRetry != nil && !canRetry()) || b.retryFor < 0 {
			return err
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
			return err
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-b.closed:
				t.Stop()
				return err
			case <-t.C:
			}
		}
		delay = min(max(2*delay, retryMinDelay), retryMaxDelay)
	}
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
// returns nil. A connection lost during the commit is an uncertainError.
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
		return commitErr(err)
	}
	return nil
}

// commitErr classifies the error of a commit: an answer from the database
// (a *PgError) means it was not made, as does a failure before anything was
// sent; anything else leaves it unknown.
func commitErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) || pgconn.SafeToRetry(err) {
		return err
	}
	return &uncertainError{err}
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
