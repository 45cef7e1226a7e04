package pgbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// purgeBatch bounds the messages one Purge statement deletes, so that a
// large purge does not hold many row locks at once (Box.purgeBatch; tests
// make it small).
const purgeBatch = 500

// purgeRaceTries bounds how many times Purge runs a statement that a
// history entry added meanwhile failed (see Purge): each run takes a new
// snapshot, so only another entry added in its own instant fails it again.
const purgeRaceTries = 5

// isForeignKeyViolation reports whether err is PostgreSQL's
// foreign_key_violation.
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// purgeable selects, in messages m, what Purge deletes: $1 is the time
// before which m must be untouched. A message whose asynchronous MDN still
// waits to be POSTed is not done with, however long ago it was delivered:
// the sender is owed it. received_at < $1 says nothing the history does
// not (a message's arrival is its first event), but without it the planner
// joins the whole history to the messages (a hash of every event) at each
// statement.
const purgeable = `m.status IN ('delivered', 'terminated') AND m.received_at < $1
	AND NOT EXISTS (SELECT 1 FROM events e WHERE e.message_id = m.id AND e.at >= $1)
	AND NOT EXISTS (SELECT 1 FROM sent_mdns s WHERE s.message_id = m.id AND s.state = 'pending')`

// Purgeable counts what Purge would delete (see msgbox.Box).
func (b *Box) Purgeable(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := b.retry(ctx, func(ctx context.Context) error {
		return b.pool.QueryRow(ctx, "SELECT count(*) FROM messages m WHERE "+purgeable, ts(before)).Scan(&n)
	})
	if err != nil {
		return 0, b.wrap(err, "count purgeable")
	}
	return n, nil
}

// Purge deletes finished messages untouched since before (see msgbox.Box),
// purgeBatch per statement, in the order they were stored. Each statement
// deletes its messages with everything that refers to them at once, and
// goes on after the last message the one before deleted, so that the
// messages kept are read once, not by every statement; messages another
// purge is deleting are skipped, not waited for.
func (b *Box) Purge(ctx context.Context, before time.Time) (int, error) {
	var after int64 // the seq of the last message deleted
	n, err := msgbox.PurgeBatches(func() (int, bool, error) {
		var n, last int64
		purge := func(ctx context.Context) error {
			err := b.pool.QueryRow(ctx, `WITH doomed AS (
					SELECT m.id FROM messages m WHERE m.seq > $3 AND `+purgeable+`
					ORDER BY m.seq LIMIT $2
					FOR UPDATE SKIP LOCKED),
				a AS (DELETE FROM attempts WHERE message_id IN (SELECT id FROM doomed)),
				e AS (DELETE FROM events WHERE message_id IN (SELECT id FROM doomed)),
				d AS (DELETE FROM deliveries WHERE message_id IN (SELECT id FROM doomed)),
				m AS (DELETE FROM messages WHERE id IN (SELECT id FROM doomed) RETURNING seq)
				SELECT count(*), coalesce(max(seq), $3) FROM m`, ts(before), b.purgeBatch, after).Scan(&n, &last)
			if err != nil {
				// Sent and unanswered, the batch may be deleted: running
				// it again would count the next one only.
				return commitErr(err)
			}
			return nil
		}
		err := b.retry(ctx, purge)
		for tries := 1; tries < purgeRaceTries && isForeignKeyViolation(err); tries++ {
			// The statement reads what is purgeable in the snapshot it
			// takes as it starts, and locks a message only when it gets
			// to it: an entry added to the history of a message it then
			// locks (a resubmit of it, committed in between) is not in
			// that snapshot, so neither the check nor the delete of the
			// history sees it, and its foreign key fails the statement,
			// which deleted nothing. Run again, its snapshot has the
			// entry: the message is kept, or purged with it. So for an
			// asynchronous MDN queued again meanwhile (PutMDN): the
			// delete of a pending one fails likewise (migration 0009).
			err = b.retry(ctx, purge)
		}
		if err == nil {
			after = last
		}
		// A short batch was the last: SKIP LOCKED leaves out only what
		// another purge is deleting.
		return int(n), n == int64(b.purgeBatch), err
	})
	return n, b.wrap(err, "purge")
}

// DeliveryStates returns the states of the deliveries with ids (see
// msgbox.Box).
func (b *Box) DeliveryStates(ctx context.Context, ids []int64) (map[int64]msgbox.DeliveryState, error) {
	var out map[int64]msgbox.DeliveryState
	err := b.retry(ctx, func(ctx context.Context) error {
		out = make(map[int64]msgbox.DeliveryState, len(ids))
		if len(ids) == 0 {
			return nil
		}
		rows, err := b.pool.Query(ctx, "SELECT id, state FROM deliveries WHERE id = ANY($1)", ids)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var st string
			if err := rows.Scan(&id, &st); err != nil {
				return err
			}
			out[id] = msgbox.DeliveryState(st)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, b.wrap(err, "delivery states")
	}
	return out, nil
}

// Message returns a message's metadata (see msgbox.Box).
func (b *Box) Message(ctx context.Context, id string) (msgbox.Message, error) {
	if err := msgbox.CheckID(id); err != nil {
		return msgbox.Message{}, b.wrap(err, "message")
	}
	var m *msgbox.Message
	err := b.retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = scanMessage(b.pool.QueryRow(ctx, "SELECT "+messageColumns+" FROM messages WHERE id = $1", id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = msgbox.ErrNotFound
	}
	if err != nil {
		return msgbox.Message{}, b.wrap(err, "message %s", id)
	}
	return *m, nil
}

// Get returns a message with its deliveries, attempts and history, all read
// from one snapshot (a REPEATABLE READ transaction, in one round trip).
// Deliveries, attempts and events are in the order they were recorded.
func (b *Box) Get(ctx context.Context, id string) (*msgbox.Detail, error) {
	if err := msgbox.CheckID(id); err != nil {
		return nil, b.wrap(err, "get")
	}
	var d *msgbox.Detail
	err := b.retry(ctx, func(ctx context.Context) error {
		d = &msgbox.Detail{}
		found := false
		return b.inTx(ctx, beginSnapshot, func(t *pipeTx) (*pgx.Batch, error) {
			batch := &pgx.Batch{}
			batch.Queue("SELECT "+messageColumns+" FROM messages WHERE id = $1", id).QueryRow(func(r pgx.Row) error {
				m, err := scanMessage(r)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				if err != nil {
					return err
				}
				found, d.Message = true, *m
				return nil
			})
			batch.Queue("SELECT "+deliveryColumns+" FROM deliveries WHERE message_id = $1 ORDER BY id", id).
				Query(func(rows pgx.Rows) error {
					for rows.Next() {
						dl, err := scanDelivery(rows)
						if err != nil {
							return err
						}
						d.Deliveries = append(d.Deliveries, *dl)
					}
					return rows.Err()
				})
			// After the deliveries' query: a batch's callbacks run in order.
			batch.Queue("SELECT delivery_id, content_type, summary, data FROM receipts WHERE message_id = $1", id).
				Query(func(rows pgx.Rows) error {
					for rows.Next() {
						var did int64
						r := &msgbox.DeliveryReceipt{}
						if err := rows.Scan(&did, &r.ContentType, &r.Summary, &r.Data); err != nil {
							return fmt.Errorf("reading receipts: %w", err)
						}
						for i := range d.Deliveries {
							if d.Deliveries[i].ID == did {
								d.Deliveries[i].Receipt = r
							}
						}
					}
					return rows.Err()
				})
			batch.Queue(`SELECT delivery_id, port, number, owner, started_at, finished_at, outcome, error
				FROM attempts WHERE message_id = $1 ORDER BY id`, id).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var a msgbox.Attempt
					var outcome string
					if err := rows.Scan(&a.DeliveryID, &a.Port, &a.Number, &a.Owner, &a.StartedAt, &a.FinishedAt,
						&outcome, &a.Error); err != nil {
						return err
					}
					a.StartedAt, a.FinishedAt, a.Outcome = ts(a.StartedAt), ts(a.FinishedAt), msgbox.DeliveryState(outcome)
					d.Attempts = append(d.Attempts, a)
				}
				return rows.Err()
			})
			batch.Queue("SELECT at, port, status, detail FROM events WHERE message_id = $1 ORDER BY id", id).
				Query(func(rows pgx.Rows) error {
					for rows.Next() {
						var e msgbox.Event
						if err := rows.Scan(&e.At, &e.Port, &e.Status, &e.Detail); err != nil {
							return err
						}
						e.At = ts(e.At)
						d.History = append(d.History, e)
					}
					return rows.Err()
				})
			if err := t.send(ctx, batch); err != nil {
				return nil, err
			}
			if !found {
				return nil, msgbox.ErrNotFound
			}
			return nil, nil
		})
	})
	if err != nil {
		return nil, b.wrap(err, "get %s", id)
	}
	d.Message.Status = msgbox.ShownStatus(d.Message.Status, d.Deliveries)
	return d, nil
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
	n := 2 // $1 is the page's size, $2 the seq it starts after
	next := func() string { n++; return "$" + strconv.Itoa(n) }
	where := []string{"seq < $2"}
	args := []any{nil, nil}
	cols := listColumns
	if f.Status != "" {
		w, stored := msgbox.ListWhere(f.Status, next())
		cols, where, args = messageColumns, append(where, w), append(args, string(stored))
	}
	conds, more := msgbox.ListConditions(f, next, func(t time.Time) any { return ts(t) })
	where, args = append(where, conds...), append(args, more...)
	order := "DESC"
	if f.OldestFirst {
		// Up to the last message received when the listing starts.
		var last int64
		err := b.retry(ctx, func(ctx context.Context) error {
			return b.pool.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM messages").Scan(&last)
		})
		if err != nil {
			return b.wrap(err, "list")
		}
		where[0], order = "seq > $2", "ASC"
		where, args = append(where, next()+" >= seq"), append(args, last)
	}
	q := "SELECT " + cols + ", seq FROM messages WHERE " + strings.Join(where, " AND ") + " ORDER BY seq " + order + " LIMIT $1"
	return msgbox.ListPages(f, b.listPage, func(size int, after int64) ([]msgbox.Listed, error) {
		args[0], args[1] = size, after
		var page []msgbox.Listed
		err := b.retry(ctx, func(ctx context.Context) error {
			var err error
			page, err = b.readListPage(ctx, q, args)
			return err
		})
		return page, b.wrap(err, "list")
	}, fn)
}

// readListPage reads a page of List's query q, and ends the read.
func (b *Box) readListPage(ctx context.Context, q string, args []any) ([]msgbox.Listed, error) {
	rows, err := b.pool.Query(ctx, q, args...)
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
// from the status index.
func (b *Box) Backlog(ctx context.Context) (map[msgbox.Status]int, error) {
	var statuses []string
	for _, st := range msgbox.BacklogStatuses() {
		statuses = append(statuses, string(st))
	}
	var out map[msgbox.Status]int
	err := b.retry(ctx, func(ctx context.Context) error {
		out = make(map[msgbox.Status]int, len(statuses))
		// One row per status, 0 included.
		rows, err := b.pool.Query(ctx, `SELECT s, (SELECT count(*) FROM messages WHERE status = s)
			FROM unnest($1::text[]) AS s`, statuses)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st string
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			out[msgbox.Status(st)] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, b.wrap(err, "backlog")
	}
	return out, nil
}

// lockOperated locks every delivery of a message, in id order, and then
// the message (the lock order): what Resume and Terminate change.
func lockOperated(ctx context.Context, t *pipeTx, msgID string) (*lockedMessage, error) {
	batch := &pgx.Batch{}
	batch.Queue("SELECT 1 FROM deliveries WHERE message_id = $1 ORDER BY id FOR UPDATE", msgID)
	return lockMessage(ctx, t, batch, msgID)
}

// operatorTx runs an operator's change (Resume, Terminate): retried after a
// lost connection, but not after a lost commit, which it reports as
// ErrCommitUncertain for the operator to check.
func (b *Box) operatorTx(ctx context.Context, fn func(t *pipeTx) (*pgx.Batch, error)) error {
	return b.retry(ctx, func(ctx context.Context) error { return b.inTx(ctx, beginReadCommitted, fn) })
}

// Resume makes a suspended message's suspended deliveries due now with
// their attempt counts reset, or returns a routing failure to
// StatusReceived (see msgbox.Box), and notifies the ports. Deliveries that
// are not suspended are left as they are. Any other status, or a message
// that failed decoding, is ErrInvalidState (msgbox.CheckResume); so is a
// message a copy of which would make a resumed delivery twice
// (msgbox.CheckResumeCopies).
func (b *Box) Resume(ctx context.Context, id string) error {
	if err := msgbox.CheckID(id); err != nil {
		return b.wrap(err, "resume")
	}
	err := b.operatorTx(ctx, func(t *pipeTx) (*pgx.Batch, error) {
		l, err := lockOperated(ctx, t, id)
		if err != nil {
			return nil, err
		}
		if err := msgbox.CheckResume(id, l.status, l.decoding, l.reason); err != nil {
			return nil, err
		}
		var ports []string
		for _, d := range l.deliveries {
			if d.state == msgbox.DeliverySuspended {
				ports = append(ports, d.port)
			}
		}
		// Read under the lock of the message, which a resubmit of it
		// takes too (checkResubmit): the one waits for the other.
		if err := checkResumeCopies(ctx, t, id, ports); err != nil {
			return nil, err
		}
		if b.resumeChecked != nil {
			b.resumeChecked()
		}
		for i, d := range l.deliveries {
			if d.state == msgbox.DeliverySuspended {
				l.deliveries[i].state = msgbox.DeliveryPending
			}
		}
		batch := &pgx.Batch{}
		if len(ports) == 0 {
			// A routing failure: route it again, perhaps under a
			// configuration that now has a subscriber.
			l.routed = false
			batch.Queue("UPDATE messages SET routed = false, reason = '' WHERE id = $1", id)
			queueEvent(batch, id, l.now, "", string(msgbox.StatusReceived), msgbox.ResumedRouteDetail)
		} else {
			batch.Queue(`UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $2, due_at = $2
				WHERE message_id = $1 AND state = 'suspended'`, id, l.now)
			for _, p := range ports {
				queueEvent(batch, id, l.now, p, string(msgbox.DeliveryPending), msgbox.ResumedRetryDetail)
			}
			batch.Queue("UPDATE messages SET reason = '' WHERE id = $1", id)
			queueNotify(batch, ports)
		}
		queueStatus(batch, l)
		return batch, nil
	})
	return b.wrap(err, "resume %s", id)
}

// queueCutOff returns a batch that records the attempt of each delivery of
// l in progress, which terminate ends (a lease expired, or a wait for an
// MDN), as the takeover of an expired lease records it (ClaimBatch), with
// msgbox.CutOffAttempt's error and end: it may have placed its file or
// begun sending, and its owner's Finish is refused from now on. The
// deliveries are read only when one is in progress, under the lock l
// holds.
func queueCutOff(ctx context.Context, t *pipeTx, l *lockedMessage) (*pgx.Batch, error) {
	batch := &pgx.Batch{}
	if !slices.ContainsFunc(l.deliveries, func(d deliveryRow) bool { return d.state == msgbox.DeliveryInProgress }) {
		return batch, nil
	}
	type cut struct {
		d         msgbox.Delivery
		claimedAt *time.Time
	}
	var cuts []cut
	read := &pgx.Batch{}
	read.Queue(`SELECT id, port, attempts, lease_owner, lease_until, claimed_at FROM deliveries
		WHERE message_id = $1 AND state = 'in_progress' ORDER BY id`, l.id).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var c cut
			var until *time.Time
			if err := rows.Scan(&c.d.ID, &c.d.Port, &c.d.Attempts, &c.d.LeaseOwner, &until, &c.claimedAt); err != nil {
				return err
			}
			c.d.LeaseUntil = tsp(until)
			cuts = append(cuts, c)
		}
		return rows.Err()
	})
	if err := t.send(ctx, read); err != nil {
		return nil, err
	}
	for _, c := range cuts {
		d := c.d
		d.Attempts++
		e, finished := msgbox.CutOffAttempt(d.LeaseOwner, d.LeaseUntil, l.now)
		started := l.now
		if c.claimedAt != nil {
			started = ts(*c.claimedAt)
		}
		batch.Queue(`INSERT INTO attempts (delivery_id, message_id, port, number, owner, started_at, finished_at, outcome, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'retrying', $8)`,
			d.ID, l.id, d.Port, d.Attempts, d.LeaseOwner, started, finished, e)
		batch.Queue(`UPDATE deliveries SET attempts = $2, last_error = $3 WHERE id = $1`, d.ID, d.Attempts, e)
		queueEvent(batch, l.id, l.now, d.Port, string(msgbox.DeliveryRetrying), msgbox.AbandonedDetail(d.Attempts, e))
	}
	return batch, nil
}

// Terminate ends every delivery of a message that is not delivered (see
// msgbox.Box); delivered ones stay delivered. A delivery in progress under
// a live lease (by the database's clock) makes it ErrInvalidState and
// changes nothing: the attempt may be delivering right now. An expired lease
// does not protect its delivery; the late owner's Finish gets ErrLeaseLost,
// and its attempt is recorded (msgbox.CutOffAttempt).
// A delivered or already terminated message is ErrInvalidState; a message
// not yet routed is terminated and never routed.
func (b *Box) Terminate(ctx context.Context, id string) error {
	return b.terminate(ctx, id, false)
}

// TerminateSuspended is Terminate of a message that is suspended when it
// runs (see msgbox.Box).
func (b *Box) TerminateSuspended(ctx context.Context, id string) error {
	return b.terminate(ctx, id, true)
}

// terminate is Terminate, of a suspended message only when onlySuspended:
// the status is read under the lock that ends the message.
func (b *Box) terminate(ctx context.Context, id string, onlySuspended bool) error {
	if err := msgbox.CheckID(id); err != nil {
		return b.wrap(err, "terminate")
	}
	err := b.operatorTx(ctx, func(t *pipeTx) (*pgx.Batch, error) {
		l, err := lockOperated(ctx, t, id)
		if err != nil {
			return nil, err
		}
		if l.status == msgbox.StatusTerminated || l.status == msgbox.StatusDelivered ||
			(onlySuspended && l.status != msgbox.StatusSuspended) {
			return nil, msgbox.InvalidState(id, l.status)
		}
		for _, d := range l.deliveries {
			// A delivery awaiting an asynchronous MDN is no one's work
			// in progress: terminating it abandons the wait (a late MDN
			// then settles nothing).
			if d.state == msgbox.DeliveryInProgress && d.until != nil && d.until.After(l.now) && d.owner != msgbox.AwaitOwner {
				return nil, msgbox.LeaseLive(id, d.port, d.owner, ts(*d.until))
			}
		}
		batch, err := queueCutOff(ctx, t, l)
		if err != nil {
			return nil, err
		}
		var ports []string
		for i, d := range l.deliveries {
			if d.state != msgbox.DeliveryDelivered && d.state != msgbox.DeliveryTerminated {
				ports = append(ports, d.port)
				l.deliveries[i].state = msgbox.DeliveryTerminated
			}
		}
		batch.Queue(`UPDATE deliveries SET state = 'terminated', next_attempt_at = NULL, due_at = NULL, lease_owner = '',
			lease_until = NULL, claimed_at = NULL WHERE message_id = $1 AND state NOT IN ('delivered', 'terminated')`, id)
		for _, p := range ports {
			queueEvent(batch, id, l.now, p, string(msgbox.DeliveryTerminated), msgbox.TerminatedDetail)
		}
		reason := msgbox.TerminatedReason(l.reason)
		l.terminated = true
		batch.Queue("UPDATE messages SET terminated = true, reason = $2 WHERE id = $1", id, reason)
		queueEvent(batch, id, l.now, "", string(msgbox.StatusTerminated), reason)
		queueStatus(batch, l)
		return batch, nil
	})
	return b.wrap(err, "terminate %s", id)
}
