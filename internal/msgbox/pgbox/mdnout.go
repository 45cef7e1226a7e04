package pgbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

var _ msgbox.MDNOutbox = (*Box)(nil)

const sentMDNColumns = "message_id, location, data, url, state, attempts, next_attempt_at, last_error, authenticated"

func scanSentMDN(s msgbox.Scanner) (msgbox.SentMDN, error) {
	var m msgbox.SentMDN
	var state string
	err := s.Scan(&m.MessageID, &m.Location, &m.Data, &m.URL, &state, &m.Attempts, &m.NextAttemptAt, &m.LastError, &m.Authenticated)
	m.State, m.NextAttemptAt = msgbox.MDNState(state), m.NextAttemptAt.UTC()
	return m, err
}

// PutMDN stores the MDN sent for a message (see msgbox.MDNOutbox).
func (b *Box) PutMDN(ctx context.Context, m msgbox.SentMDN) error {
	m, err := msgbox.CheckSentMDN(m)
	if err != nil {
		return b.wrap(err, "storing the MDN of %s", m.MessageID)
	}
	err = b.retry(ctx, func(ctx context.Context) error {
		// Inserted only when the message exists: the foreign key would
		// refuse it too, but with an error that does not say ErrNotFound.
		tag, err := b.pool.Exec(ctx, `INSERT INTO sent_mdns (`+sentMDNColumns+`)
			SELECT $1, $2, $3, $4, $5, 0, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM messages WHERE id = $1)
			ON CONFLICT (message_id) DO UPDATE SET location = excluded.location, data = excluded.data,
			url = excluded.url, state = excluded.state, attempts = 0, next_attempt_at = excluded.next_attempt_at,
			last_error = excluded.last_error, authenticated = excluded.authenticated WHERE excluded.state <> 'unrequested'`,
			m.MessageID, m.Location, m.Data, m.URL, string(m.State), ts(m.NextAttemptAt), m.LastError, m.Authenticated)
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		// Nothing written: no such message, or an unrequested MDN that
		// found one stored already, which it leaves as it is.
		var exists bool
		if err := b.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1)", m.MessageID).Scan(&exists); err != nil {
			return err
		}
		if !exists || m.State != msgbox.MDNUnrequested {
			return fmt.Errorf("%s: %w", m.MessageID, msgbox.ErrNotFound)
		}
		return nil
	})
	return b.wrap(err, "storing the MDN of %s", m.MessageID)
}

// queueSentMDN queues on batch the insert of m, when not nil (checked:
// msgbox.Incoming.ReceivedMDN), as the MDN kept for message id, which the
// batch's transaction has just inserted.
func queueSentMDN(batch *pgx.Batch, id string, m *msgbox.SentMDN) {
	if m == nil {
		return
	}
	batch.Queue(`INSERT INTO sent_mdns (`+sentMDNColumns+`) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8)`,
		id, m.Location, m.Data, m.URL, string(m.State), ts(m.NextAttemptAt), m.LastError, m.Authenticated)
}

// SentMDN returns the MDN stored for message id (see msgbox.MDNOutbox).
func (b *Box) SentMDN(ctx context.Context, id string) (msgbox.SentMDN, error) {
	if err := msgbox.CheckID(id); err != nil {
		return msgbox.SentMDN{}, b.wrap(err, "the MDN of a message")
	}
	var m msgbox.SentMDN
	err := b.retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = scanSentMDN(b.pool.QueryRow(ctx, "SELECT "+sentMDNColumns+" FROM sent_mdns WHERE message_id = $1", id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = fmt.Errorf("no MDN for %s: %w", id, msgbox.ErrNotFound)
	}
	return m, b.wrap(err, "the MDN of %s", id)
}

// ClaimMDNs takes due pending MDNs of location (see msgbox.MDNOutbox):
// rows another instance is claiming are skipped, not waited for.
//
// The claim is a transaction whose first statement picks and locks the
// MDNs and reads the lease's end, the database's clock (as the deliveries'
// claims use) to the microsecond the column keeps: the MDNs due again at
// that instant are this claim's (FinishMDN's test too). So a claim whose
// COMMIT was lost finds what it claimed, as ClaimBatch does
// (heldAfterLostCommit), rather than running again and finding them not
// due: they would wait, leased to nobody, until the lease ran out.
func (b *Box) ClaimMDNs(ctx context.Context, location string, lease time.Duration, max, maxUnauthenticated int) ([]msgbox.SentMDN, error) {
	location = msgbox.CleanText(location) // stored cleaned (msgbox.CheckSentMDN)
	var out []msgbox.SentMDN
	err := b.retry(ctx, func(ctx context.Context) error {
		out = nil
		var until time.Time
		var ids []string
		err := b.inTx(ctx, beginReadCommitted, func(t *pipeTx) (*pgx.Batch, error) {
			batch := &pgx.Batch{}
			// The authenticated first, then the others; the lease's end
			// is the same instant in both (the statement's clock would
			// not be), read once in a CTE.
			batch.Queue(`WITH lease AS MATERIALIZED (
					SELECT date_trunc('microseconds', clock_timestamp()) + make_interval(secs => $2) AS until, clock_timestamp() AS now),
				a AS (SELECT message_id FROM sent_mdns, lease WHERE state = 'pending' AND location = $1 AND authenticated
					AND next_attempt_at <= lease.now ORDER BY next_attempt_at, message_id LIMIT $3 FOR UPDATE OF sent_mdns SKIP LOCKED),
				u AS (SELECT message_id FROM sent_mdns, lease WHERE state = 'pending' AND location = $1 AND NOT authenticated
					AND next_attempt_at <= lease.now ORDER BY next_attempt_at, message_id
					LIMIT least($4::bigint, $3 - (SELECT count(*) FROM a)) FOR UPDATE OF sent_mdns SKIP LOCKED)
				SELECT `+sentMDNColumns+`, lease.until FROM sent_mdns, lease
				WHERE message_id IN (SELECT message_id FROM a UNION ALL SELECT message_id FROM u)
				ORDER BY authenticated DESC, next_attempt_at, message_id`,
				location, lease.Seconds(), max, maxUnauthenticated).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					m, err := scanSentMDN(msgbox.ScanThen(rows, &until))
					if err != nil {
						return err
					}
					out = append(out, m)
				}
				return rows.Err()
			})
			if err := t.send(ctx, batch); err != nil || len(out) == 0 {
				return nil, err
			}
			until = ts(until)
			ids = make([]string, len(out))
			for i := range out {
				ids[i] = out[i].MessageID
				out[i].Attempts++
				out[i].NextAttemptAt = until
			}
			batch = &pgx.Batch{}
			batch.Queue(`UPDATE sent_mdns SET attempts = attempts + 1, next_attempt_at = $2 WHERE message_id = ANY($1)`,
				ids, until)
			return batch, nil
		})
		if isUncertain(err) && len(out) > 0 {
			// The MDNs this try claimed, if its commit went through, are
			// due again at until: those that are, once its transaction,
			// if the server still has it, is over. Looked at even when ctx
			// has ended (a stop cancelling the claim mid-commit): the
			// MDNs the commit took would otherwise wait out the lease,
			// each with an attempt counted that was never made.
			var held []string
			lctx, cancel := lookContext(ctx)
			defer cancel()
			lookErr := b.afterLateCommit(lctx, `SELECT 1 FROM sent_mdns WHERE message_id = ANY($1) ORDER BY message_id FOR KEY SHARE`,
				ids, func(tx pgx.Tx) error {
					rows, err := tx.Query(lctx, `SELECT message_id FROM sent_mdns
						WHERE message_id = ANY($1) AND state = 'pending' AND next_attempt_at = $2`, ids, until)
					if err != nil {
						return err
					}
					held, err = pgx.CollectRows(rows, pgx.RowTo[string])
					return err
				})
			if lookErr != nil {
				return err
			}
			out = slices.DeleteFunc(out, func(m msgbox.SentMDN) bool { return !slices.Contains(held, m.MessageID) })
			if len(out) > 0 {
				return nil
			}
			return lostConn(err) // not claimed: retryable
		}
		if err != nil {
			out = nil
			if isUncertain(err) {
				return lostConn(err) // a try that claimed nothing wrote nothing
			}
		}
		return err
	})
	if err != nil {
		return nil, b.wrap(err, "claiming MDNs of %q", location)
	}
	return out, nil
}

// FinishMDN records the outcome of a POST of a claimed MDN (see
// msgbox.MDNOutbox): the claim is its pending state with the lease's end
// as next_attempt_at, which a PutMDN or a later claim changes. Run again
// after a lost answer, it finds the claim gone: when the MDN then holds
// this very outcome, the lost try recorded it (nil); otherwise the MDN
// was replaced (ErrLeaseLost), and is not lost either.
func (b *Box) FinishMDN(ctx context.Context, claimed msgbox.SentMDN, state msgbox.MDNState, retryAt time.Time, lastError string) error {
	id := claimed.MessageID
	if !msgbox.ValidMDNState(state) {
		return b.wrap(fmt.Errorf("%w: MDN state %q", msgbox.ErrInvalidOutcome, state), "the MDN of %s", id)
	}
	lastError = msgbox.CleanText(lastError)
	var done, exists bool
	var lost error // the commit in doubt of a try whose answer was lost
	err := b.retry(ctx, func(ctx context.Context) error {
		err := b.pool.QueryRow(ctx, `WITH u AS (
				UPDATE sent_mdns SET state = $1, next_attempt_at = $2, last_error = $3
				WHERE message_id = $4 AND state = 'pending' AND next_attempt_at = $5
				RETURNING 1)
			SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM sent_mdns WHERE message_id = $4)`,
			string(state), ts(retryAt), lastError, id, ts(claimed.NextAttemptAt)).Scan(&done, &exists)
		if err != nil && isUncertain(commitErr(err)) {
			lost = commitErr(err) // running it again is safe: it finds what the lost try did
			return rerun(lost)
		}
		return err
	})
	if err == nil && !done && exists && lost != nil {
		// The claim is gone: the lost try may have recorded this very
		// outcome, which is then done, not a claim lost to a repeat. The
		// rerun's UPDATE waited for the lost try's transaction (the row
		// lock). Looked at on a context of its own: ctx may end now too
		// (a partner hanging up), and a look that fails leaves the
		// commit in doubt, not the caller told of an ended context.
		lctx, cancel := lookContext(ctx)
		err = b.retry(lctx, func(ctx context.Context) error {
			return b.pool.QueryRow(ctx, `SELECT state = $1 AND next_attempt_at = $2 AND last_error = $3
				FROM sent_mdns WHERE message_id = $4`,
				string(state), ts(retryAt), lastError, id).Scan(&done)
		})
		cancel()
		if err != nil {
			err = lost
		}
	}
	switch {
	case err != nil, done:
	case !exists:
		err = fmt.Errorf("no MDN for %s: %w", id, msgbox.ErrNotFound)
	default:
		err = fmt.Errorf("the MDN of %s was replaced or claimed again: %w", id, msgbox.ErrLeaseLost)
	}
	return b.wrap(err, "the MDN of %s", id)
}

// NextMDNDue returns when location's earliest pending MDN is due (see
// msgbox.MDNOutbox).
func (b *Box) NextMDNDue(ctx context.Context, location string, unauthenticated bool) (time.Time, bool, error) {
	location = msgbox.CleanText(location) // stored cleaned (msgbox.CheckSentMDN)
	var next *time.Time
	err := b.retry(ctx, func(ctx context.Context) error {
		// One seek of sent_mdns_due for each kind asked for.
		return b.pool.QueryRow(ctx, `SELECT least(
				(SELECT min(next_attempt_at) FROM sent_mdns WHERE state = 'pending' AND location = $1 AND authenticated),
				(SELECT min(next_attempt_at) FROM sent_mdns WHERE state = 'pending' AND location = $1 AND NOT authenticated AND $2))`,
			location, unauthenticated).Scan(&next)
	})
	if err != nil || next == nil {
		return time.Time{}, false, b.wrap(err, "next MDN due of %q", location)
	}
	return next.UTC(), true, nil
}
