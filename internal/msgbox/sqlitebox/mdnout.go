package sqlitebox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

var _ msgbox.MDNOutbox = (*Box)(nil)

const sentMDNColumns = "message_id, location, data, url, state, attempts, next_attempt_at, last_error, authenticated"

func scanSentMDN(s msgbox.Scanner) (msgbox.SentMDN, error) {
	var m msgbox.SentMDN
	var state string
	var next int64
	err := s.Scan(&m.MessageID, &m.Location, &m.Data, &m.URL, &state, &m.Attempts, &next, &m.LastError, &m.Authenticated)
	m.State, m.NextAttemptAt = msgbox.MDNState(state), fromDB(next)
	return m, err
}

// PutMDN stores the MDN sent for a message (see msgbox.MDNOutbox).
func (b *Box) PutMDN(ctx context.Context, m msgbox.SentMDN) error {
	m, err := msgbox.CheckSentMDN(m)
	if err != nil {
		return b.wrap(err, "storing the MDN of %s", m.MessageID)
	}
	err = b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM messages WHERE id = ?", m.MessageID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%s: %w", m.MessageID, msgbox.ErrNotFound)
			}
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sent_mdns (`+sentMDNColumns+`) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)
			ON CONFLICT (message_id) DO UPDATE SET location = excluded.location, data = excluded.data,
			url = excluded.url, state = excluded.state, attempts = 0, next_attempt_at = excluded.next_attempt_at,
			last_error = excluded.last_error, authenticated = excluded.authenticated WHERE excluded.state <> 'unrequested'`,
			m.MessageID, m.Location, m.Data, m.URL, string(m.State), toDB(m.NextAttemptAt), m.LastError, m.Authenticated)
		return err
	})
	return b.wrap(err, "storing the MDN of %s", m.MessageID)
}

// insertSentMDN inserts m, checked (msgbox.CheckSentMDN), for a message
// the transaction has just inserted, which has none yet.
func insertSentMDN(ctx context.Context, tx *cachedTx, m msgbox.SentMDN) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sent_mdns (`+sentMDNColumns+`) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)`,
		m.MessageID, m.Location, m.Data, m.URL, string(m.State), toDB(m.NextAttemptAt), m.LastError, m.Authenticated)
	if err != nil {
		return fmt.Errorf("storing the MDN kept with the message: %w", err)
	}
	return nil
}

// SentMDN returns the MDN stored for message id (see msgbox.MDNOutbox).
func (b *Box) SentMDN(ctx context.Context, id string) (msgbox.SentMDN, error) {
	if err := msgbox.CheckID(id); err != nil {
		return msgbox.SentMDN{}, b.wrap(err, "the MDN of a message")
	}
	m, err := scanSentMDN(b.q.QueryRowContext(ctx, "SELECT "+sentMDNColumns+" FROM sent_mdns WHERE message_id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("no MDN for %s: %w", id, msgbox.ErrNotFound)
	}
	return m, b.wrap(err, "the MDN of %s", id)
}

// ClaimMDNs takes due pending MDNs of location (see msgbox.MDNOutbox).
func (b *Box) ClaimMDNs(ctx context.Context, location string, lease time.Duration, max, maxUnauthenticated int) ([]msgbox.SentMDN, error) {
	location = msgbox.CleanText(location) // stored cleaned (msgbox.CheckSentMDN)
	var out []msgbox.SentMDN
	err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		out = nil
		now := b.clock()
		// The authenticated first, then the others, each with its own
		// seek of sent_mdns_due.
		for _, authenticated := range []bool{true, false} {
			limit := max - len(out)
			if !authenticated {
				limit = min(limit, maxUnauthenticated)
			}
			if limit <= 0 {
				continue
			}
			rows, err := tx.QueryContext(ctx, "SELECT "+sentMDNColumns+` FROM sent_mdns
				WHERE state = 'pending' AND location = ? AND authenticated = ? AND next_attempt_at <= ?
				ORDER BY next_attempt_at, message_id LIMIT ?`,
				location, authenticated, toDB(now), limit)
			if err != nil {
				return err
			}
			for rows.Next() {
				m, err := scanSentMDN(rows)
				if err != nil {
					rows.Close()
					return err
				}
				out = append(out, m)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		if len(out) == 0 {
			return nil
		}
		until := now.Add(lease)
		ids := make([]string, len(out))
		for i := range out {
			out[i].Attempts++
			out[i].NextAttemptAt = until
			ids[i] = out[i].MessageID
		}
		// One statement for the lot.
		_, err := tx.ExecContext(ctx, `UPDATE sent_mdns SET attempts = attempts + 1, next_attempt_at = ?
			WHERE message_id IN (SELECT value FROM json_each(?))`, toDB(until), textsJSON(ids))
		return err
	})
	if err != nil {
		return nil, b.wrap(err, "claiming MDNs of %q", location)
	}
	return out, nil
}

// FinishMDN records the outcome of a POST of a claimed MDN (see
// msgbox.MDNOutbox): the claim is its pending state with the lease's end
// as next_attempt_at, which a PutMDN or a later claim changes.
func (b *Box) FinishMDN(ctx context.Context, claimed msgbox.SentMDN, state msgbox.MDNState, retryAt time.Time, lastError string) error {
	id := claimed.MessageID
	if !msgbox.ValidMDNState(state) {
		return b.wrap(fmt.Errorf("%w: MDN state %q", msgbox.ErrInvalidOutcome, state), "the MDN of %s", id)
	}
	err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sent_mdns SET state = ?, next_attempt_at = ?, last_error = ?
			WHERE message_id = ? AND state = 'pending' AND next_attempt_at = ?`,
			string(state), toDB(msgbox.Timestamp(retryAt)), msgbox.CleanText(lastError), id, toDB(msgbox.Timestamp(claimed.NextAttemptAt)))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sent_mdns WHERE message_id = ?)", id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("no MDN for %s: %w", id, msgbox.ErrNotFound)
		}
		return fmt.Errorf("the MDN of %s was replaced or claimed again: %w", id, msgbox.ErrLeaseLost)
	})
	return b.wrap(err, "the MDN of %s", id)
}

// NextMDNDue returns when location's earliest pending MDN is due (see
// msgbox.MDNOutbox).
func (b *Box) NextMDNDue(ctx context.Context, location string, unauthenticated bool) (time.Time, bool, error) {
	location = msgbox.CleanText(location) // stored cleaned (msgbox.CheckSentMDN)
	var next sql.NullInt64
	// One seek of sent_mdns_due for each kind asked for.
	err := b.q.QueryRowContext(ctx, `SELECT min(at) FROM (
			SELECT min(next_attempt_at) AS at FROM sent_mdns WHERE state = 'pending' AND location = ?1 AND authenticated = 1
			UNION ALL
			SELECT min(next_attempt_at) FROM sent_mdns WHERE state = 'pending' AND location = ?1 AND authenticated = 0 AND ?2)`,
		location, unauthenticated).Scan(&next)
	if err != nil {
		return time.Time{}, false, b.wrap(err, "next MDN due of %q", location)
	}
	return nullTime(next), next.Valid, nil
}
