package sqlitebox

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// finishing is one outcome to record: owner's attempt of delivery id.
type finishing struct {
	id    int64
	owner string
	o     msgbox.Outcome
}

// finishRow is what finishAll reads of a delivery of a message it settles
// deliveries of, as the transaction sees it.
type finishRow struct {
	id                 int64
	msgID, port, state string
	owner              string
	attempts           int
	claimedAt          sql.NullInt64
}

// finishMsg is the message of settled deliveries: its row, and its
// deliveries' states as they become.
type finishMsg struct {
	routed, terminated bool
	stored             msgbox.Status // as read
	reason             *string       // set when a suspension sets it
	states             map[int64]msgbox.DeliveryState
}

// finishAll records the outcomes fs, in order, as if one after the other,
// in a handful of statements however many there are: one query reads the
// deliveries and their messages, the rest is decided here, and each table
// (receipts included) is written in one statement per power-of-two share
// of the rows (execRows). errs[i] is ErrLeaseLost (or DeliveryNotFound) when fs[i]'s
// owner does not hold the delivery, as an earlier item of fs left it: then
// nothing of fs[i] is written. Any other error fails the whole write.
//
// A message's status is msgbox.DeriveStatus of its deliveries' states,
// including those settled earlier in fs.
func finishAll(ctx context.Context, tx *cachedTx, fs []finishing, now time.Time, errs []error) error {
	rows, msgs, err := readFinishing(ctx, tx, fs)
	if err != nil {
		return err
	}
	var attempts, deliveries, receipts, events []any
	for i, f := range fs {
		r, ok := rows[f.id]
		if !ok {
			errs[i] = msgbox.DeliveryNotFound(f.id)
			continue
		}
		if msgbox.DeliveryState(r.state) != msgbox.DeliveryInProgress || r.owner != f.owner {
			errs[i] = msgbox.LeaseLost(f.owner)
			continue
		}
		errs[i] = nil
		o := f.o
		r.attempts++
		attempts = append(attempts, f.id, r.msgID, r.port, r.attempts, f.owner,
			toDB(nullTime(r.claimedAt)), toDB(now), string(o.State), o.Error)
		var next any // NULL unless retrying
		if o.State == msgbox.DeliveryRetrying {
			next = toDB(o.RetryAt)
		}
		deliveries = append(deliveries, f.id, string(o.State), r.attempts, next, o.Error)
		if rc := o.Receipt; rc != nil {
			receipts = append(receipts, f.id, r.msgID, rc.ContentType, rc.Summary, rc.Data)
		}
		events = append(events, r.msgID, toDB(now), r.port, string(o.State), msgbox.FinishedDetail(r.attempts, f.owner, o))
		// What a later item of fs sees of this delivery.
		r.state, r.owner, r.claimedAt = string(o.State), "", sql.NullInt64{}
		m := msgs[r.msgID]
		m.states[f.id] = o.State
		if o.State == msgbox.DeliverySuspended {
			reason := msgbox.SuspendedReason(r.port, o.Error)
			m.reason = &reason
		}
	}
	if len(attempts) == 0 {
		return nil
	}
	if err := execRows(ctx, tx, `INSERT INTO attempts
		(delivery_id, message_id, port, number, owner, started_at, finished_at, outcome, error) VALUES `+rowsMark,
		9, attempts); err != nil {
		return fmt.Errorf("recording attempts: %w", err)
	}
	// The rows' columns are column1... (SQLite's names for a VALUES
	// subquery's).
	if err := execRows(ctx, tx, `UPDATE deliveries SET state = v.column2, attempts = v.column3,
		next_attempt_at = v.column4, due_at = v.column4, lease_owner = '', lease_until = NULL, claimed_at = NULL,
		last_error = v.column5
		FROM (VALUES `+rowsMark+`) AS v WHERE deliveries.id = v.column1`, 5, deliveries); err != nil {
		return fmt.Errorf("recording deliveries: %w", err)
	}
	// A delivery settles at most once in fs (a second item of it lost its
	// lease), so no row is upserted twice in one statement.
	if err := execRows(ctx, tx, `INSERT INTO receipts (delivery_id, message_id, content_type, summary, data)
		VALUES `+rowsMark+` ON CONFLICT (delivery_id) DO UPDATE SET content_type = excluded.content_type,
		summary = excluded.summary, data = excluded.data`, 5, receipts); err != nil {
		return fmt.Errorf("storing receipts: %w", err)
	}
	if err := execRows(ctx, tx, "INSERT INTO events (message_id, at, port, status, detail) VALUES "+rowsMark,
		5, events); err != nil {
		return fmt.Errorf("recording history: %w", err)
	}
	var changed []any
	for id, m := range msgs {
		status := deriveFrom(m)
		if status == m.stored && m.reason == nil {
			continue
		}
		var reason any // NULL: kept
		if m.reason != nil {
			reason = *m.reason
		}
		changed = append(changed, id, string(status), reason)
	}
	if err := execRows(ctx, tx, `UPDATE messages SET status = v.column2, reason = coalesce(v.column3, reason)
		FROM (VALUES `+rowsMark+`) AS v WHERE messages.id = v.column1`, 3, changed); err != nil {
		return fmt.Errorf("storing status: %w", err)
	}
	return nil
}

// readFinishing reads, in one query, the deliveries fs settles and every
// delivery of their messages, with the messages.
func readFinishing(ctx context.Context, tx *cachedTx, fs []finishing) (map[int64]*finishRow, map[string]*finishMsg, error) {
	ids := make([]int64, len(fs))
	for i, f := range fs {
		ids[i] = f.id
	}
	q, err := tx.QueryContext(ctx, `SELECT d.id, d.message_id, d.port, d.state, d.lease_owner, d.attempts, d.claimed_at,
		m.routed, m.terminated, m.status
		FROM deliveries d JOIN messages m ON m.id = d.message_id
		WHERE d.message_id IN (SELECT x.message_id FROM deliveries x WHERE x.id IN (SELECT value FROM json_each(?)))`,
		idsJSON(ids))
	if err != nil {
		return nil, nil, err
	}
	defer q.Close()
	rows := make(map[int64]*finishRow, len(fs))
	msgs := make(map[string]*finishMsg, len(fs))
	for q.Next() {
		r := &finishRow{}
		var routed, terminated bool
		var status string
		if err := q.Scan(&r.id, &r.msgID, &r.port, &r.state, &r.owner, &r.attempts, &r.claimedAt,
			&routed, &terminated, &status); err != nil {
			return nil, nil, err
		}
		rows[r.id] = r
		m := msgs[r.msgID]
		if m == nil {
			m = &finishMsg{routed: routed, terminated: terminated, stored: msgbox.Status(status),
				states: map[int64]msgbox.DeliveryState{}}
			msgs[r.msgID] = m
		}
		m.states[r.id] = msgbox.DeliveryState(r.state)
	}
	return rows, msgs, q.Err()
}

func deriveFrom(m *finishMsg) msgbox.Status {
	states := make([]msgbox.DeliveryState, 0, len(m.states))
	for _, s := range m.states {
		states = append(states, s)
	}
	return msgbox.DeriveStatus(m.routed, m.terminated, states)
}

// rowsMark stands in execRows's query for its rows of placeholders.
const rowsMark = "{rows}"

// maxShare bounds the rows of one multi-row statement: a batch's messages
// (msgbox.MaxBatch, 64) fit in one, while a batch routed to hundreds of
// ports each makes several, within SQLite's 32,766 parameters (64 rows of
// the widest table, messages, take 960).
const maxShare = 64

// execRows runs query once per power-of-two share of args, each a row of
// width values: rowsMark in query becomes "(?, ...), (?, ...)", one group
// per row. So a batch of any size runs in a few statements (one for 16
// rows, three for 13, 64 rows each beyond that) with at most seven query
// texts to prepare and cache per query (1 to 64 rows). Nothing to run
// when args is empty.
func execRows(ctx context.Context, tx *cachedTx, query string, width int, args []any) error {
	return inShares(len(args)/width, func(k int) error {
		_, err := tx.ExecContext(ctx, tx.c.rows(query, width, k), args[:k*width]...)
		args = args[k*width:]
		return err
	})
}

// inShares splits n rows into power-of-two shares of at most maxShare,
// largest first, and calls fn with each share's size, stopping at its
// first error.
func inShares(n int, fn func(k int) error) error {
	for n > 0 {
		k := 1
		for k*2 <= n && k < maxShare {
			k *= 2
		}
		if err := fn(k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
