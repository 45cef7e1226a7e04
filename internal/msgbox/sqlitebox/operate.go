package sqlitebox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// purgeBatch bounds the messages one Purge write deletes, so that the write
// lock is held briefly and a large purge lets deliveries go on.
const purgeBatch = 500

// purgeBudget bounds the time one Purge write spends deleting, whatever
// purgeBatch allows: the engine's writes, in this process (behind the same
// writer) or another (waiting in the busy handler, DefaultBusyTimeout),
// wait for at most about this long. A write stopped by it commits what it
// deleted and the next goes on.
const purgeBudget = 200 * time.Millisecond

// purgePause is how long Purge waits between two writes. A writer in
// another process waiting for the lock polls for it (SQLite's busy handler
// sleeps up to 100 ms between tries) and would otherwise rarely find it
// free: the next write takes it again at once.
const purgePause = 120 * time.Millisecond

// purgeable selects, in messages m, what Purge deletes (its arguments:
// purgeArgs). A message whose asynchronous MDN still waits to be POSTed is
// not done with, however long ago it was delivered: the sender is owed it.
// received_at < cutoff says nothing the history does not (a message's
// arrival is its first event), but lets a scan pass each message received
// since at the cost of a comparison.
const purgeable = `m.status IN (?, ?) AND m.received_at < ?
	AND NOT EXISTS (SELECT 1 FROM events e WHERE e.message_id = m.id AND e.at >= ?)
	AND NOT EXISTS (SELECT 1 FROM sent_mdns s WHERE s.message_id = m.id AND s.state = 'pending')`

// purgeArgs are purgeable's arguments for a purge of what is untouched
// since before.
func purgeArgs(before time.Time) []any {
	t := toDB(before)
	return []any{string(msgbox.StatusDelivered), string(msgbox.StatusTerminated), t, t}
}

// purgeCandidates finds, by a read, the next messages a Purge write
// deletes: up to its last argument of them, past the seq of its first, in
// the order of the table (NOT INDEXED: through messages_status, SQLite
// would read both statuses' messages whole and sort them), so that the
// read stops once it has them. A read takes no lock: the messages it
// passes over (kept, or not finished) cost no engine write a wait.
const purgeCandidates = `SELECT m.seq FROM messages m NOT INDEXED
	WHERE m.seq > ? AND ` + purgeable + ` ORDER BY m.seq LIMIT ?`

// purgeDoomed is, in a Purge write, what is still purgeable among the
// candidates (a JSON array of seqs, its first argument) with their bodies:
// one may have been resumed or resubmitted since the read.
const purgeDoomed = `SELECT m.seq, m.id, m.body_id, b.file, m.received_body_id, rb.file FROM messages m NOT INDEXED
	JOIN bodies b ON b.id = m.body_id
	LEFT JOIN bodies rb ON rb.id = m.received_body_id
	WHERE m.seq IN (SELECT value FROM json_each(?)) AND ` + purgeable + ` ORDER BY m.seq`

// Purgeable counts what Purge would delete (see msgbox.Box).
func (b *Box) Purgeable(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := b.q.QueryRowContext(ctx, "SELECT count(*) FROM messages m WHERE "+purgeable, purgeArgs(before)...).Scan(&n)
	if err != nil {
		return 0, b.wrap(err, "count purgeable")
	}
	return n, nil
}

// Purge deletes finished messages untouched since before (see msgbox.Box):
// found by reads, purgeBatch at a time in the order they were stored, and
// deleted by writes of at most about purgeBudget each. Each read goes on
// from the last message the previous write looked at, so a purge reads
// the table once, however many messages stay.
func (b *Box) Purge(ctx context.Context, before time.Time) (int, error) {
	var after int64 // the seq of the last message looked at
	n, err := msgbox.PurgeBatches(func() (int, bool, error) {
		seqs, err := b.nextPurgeable(ctx, after, before)
		if err != nil || len(seqs) == 0 {
			return 0, false, err
		}
		if b.purgeFound != nil {
			b.purgeFound(after, seqs)
		}
		var (
			n     int
			more  bool
			last  int64    // the seq of the last candidate this write looked at
			files []string // body files of the purged messages
		)
		err = b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
			n, more, last, files = 0, len(seqs) == b.purgeBatch, seqs[len(seqs)-1], files[:0] // a rerun starts afresh (writeFunc)
			start := time.Now()
			rows, err := tx.QueryContext(ctx, purgeDoomed, append([]any{idsJSON(seqs)}, purgeArgs(before)...)...)
			if err != nil {
				return err
			}
			type doomed struct {
				seq    int64
				id     string
				bodyID int64
				file   sql.NullString
				// The message as received, when stored apart.
				recID   sql.NullInt64
				recFile sql.NullString
			}
			var ds []doomed
			for rows.Next() {
				var d doomed
				if err := rows.Scan(&d.seq, &d.id, &d.bodyID, &d.file, &d.recID, &d.recFile); err != nil {
					rows.Close()
					return err
				}
				ds = append(ds, d)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, d := range ds {
				if n > 0 && time.Since(start) > b.purgeBudget {
					// The rest in the next write, whose read finds them
					// again.
					more, last = true, d.seq-1
					break
				}
				// Children first: the foreign keys are enforced.
				for _, q := range []string{
					"DELETE FROM attempts WHERE message_id = ?",
					"DELETE FROM events WHERE message_id = ?",
					"DELETE FROM receipts WHERE message_id = ?",
					"DELETE FROM deliveries WHERE message_id = ?",
					"DELETE FROM messages WHERE id = ?",
				} {
					if _, err := tx.ExecContext(ctx, q, d.id); err != nil {
						return err
					}
				}
				// The chunks go with the body (ON DELETE CASCADE).
				if _, err := tx.ExecContext(ctx, "DELETE FROM bodies WHERE id = ?", d.bodyID); err != nil {
					return err
				}
				if d.file.Valid {
					files = append(files, d.file.String)
				}
				if d.recID.Valid {
					if _, err := tx.ExecContext(ctx, "DELETE FROM bodies WHERE id = ?", d.recID.Int64); err != nil {
						return err
					}
					if d.recFile.Valid {
						files = append(files, d.recFile.String)
					}
				}
				n++
			}
			return nil
		})
		if err == nil {
			// Once no row names them: a crash before leaves orphans,
			// which Open's sweep removes.
			b.removeFiles(files)
			after = last
		}
		if err == nil && more {
			select {
			case <-time.After(purgePause):
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		return n, more, err
	})
	return n, b.wrap(err, "purge")
}

// nextPurgeable returns the seqs of up to purgeBatch messages stored
// after after that Purge would delete (purgeCandidates).
func (b *Box) nextPurgeable(ctx context.Context, after int64, before time.Time) ([]int64, error) {
	rows, err := b.q.QueryContext(ctx, purgeCandidates, append(append([]any{after}, purgeArgs(before)...), b.purgeBatch)...)
	if err != nil {
		return nil, err
	}
	return appendInt64s(nil, rows)
}

// DeliveryStates returns the states of the deliveries with ids (see
// msgbox.Box).
func (b *Box) DeliveryStates(ctx context.Context, ids []int64) (map[int64]msgbox.DeliveryState, error) {
	out := make(map[int64]msgbox.DeliveryState, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	js, err := json.Marshal(ids)
	if err != nil {
		return nil, b.wrap(err, "delivery states")
	}
	rows, err := b.q.QueryContext(ctx, "SELECT id, state FROM deliveries WHERE id IN (SELECT value FROM json_each(?))", string(js))
	if err != nil {
		return nil, b.wrap(err, "delivery states")
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, b.wrap(err, "delivery states")
		}
		out[id] = msgbox.DeliveryState(st)
	}
	return out, b.wrap(rows.Err(), "delivery states")
}

// Message returns a message's metadata (see msgbox.Box).
func (b *Box) Message(ctx context.Context, id string) (msgbox.Message, error) {
	if err := msgbox.CheckID(id); err != nil {
		return msgbox.Message{}, b.wrap(err, "message")
	}
	m, err := scanMessage(b.q.QueryRowContext(ctx, "SELECT "+messageColumns+" FROM messages WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		err = msgbox.ErrNotFound
	}
	if err != nil {
		return msgbox.Message{}, b.wrap(err, "message %s", id)
	}
	return *m, nil
}

// Get returns a message with its deliveries, attempts and history, all read
// from one snapshot. Deliveries, attempts and events are in the order they
// were recorded.
func (b *Box) Get(ctx context.Context, id string) (*msgbox.Detail, error) {
	if err := msgbox.CheckID(id); err != nil {
		return nil, b.wrap(err, "get")
	}
	var d msgbox.Detail
	err := b.withRead(ctx, func(tx *cachedTx) error {
		m, err := scanMessage(tx.QueryRowContext(ctx, "SELECT "+messageColumns+" FROM messages WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return msgbox.ErrNotFound
		}
		if err != nil {
			return err
		}
		d.Message = *m

		rows, err := tx.QueryContext(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE message_id = ? ORDER BY id", id)
		if err != nil {
			return err
		}
		for rows.Next() {
			dl, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return err
			}
			d.Deliveries = append(d.Deliveries, *dl)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		d.Message.Status = msgbox.ShownStatus(d.Message.Status, d.Deliveries)

		if err := readReceipts(ctx, tx, id, d.Deliveries); err != nil {
			return err
		}

		rows, err = tx.QueryContext(ctx, `SELECT delivery_id, port, number, owner, started_at, finished_at, outcome, error
			FROM attempts WHERE message_id = ? ORDER BY id`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a msgbox.Attempt
			var started, finished int64
			var outcome string
			if err := rows.Scan(&a.DeliveryID, &a.Port, &a.Number, &a.Owner, &started, &finished, &outcome,
				&a.Error); err != nil {
				rows.Close()
				return err
			}
			a.StartedAt, a.FinishedAt, a.Outcome = fromDB(started), fromDB(finished), msgbox.DeliveryState(outcome)
			d.Attempts = append(d.Attempts, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		rows, err = tx.QueryContext(ctx, "SELECT at, port, status, detail FROM events WHERE message_id = ? ORDER BY id", id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e msgbox.Event
			var at int64
			if err := rows.Scan(&at, &e.Port, &e.Status, &e.Detail); err != nil {
				return err
			}
			e.At = fromDB(at)
			d.History = append(d.History, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, b.wrap(err, "get %s", id)
	}
	return &d, nil
}

// List calls fn with messages newest first (in the order they were
// received; oldest first with f.OldestFirst), as it reads them, optionally only those of one status, at most
// f.Limit of them when it is positive. A message awaiting asynchronous MDNs
// shows as such (see msgbox.ShownStatus). A status that is not one of
// msgbox.ListStatuses is an error; an error from fn is returned as it is.
func (b *Box) List(ctx context.Context, f msgbox.Filter, fn func(msgbox.Message) error) error {
	if f.Status != "" && !msgbox.ValidListStatus(f.Status) {
		return b.wrap(fmt.Errorf("unknown status %q", f.Status), "list")
	}
	conds, args := msgbox.ListConditions(f, func() string { return "?" }, func(t time.Time) any { return toDB(t) })
	cols := listColumns
	if f.Status != "" {
		where, stored := msgbox.ListWhere(f.Status, "?")
		cols, conds, args = messageColumns, append([]string{where}, conds...), append([]any{string(stored)}, args...)
	}
	// Page by page (msgbox.ListPage), each after the last seq handed on.
	page, order := "seq < ?", "DESC"
	if f.OldestFirst {
		// Up to the last message received when the listing starts.
		var last int64
		if err := b.q.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM messages").Scan(&last); err != nil {
			return b.wrap(err, "list")
		}
		page, order = "seq > ?", "ASC"
		conds, args = append(conds, "seq <= ?"), append(args, last)
	}
	q := "SELECT " + cols + ", seq FROM messages WHERE " + strings.Join(append(conds, page), " AND ") +
		" ORDER BY seq " + order + " LIMIT ?"
	return msgbox.ListPages(f, b.listPage, func(size int, after int64) ([]msgbox.Listed, error) {
		page, err := b.readListPage(ctx, q, append(args, after, size))
		return page, b.wrap(err, "list")
	}, fn)
}

// readListPage reads a page of List's query q, and ends the read.
func (b *Box) readListPage(ctx context.Context, q string, args []any) ([]msgbox.Listed, error) {
	rows, err := b.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return msgbox.ReadListed(rows, scanMessage)
}

// listColumns are messageColumns with the status List shows
// (msgbox.ShownStatusSQL).
var listColumns = msgbox.Replaced(messageColumns, "status", msgbox.ShownStatusSQL)

// Backlog counts the messages not finished by status (see msgbox.Box),
// from the status index, in one statement: one snapshot, so that a
// message changing status meanwhile is counted once (a query per status
// could count it under both, or neither).
func (b *Box) Backlog(ctx context.Context) (map[msgbox.Status]int, error) {
	statuses := msgbox.BacklogStatuses()
	out := make(map[msgbox.Status]int, len(statuses))
	q := "SELECT status, count(*) FROM messages WHERE status IN (?" + strings.Repeat(", ?", len(statuses)-1) + ") GROUP BY status"
	args := make([]any, len(statuses))
	for i, st := range statuses {
		out[st] = 0
		args[i] = string(st)
	}
	rows, err := b.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, b.wrap(err, "backlog")
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, b.wrap(err, "backlog")
		}
		out[msgbox.Status(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, b.wrap(err, "backlog")
	}
	return out, nil
}

// Resume makes a suspended message's suspended deliveries due now with
// their attempt counts reset, or returns a routing failure to
// StatusReceived (see msgbox.Box). Deliveries that are not suspended are
// left as they are. Any other status, or a message that failed decoding,
// is ErrInvalidState (msgbox.CheckResume); so is a message a copy of which
// would make a resumed delivery twice (msgbox.CheckResumeCopies).
func (b *Box) Resume(ctx context.Context, id string) error {
	if err := msgbox.CheckID(id); err != nil {
		return b.wrap(err, "resume")
	}
	err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		st, err := loadState(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := msgbox.CheckResume(id, st.status, st.decoding, st.reason); err != nil {
			return err
		}
		now := b.clock()
		var ports []string
		rows, err := tx.QueryContext(ctx, "SELECT port FROM deliveries WHERE message_id = ? AND state = ? ORDER BY id",
			id, string(msgbox.DeliverySuspended))
		if err != nil {
			return err
		}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return err
			}
			ports = append(ports, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		// Read under the write lock, as the changes below are made: a
		// resubmit of the message waits for them, and then finds it no
		// longer suspended (checkResubmit).
		if err := checkResumeCopies(ctx, tx, id, ports); err != nil {
			return err
		}
		if b.resumeChecked != nil {
			b.resumeChecked()
		}
		if len(ports) == 0 {
			// A routing failure: route it again, perhaps under a
			// configuration that now has a subscriber.
			if _, err := tx.ExecContext(ctx, "UPDATE messages SET routed = 0, reason = '' WHERE id = ?", id); err != nil {
				return err
			}
			if err := addEvent(ctx, tx, id, now, "", string(msgbox.StatusReceived), msgbox.ResumedRouteDetail); err != nil {
				return err
			}
			return refreshStatus(ctx, tx, id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, attempts = 0, next_attempt_at = ?, due_at = ?
			WHERE message_id = ? AND state = ?`, string(msgbox.DeliveryPending), toDB(now), toDB(now), id,
			string(msgbox.DeliverySuspended)); err != nil {
			return err
		}
		for _, p := range ports {
			if err := addEvent(ctx, tx, id, now, p, string(msgbox.DeliveryPending), msgbox.ResumedRetryDetail); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE messages SET reason = '' WHERE id = ?", id); err != nil {
			return err
		}
		return refreshStatus(ctx, tx, id)
	})
	return b.wrap(err, "resume %s", id)
}

// Terminate ends every delivery of a message that is not delivered (see
// msgbox.Box); delivered ones stay delivered. A delivery in progress under
// a live lease makes it ErrInvalidState and changes nothing: the attempt may
// be delivering right now. An expired lease does not protect its delivery;
// the late owner's Finish gets ErrLeaseLost, and its attempt is recorded
// (msgbox.CutOffAttempt). A delivered or already
// terminated message is ErrInvalidState; a message not yet routed is
// terminated and never routed.
func (b *Box) Terminate(ctx context.Context, id string) error {
	return b.terminate(ctx, id, false)
}

// TerminateSuspended is Terminate of a message that is suspended when it
// runs (see msgbox.Box).
func (b *Box) TerminateSuspended(ctx context.Context, id string) error {
	return b.terminate(ctx, id, true)
}

// terminate is Terminate, of a suspended message only when onlySuspended:
// the status is read in the transaction that ends the message.
func (b *Box) terminate(ctx context.Context, id string, onlySuspended bool) error {
	if err := msgbox.CheckID(id); err != nil {
		return b.wrap(err, "terminate")
	}
	err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		st, err := loadState(ctx, tx, id)
		if err != nil {
			return err
		}
		if st.status == msgbox.StatusTerminated || st.status == msgbox.StatusDelivered ||
			(onlySuspended && st.status != msgbox.StatusSuspended) {
			return msgbox.InvalidState(id, st.status)
		}
		now := b.clock()
		var port, owner string
		var until int64
		// A delivery awaiting an asynchronous MDN is no one's work in
		// progress: terminating it abandons the wait (a late MDN then
		// settles nothing).
		err = tx.QueryRowContext(ctx, `SELECT port, lease_owner, lease_until FROM deliveries
			WHERE message_id = ? AND state = ? AND lease_until > ? AND lease_owner != ? ORDER BY id LIMIT 1`,
			id, string(msgbox.DeliveryInProgress), toDB(now), msgbox.AwaitOwner).Scan(&port, &owner, &until)
		if err == nil {
			return msgbox.LeaseLive(id, port, owner, fromDB(until))
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}

		var ports []string
		type cut struct {
			d         *msgbox.Delivery
			claimedAt sql.NullInt64
		}
		var cuts []cut // in progress: a lease expired, or a wait for an MDN
		rows, err := tx.QueryContext(ctx, "SELECT "+deliveryColumns+`, claimed_at FROM deliveries
			WHERE message_id = ? AND state NOT IN (?, ?) ORDER BY id`,
			id, string(msgbox.DeliveryDelivered), string(msgbox.DeliveryTerminated))
		if err != nil {
			return err
		}
		for rows.Next() {
			var c cut
			if c.d, err = scanDelivery(msgbox.ScanThen(rows, &c.claimedAt)); err != nil {
				rows.Close()
				return err
			}
			ports = append(ports, c.d.Port)
			if c.d.State == msgbox.DeliveryInProgress {
				cuts = append(cuts, c)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// The attempt of a delivery ended in progress may have placed its
		// file or begun sending, and its owner's Finish is refused from
		// now on: recorded and counted as a takeover records it.
		for _, c := range cuts {
			e, finished := msgbox.CutOffAttempt(c.d.LeaseOwner, c.d.LeaseUntil, now)
			if err := recordCutOffTx(ctx, tx, c.d, c.claimedAt, e, finished, now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE deliveries SET attempts = ?, last_error = ? WHERE id = ?",
				c.d.Attempts, c.d.LastError, c.d.ID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, next_attempt_at = NULL, due_at = NULL,
			lease_owner = '', lease_until = NULL, claimed_at = NULL WHERE message_id = ? AND state NOT IN (?, ?)`,
			string(msgbox.DeliveryTerminated), id, string(msgbox.DeliveryDelivered),
			string(msgbox.DeliveryTerminated)); err != nil {
			return err
		}
		for _, p := range ports {
			if err := addEvent(ctx, tx, id, now, p, string(msgbox.DeliveryTerminated), msgbox.TerminatedDetail); err != nil {
				return err
			}
		}
		reason := msgbox.TerminatedReason(st.reason)
		if _, err := tx.ExecContext(ctx, "UPDATE messages SET terminated = 1, reason = ? WHERE id = ?", reason, id); err != nil {
			return err
		}
		if err := addEvent(ctx, tx, id, now, "", string(msgbox.StatusTerminated), reason); err != nil {
			return err
		}
		return refreshStatus(ctx, tx, id)
	})
	return b.wrap(err, "terminate %s", id)
}

// readReceipts sets the Receipt of those of deliveries, message id's, that
// have one.
func readReceipts(ctx context.Context, tx *cachedTx, id string, deliveries []msgbox.Delivery) error {
	rows, err := tx.QueryContext(ctx, "SELECT delivery_id, content_type, summary, data FROM receipts WHERE message_id = ?", id)
	if err != nil {
		return fmt.Errorf("reading receipts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var did int64
		r := &msgbox.DeliveryReceipt{}
		if err := rows.Scan(&did, &r.ContentType, &r.Summary, &r.Data); err != nil {
			return fmt.Errorf("reading receipts: %w", err)
		}
		for i := range deliveries {
			if deliveries[i].ID == did {
				deliveries[i].Receipt = r
			}
		}
	}
	return rows.Err()
}
