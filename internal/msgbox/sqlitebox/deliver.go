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

// messageColumns are the columns scanMessage reads, in its order.
const messageColumns = "id, receive_location, file_name, content_type, properties, size, received_at, status, reason, party, decoding"

func scanMessage(s msgbox.Scanner) (*msgbox.Message, error) {
	var m msgbox.Message
	var props, status, decoding string
	var receivedAt int64
	if err := s.Scan(&m.ID, &m.ReceiveLocation, &m.FileName, &m.ContentType, &props, &m.Size, &receivedAt,
		&status, &m.Reason, &m.Party, &decoding); err != nil {
		return nil, err
	}
	m.Decoding = msgbox.Decoding(decoding)
	p, sensitive, err := msgbox.DecodeProperties(props)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", m.ID, err)
	}
	m.Properties, m.SensitiveProperties = p, sensitive
	m.ReceivedAt = fromDB(receivedAt)
	m.Status = msgbox.Status(status)
	return &m, nil
}

func messageBySourceKey(ctx context.Context, q querier, key string) (*msgbox.Message, error) {
	return scanMessage(q.QueryRowContext(ctx, "SELECT "+messageColumns+" FROM messages WHERE source_key = ?", key))
}

func scanMessages(rows *sql.Rows) ([]msgbox.Message, error) {
	defer rows.Close()
	var out []msgbox.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

func addEvent(ctx context.Context, tx *cachedTx, msgID string, at time.Time, port, status, detail string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO events (message_id, at, port, status, detail) VALUES (?, ?, ?, ?, ?)",
		msgID, toDB(at), port, status, detail)
	if err != nil {
		return fmt.Errorf("recording history: %w", err)
	}
	return nil
}

// msgState is a message's row as the write operations need it.
type msgState struct {
	routed, terminated bool
	status             msgbox.Status
	reason             string
	decoding           msgbox.Decoding
}

func loadState(ctx context.Context, tx *cachedTx, id string) (msgState, error) {
	var s msgState
	var status, decoding string
	err := tx.QueryRowContext(ctx, "SELECT routed, terminated, status, reason, decoding FROM messages WHERE id = ?", id).
		Scan(&s.routed, &s.terminated, &status, &s.reason, &decoding)
	if errors.Is(err, sql.ErrNoRows) {
		return s, msgbox.ErrNotFound
	}
	s.status, s.decoding = msgbox.Status(status), msgbox.Decoding(decoding)
	return s, err
}

// refreshStatus derives the message's status from its row and deliveries
// (msgbox.DeriveStatus) and stores it when it changed. Every transaction
// that changes a delivery's state, routed or terminated calls it before
// committing. One query reads what the derivation needs: this runs several
// times in every message's life.
func refreshStatus(ctx context.Context, tx *cachedTx, id string) error {
	var routed, terminated bool
	var current string
	var states sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT m.routed, m.terminated, m.status,
		(SELECT group_concat(d.state) FROM deliveries d WHERE d.message_id = m.id)
		FROM messages m WHERE m.id = ?`, id).Scan(&routed, &terminated, &current, &states); err != nil {
		return fmt.Errorf("deriving status: %w", err)
	}
	var ds []msgbox.DeliveryState
	if states.Valid {
		// State names are fixed identifiers without commas (the schema's
		// CHECK constraint), so the list splits back exactly.
		for _, st := range strings.Split(states.String, ",") {
			ds = append(ds, msgbox.DeliveryState(st))
		}
	}
	st := msgbox.DeriveStatus(routed, terminated, ds)
	if string(st) == current {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE messages SET status = ? WHERE id = ?", string(st), id); err != nil {
		return fmt.Errorf("storing status: %w", err)
	}
	return nil
}

// textsJSON encodes a list of texts (ports, message ids) for `x IN
// (SELECT value FROM json_each(?))`: one statement text whatever their
// number. Texts the box cleaned are valid UTF-8, which JSON carries
// unchanged.
func textsJSON(ports []string) string {
	js, _ := json.Marshal(ports) // a []string always encodes
	return string(js)
}

// idsJSON is ids as a JSON array for json_each; "[]" for none.
func idsJSON(ids []int64) string {
	if len(ids) == 0 {
		return "[]"
	}
	js, _ := json.Marshal(ids) // an []int64 always encodes
	return string(js)
}

// appendInt64s appends to dst the first column of every row of rows, an
// integer, and closes rows.
func appendInt64s(dst []int64, rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return dst, err
		}
		dst = append(dst, v)
	}
	return dst, rows.Err()
}

// Route records one pending delivery per port, due now, or suspends the
// message as a routing failure when ports is empty (see msgbox.Box).
// Duplicate ports get one delivery; an empty port name is an error.
func (b *Box) Route(ctx context.Context, id string, ports []string, reason string) error {
	if err := msgbox.CheckID(id); err != nil {
		return b.wrap(err, "route")
	}
	r, err := msgbox.NewRouting(ports, reason)
	if err != nil {
		return b.wrap(err, "route %s", id)
	}
	err = b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		st, err := loadState(ctx, tx, id)
		if err != nil {
			return err
		}
		if st.routed || st.terminated {
			return msgbox.InvalidState(id, st.status)
		}
		return routeTx(ctx, tx, id, r, b.clock(), false)
	})
	return b.wrap(err, "route %s", id)
}

// routeTx routes message id, which the caller checked is unrouted, as r
// says. fresh says the message has no deliveries yet (it was just
// inserted), so that its status is r.Status without reading it back.
func routeTx(ctx context.Context, tx *cachedTx, id string, r msgbox.Routing, now time.Time, fresh bool) error {
	if len(r.Ports) == 0 {
		if _, err := tx.ExecContext(ctx, "UPDATE messages SET routed = 1, reason = ? WHERE id = ?", r.Reason, id); err != nil {
			return err
		}
		if err := addEvent(ctx, tx, id, now, "", string(msgbox.StatusSuspended), r.Reason); err != nil {
			return err
		}
		return refreshStatus(ctx, tx, id)
	}
	if fresh {
		if _, err := tx.ExecContext(ctx, "UPDATE messages SET routed = 1, status = ? WHERE id = ?",
			string(r.Status), id); err != nil {
			return err
		}
	} else if _, err := tx.ExecContext(ctx, "UPDATE messages SET routed = 1 WHERE id = ?", id); err != nil {
		return err
	}
	for _, p := range r.Ports {
		_, err := tx.ExecContext(ctx, `INSERT INTO deliveries (message_id, port, state, next_attempt_at, due_at)
			VALUES (?, ?, ?, ?, ?)`, id, p, string(msgbox.DeliveryPending), toDB(now), toDB(now))
		if err != nil {
			return fmt.Errorf("recording delivery to %s: %w", p, err)
		}
		if err := addEvent(ctx, tx, id, now, p, string(msgbox.DeliveryPending), msgbox.RoutedDetail(p)); err != nil {
			return err
		}
	}
	if fresh {
		return nil // the status is set above
	}
	return refreshStatus(ctx, tx, id)
}

// Unrouted returns up to limit messages in StatusReceived, oldest first;
// limit <= 0 means all of them.
func (b *Box) Unrouted(ctx context.Context, limit int) ([]msgbox.Message, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := b.q.QueryContext(ctx, "SELECT "+messageColumns+
		" FROM messages WHERE routed = 0 AND terminated = 0 ORDER BY seq LIMIT ?", limit)
	if err != nil {
		return nil, b.wrap(err, "unrouted")
	}
	msgs, err := scanMessages(rows)
	return msgs, b.wrap(err, "unrouted")
}

// deliveryColumns are the columns scanDelivery reads, in its order.
const deliveryColumns = "id, message_id, port, state, attempts, next_attempt_at, lease_owner, lease_until, last_error"

func scanDelivery(s msgbox.Scanner) (*msgbox.Delivery, error) {
	var d msgbox.Delivery
	var state string
	var next, until sql.NullInt64
	if err := s.Scan(&d.ID, &d.MessageID, &d.Port, &state, &d.Attempts, &next, &d.LeaseOwner, &until,
		&d.LastError); err != nil {
		return nil, err
	}
	d.State = msgbox.DeliveryState(state)
	d.NextAttemptAt = nullTime(next)
	d.LeaseUntil = nullTime(until)
	return &d, nil
}

// claimDue selects, after a list of columns, the deliveries a claim may
// take: due now ($1), for the ports of the JSON array $2, not among the ids
// of the JSON array $3, oldest due first, at most $4.
const claimDue = `FROM deliveries WHERE due_at IS NOT NULL AND due_at <= ?
		AND port IN (SELECT value FROM json_each(?)) AND id NOT IN (SELECT value FROM json_each(?))
		ORDER BY due_at, id LIMIT ?`

// claimProbe is ClaimBatch's look, outside any transaction, for a delivery
// to claim: the poll every idle worker makes, prepared when the box opens.
const claimProbe = "SELECT id " + claimDue

// claimSelect reads, in ClaimBatch's transaction, the deliveries it claims.
const claimSelect = "SELECT " + deliveryColumns + ", claimed_at " + claimDue

// ClaimBatch leases up to max due deliveries for ports to owner in one
// transaction, oldest due first (ties in the order the deliveries were
// made), passing over those in except (see msgbox.Box). Taking over an
// in-progress delivery whose lease expired records the previous owner's
// attempt as failed (msgbox.LeaseExpiredError) and counts it, so a message
// that kills its worker every time still runs out of retries. A wait for
// an MDN whose deadline passed is recorded so too, but left retrying when
// its retry is not due yet (msgbox.AwaitedMDN's RetryAt), not claimed.
//
// A read-only probe runs first: when nothing is due, as in most polls of an
// idle engine, ClaimBatch returns without taking the write lock.
func (b *Box) ClaimBatch(ctx context.Context, owner string, ports []string, lease time.Duration, max int, except []int64) ([]*msgbox.Delivery, error) {
	if err := msgbox.CheckClaim(owner, lease, max); err != nil {
		return nil, b.wrap(err, "claim")
	}
	if len(ports) == 0 {
		return nil, nil
	}
	owner, ports = msgbox.CleanText(owner), msgbox.CleanPorts(ports)
	pj, ej := textsJSON(ports), idsJSON(except)
	// The probe passes over except too: when all that is due is work in
	// flight in the caller's process, nothing takes the write lock.
	var probe int64
	err := b.q.QueryRowContext(ctx, claimProbe, toDB(b.clock()), pj, ej, 1).Scan(&probe)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, b.wrap(err, "claim for %s", owner)
	}

	var claimed []*msgbox.Delivery
	var abandoned []msgbox.Abandoned // the attempts recorded as failed
	err = b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		claimed, abandoned = nil, nil // a rerun starts afresh (writeFunc)
		// now is read under the write lock: what is due is decided at the
		// instant no one else can change it.
		now := b.clock()
		type row struct {
			d         msgbox.Delivery
			claimedAt sql.NullInt64
		}
		rows, err := tx.QueryContext(ctx, claimSelect, toDB(now), pj, ej, max)
		if err != nil {
			return err
		}
		var due []row
		for rows.Next() {
			var r row
			var state string
			var next, until sql.NullInt64
			if err := rows.Scan(&r.d.ID, &r.d.MessageID, &r.d.Port, &state, &r.d.Attempts, &next, &r.d.LeaseOwner,
				&until, &r.d.LastError, &r.claimedAt); err != nil {
				rows.Close()
				return err
			}
			r.d.State = msgbox.DeliveryState(state)
			r.d.NextAttemptAt = nullTime(next)
			r.d.LeaseUntil = nullTime(until)
			due = append(due, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Pending deliveries, the common case, are claimed together: one
		// update and one insert into the history for all of them. The
		// others (a retry due, an expired lease to take over) one by one.
		var fresh []*msgbox.Delivery
		for _, r := range due {
			if r.d.State == msgbox.DeliveryPending {
				d := r.d
				fresh = append(fresh, &d)
				claimed = append(claimed, &d)
				continue
			}
			if r.d.State == msgbox.DeliveryInProgress {
				// Recorded by claimTx or retryTimedOutTx.
				abandoned = append(abandoned, msgbox.Abandoned{Port: r.d.Port, Attempt: r.d.Attempts + 1})
			}
			if r.d.AwaitsMDN() && r.d.NextAttemptAt.After(now) {
				// A wait that timed out is retried at its RetryAt.
				if err := retryTimedOutTx(ctx, tx, r.d, r.claimedAt, now); err != nil {
					return err
				}
				continue
			}
			d, err := claimTx(ctx, tx, r.d, r.claimedAt, owner, lease, now)
			if err != nil {
				return err
			}
			claimed = append(claimed, d)
		}
		return claimPending(ctx, tx, fresh, owner, lease, now)
	})
	if err != nil {
		return nil, b.wrap(err, "claim for %s", owner)
	}
	b.abandoned.Tell(abandoned)
	b.preload(ctx, claimed)
	return claimed, nil
}

// preload reads the messages of claimed deliveries, and their bodies that
// are stored in one chunk, in one statement for the lot (see
// msgbox.Delivery's Message and Body): the runner would read each with two.
// It runs after the claim's commit, on a reader: the single writer is the
// box's busiest part. A failure is not one: the runner reads what is
// missing itself.
func (b *Box) preload(ctx context.Context, ds []*msgbox.Delivery) {
	if len(ds) == 0 {
		return
	}
	byID := make(map[int64]*msgbox.Delivery, len(ds))
	ids := make([]int64, len(ds))
	for i, d := range ds {
		byID[d.ID], ids[i] = d, d.ID
	}
	rows, err := b.q.QueryContext(ctx, `SELECT `+msgbox.Qualified("m", messageColumns)+`, d.id, m.checksum, b.file, c.data
		FROM deliveries d JOIN messages m ON m.id = d.message_id JOIN bodies b ON b.id = m.body_id
		LEFT JOIN body_chunks c ON c.body_id = m.body_id AND c.seq = 0
		WHERE d.id IN (SELECT value FROM json_each(?))`, idsJSON(ids))
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var sum, data []byte
		var file sql.NullString
		m, err := scanMessage(msgbox.ScanThen(rows, &id, &sum, &file, &data))
		if err != nil {
			return
		}
		d := byID[id]
		if d == nil || d.MessageID != m.ID {
			continue
		}
		d.Message = m
		if file.Valid || int64(len(data)) != m.Size {
			continue // in a file, or in several chunks: Body streams it
		}
		if !msgbox.SumMatches(data, sum) {
			continue // corrupt: Body reports it
		}
		if data == nil {
			data = []byte{}
		}
		d.Body = data
	}
}

// claimPending leases the pending deliveries ds (as read) to owner, as
// claimTx would each, in two statements, updating ds to match. Claiming a
// pending delivery leaves its message's status as it is (pending and in
// progress count alike in msgbox.DeriveStatus).
func claimPending(ctx context.Context, tx *cachedTx, ds []*msgbox.Delivery, owner string, lease time.Duration,
	now time.Time) error {
	if len(ds) == 0 {
		return nil
	}
	until := msgbox.Timestamp(now.Add(lease))
	ids := make([]int64, len(ds))
	// [message id, port, detail] per event: text the box cleaned, valid
	// UTF-8, which JSON carries exactly.
	events := make([][3]string, len(ds))
	for i, d := range ds {
		d.State, d.LeaseOwner, d.LeaseUntil, d.NextAttemptAt = msgbox.DeliveryInProgress, owner, until, time.Time{}
		ids[i] = d.ID
		events[i] = [3]string{d.MessageID, d.Port, msgbox.ClaimedDetail(d.Attempts+1, owner)}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, next_attempt_at = NULL, due_at = ?,
		lease_owner = ?, lease_until = ?, claimed_at = ? WHERE id IN (SELECT value FROM json_each(?))`,
		string(msgbox.DeliveryInProgress), toDB(until), owner, toDB(until), toDB(now), idsJSON(ids)); err != nil {
		return err
	}
	js, err := json.Marshal(events)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (message_id, at, port, status, detail)
		SELECT value ->> 0, ?, value ->> 1, ?, value ->> 2 FROM json_each(?) ORDER BY key`,
		toDB(now), string(msgbox.DeliveryInProgress), string(js)); err != nil {
		return fmt.Errorf("recording history: %w", err)
	}
	return nil
}

// claimTx leases due delivery d (as read, with its claimed_at) to owner.
func claimTx(ctx context.Context, tx *cachedTx, d msgbox.Delivery, claimedAt sql.NullInt64, owner string,
	lease time.Duration, now time.Time) (*msgbox.Delivery, error) {
	// Pending and in progress count alike in msgbox.DeriveStatus: claiming
	// a pending delivery leaves its message's status as it is.
	statusMayChange := d.State != msgbox.DeliveryPending
	if d.State == msgbox.DeliveryInProgress {
		if err := abandonTx(ctx, tx, &d, claimedAt, now); err != nil {
			return nil, err
		}
	}
	d.State = msgbox.DeliveryInProgress
	d.LeaseOwner = owner
	d.LeaseUntil = msgbox.Timestamp(now.Add(lease))
	d.NextAttemptAt = time.Time{}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = NULL,
		due_at = ?, lease_owner = ?, lease_until = ?, claimed_at = ?, last_error = ? WHERE id = ?`,
		string(d.State), d.Attempts, toDB(d.LeaseUntil), owner, toDB(d.LeaseUntil), toDB(now), d.LastError,
		d.ID); err != nil {
		return nil, err
	}
	if err := addEvent(ctx, tx, d.MessageID, now, d.Port, string(msgbox.DeliveryInProgress),
		msgbox.ClaimedDetail(d.Attempts+1, owner)); err != nil {
		return nil, err
	}
	if statusMayChange {
		if err := refreshStatus(ctx, tx, d.MessageID); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// abandonTx records the attempt of in-progress delivery d (as read, with
// its claimed_at), whose lease expired, as failed, and counts it in d.
func abandonTx(ctx context.Context, tx *cachedTx, d *msgbox.Delivery, claimedAt sql.NullInt64, now time.Time) error {
	return recordCutOffTx(ctx, tx, d, claimedAt, msgbox.LeaseExpiredError(d.LeaseOwner), d.LeaseUntil, now)
}

// recordCutOffTx records the attempt of in-progress delivery d (as read,
// with its claimed_at), which ended at finished without its owner's word,
// as failed with error e, and counts it in d: abandonTx's, and
// terminate's (msgbox.CutOffAttempt).
func recordCutOffTx(ctx context.Context, tx *cachedTx, d *msgbox.Delivery, claimedAt sql.NullInt64, e string,
	finished, now time.Time) error {
	d.Attempts++
	d.LastError = e
	if _, err := tx.ExecContext(ctx, `INSERT INTO attempts
		(delivery_id, message_id, port, number, owner, started_at, finished_at, outcome, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.MessageID, d.Port, d.Attempts, d.LeaseOwner,
		toDB(nullTime(claimedAt)), toDB(finished), string(msgbox.DeliveryRetrying), d.LastError); err != nil {
		return fmt.Errorf("recording abandoned attempt: %w", err)
	}
	return addEvent(ctx, tx, d.MessageID, now, d.Port, string(msgbox.DeliveryRetrying),
		msgbox.AbandonedDetail(d.Attempts, d.LastError))
}

// Renew extends each item's lease to now+lease (see msgbox.Box), the items
// of one batch in one transaction. A lease that expired but that no one
// else has claimed is still its owner's: nobody else can have started an
// attempt, so it is renewed. ErrLeaseLost otherwise, and
// msgbox.DeliveryNotFound for a delivery that does not exist.
func (b *Box) Renew(ctx context.Context, lease time.Duration, items ...msgbox.Renewal) []error {
	errNoneRenewed := errors.New("no lease renewed") // errs says why
	return msgbox.RenewInBatches(items, lease, func(items []msgbox.Renewal, errs []error) {
		err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
			clear(errs) // a rerun starts afresh (writeFunc)
			until := toDB(msgbox.Timestamp(b.clock().Add(lease)))
			renewed := 0
			for i, it := range items {
				res, err := tx.ExecContext(ctx, `UPDATE deliveries SET lease_until = ?, due_at = ?
					WHERE id = ? AND state = ? AND lease_owner = ?`,
					until, until, it.DeliveryID, string(msgbox.DeliveryInProgress), it.Owner)
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n == 1 {
					renewed++
					continue
				}
				var exists bool
				if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = ?)", it.DeliveryID).
					Scan(&exists); err != nil {
					return err
				}
				if exists {
					errs[i] = msgbox.LeaseLost(it.Owner)
				} else {
					errs[i] = msgbox.DeliveryNotFound(it.DeliveryID)
				}
			}
			if renewed == 0 {
				// Nothing to commit: answered at once, as a refused
				// write, without waiting for a commit and its sync.
				return errNoneRenewed
			}
			return nil
		})
		if err != nil && !errors.Is(err, errNoneRenewed) {
			for i := range errs {
				errs[i] = err
			}
		}
	}, b.wrap)
}

// Finish records the outcome of owner's attempt (see msgbox.Box). As for
// Renew, an expired lease no one else has claimed is still owner's, so the
// work done is recorded rather than repeated. An Outcome that
// msgbox.ValidateOutcome rejects changes nothing: the delivery stays held.
func (b *Box) Finish(ctx context.Context, deliveryID int64, owner string, o msgbox.Outcome) error {
	if err := msgbox.ValidateOutcome(o); err != nil {
		return b.wrap(err, "finish delivery %d", deliveryID)
	}
	owner, o = msgbox.CleanText(owner), msgbox.CleanOutcome(o)
	errs := make([]error, 1)
	err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		if err := finishAll(ctx, tx, []finishing{{deliveryID, owner, o}}, b.clock(), errs); err != nil {
			return err
		}
		return errs[0]
	})
	return b.wrap(err, "finish delivery %d", deliveryID)
}

// NextDue returns the earliest time a delivery for one of ports can be
// claimed: a pending or retrying delivery's next attempt (possibly already
// past), or an in-progress delivery's lease expiry.
func (b *Box) NextDue(ctx context.Context, ports []string) (time.Time, bool, error) {
	if len(ports) == 0 {
		return time.Time{}, false, nil
	}
	var at sql.NullInt64
	err := b.q.QueryRowContext(ctx, `SELECT min(due_at) FROM deliveries
		WHERE due_at IS NOT NULL AND port IN (SELECT value FROM json_each(?))`, textsJSON(msgbox.CleanPorts(ports))).Scan(&at)
	if err != nil {
		return time.Time{}, false, b.wrap(err, "next due")
	}
	return nullTime(at), at.Valid, nil
}

// Retrying counts the deliveries for ports waiting for a retry (see
// msgbox.Box): a retrying delivery is due, so the partial index of due
// deliveries finds them without reading the delivered ones.
func (b *Box) Retrying(ctx context.Context, ports []string) (int, error) {
	if len(ports) == 0 {
		return 0, nil
	}
	var n int
	err := b.q.QueryRowContext(ctx, `SELECT count(*) FROM deliveries
		WHERE due_at IS NOT NULL AND state = 'retrying' AND port IN (SELECT value FROM json_each(?))`,
		textsJSON(msgbox.CleanPorts(ports))).Scan(&n)
	if err != nil {
		return 0, b.wrap(err, "count retrying")
	}
	return n, nil
}

// Release returns the deliveries of ids that owner holds in progress to
// the pool, due now, without counting an attempt (see msgbox.Box): pending,
// or retrying when an earlier attempt failed. It returns how many it
// returned.
func (b *Box) Release(ctx context.Context, owner string, ids []int64) (int, error) {
	if owner == "" {
		return 0, b.wrap(msgbox.ErrNoOwner, "release")
	}
	if len(ids) == 0 {
		return 0, nil
	}
	owner = msgbox.CleanText(owner)
	var released []heldDelivery // the deliveries returned
	err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		now := b.clock()
		var err error
		released, err = returnHeld(ctx, tx, `SELECT id, message_id, port, attempts, lease_owner, claimed_at FROM deliveries
			WHERE id IN (SELECT value FROM json_each(?)) AND state = ? AND lease_owner = ? ORDER BY id`,
			[]any{idsJSON(ids), string(msgbox.DeliveryInProgress), owner}, func(h heldDelivery) error {
				state := msgbox.DeliveryPending
				if h.attempts > 0 {
					state = msgbox.DeliveryRetrying
				}
				if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, next_attempt_at = ?, due_at = ?,
					lease_owner = '', lease_until = NULL, claimed_at = NULL WHERE id = ?`,
					string(state), toDB(now), toDB(now), h.id); err != nil {
					return fmt.Errorf("returning delivery %d to the pool: %w", h.id, err)
				}
				return addEvent(ctx, tx, h.msgID, now, h.port, string(state), msgbox.ReleasedDetail(h.attempts+1, owner))
			})
		return err
	})
	if err != nil {
		return 0, b.wrap(err, "release deliveries of %s", owner)
	}
	return len(released), nil
}

// Recover returns every delivery owner (or one of its workers, "owner/...")
// holds in progress, live lease or not, to the pool as pending and due now
// (see msgbox.Box). Each interrupted attempt is recorded and counted as the
// takeover of an expired lease is in claimTx (msgbox.InterruptedError): a
// message that kills the process at every try still runs out of retries.
// It returns how many deliveries it returned.
func (b *Box) Recover(ctx context.Context, owner string) (int, error) {
	if owner == "" {
		return 0, b.wrap(msgbox.ErrNoOwner, "recover")
	}
	owner = msgbox.CleanText(owner)
	var abandoned []msgbox.Abandoned // the attempts recorded as failed
	err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		now := b.clock()
		// The prefix is compared as bytes: substr counts characters in
		// text, bytes in a blob. A delivery in progress is due when its
		// lease ends: the partial index deliveries_due holds it, and not
		// the deliveries settled, which a scan would read every one of
		// under the write lock.
		held, err := returnHeld(ctx, tx, `SELECT id, message_id, port, attempts, lease_owner, claimed_at
			FROM deliveries INDEXED BY deliveries_due WHERE due_at IS NOT NULL AND state = ?
			AND (lease_owner = ? OR substr(CAST(lease_owner AS BLOB), 1, ?) = CAST(? AS BLOB)) ORDER BY id`,
			[]any{string(msgbox.DeliveryInProgress), owner, len(owner) + 1, owner + "/"}, func(h heldDelivery) error {
				// The attempt is the lease owner's (the worker), as in
				// claimTx's takeover; it ended now, when its end became
				// known.
				number := h.attempts + 1
				lastErr := msgbox.InterruptedError(h.leaseOwner)
				if _, err := tx.ExecContext(ctx, `INSERT INTO attempts
					(delivery_id, message_id, port, number, owner, started_at, finished_at, outcome, error)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, h.id, h.msgID, h.port, number, h.leaseOwner,
					toDB(nullTime(h.claimedAt)), toDB(now), string(msgbox.DeliveryRetrying), lastErr); err != nil {
					return fmt.Errorf("recording interrupted attempt: %w", err)
				}
				if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?,
					due_at = ?, lease_owner = '', lease_until = NULL, claimed_at = NULL, last_error = ? WHERE id = ?`,
					string(msgbox.DeliveryPending), number, toDB(now), toDB(now), lastErr, h.id); err != nil {
					return fmt.Errorf("returning delivery %d to the pool: %w", h.id, err)
				}
				return addEvent(ctx, tx, h.msgID, now, h.port, string(msgbox.DeliveryPending),
					msgbox.RecoveredDetail(number, lastErr, owner))
			})
		abandoned = make([]msgbox.Abandoned, len(held))
		for i, h := range held {
			abandoned[i] = msgbox.Abandoned{Port: h.port, Attempt: h.attempts + 1}
		}
		return err
	})
	if err != nil {
		return 0, b.wrap(err, "recover deliveries of %s", owner)
	}
	b.abandoned.Tell(abandoned)
	return len(abandoned), nil
}

// heldDelivery is a delivery in progress that Release or Recover returns
// to the pool.
type heldDelivery struct {
	id          int64
	msgID, port string
	attempts    int
	leaseOwner  string
	claimedAt   sql.NullInt64
}

// returnHeld returns to the pool, in tx, the deliveries in progress that
// query selects with args (id, message_id, port, attempts, lease_owner,
// claimed_at, in id order): put writes each, then each of their messages
// has its status refreshed once, as a message may have several. It returns
// them, as read. It starts afresh when withWrite runs it again (writeFunc).
func returnHeld(ctx context.Context, tx *cachedTx, query string, args []any, put func(heldDelivery) error) ([]heldDelivery, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var got []heldDelivery
	for rows.Next() {
		var h heldDelivery
		if err := rows.Scan(&h.id, &h.msgID, &h.port, &h.attempts, &h.leaseOwner, &h.claimedAt); err != nil {
			rows.Close()
			return nil, err
		}
		got = append(got, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, h := range got {
		if err := put(h); err != nil {
			return nil, err
		}
	}
	refreshed := map[string]bool{}
	for _, h := range got {
		if !refreshed[h.msgID] {
			refreshed[h.msgID] = true
			if err := refreshStatus(ctx, tx, h.msgID); err != nil {
				return nil, err
			}
		}
	}
	return got, nil
}
