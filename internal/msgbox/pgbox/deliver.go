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

// notifyChannel is the LISTEN/NOTIFY channel; the payload is a port name.
const notifyChannel = "bizpipe_deliveries"

// deliveryRow is a delivery as the write operations need it.
type deliveryRow struct {
	id    int64
	port  string
	state msgbox.DeliveryState
	owner string
	until *time.Time
}

// lockedMessage is a message whose row the transaction has locked, with the
// database's clock and its deliveries read after the lock was granted.
type lockedMessage struct {
	id                 string
	found              bool
	routed, terminated bool
	status             msgbox.Status
	reason             string
	decoding           msgbox.Decoding
	now                time.Time
	deliveries         []deliveryRow
}

// queueLock queues on batch the statements that lock a message's row (FOR NO
// KEY UPDATE: inserting rows that reference it stays possible) and then
// read the clock and its deliveries. msgExpr is the SQL for the message id,
// in terms of $1, which is arg: "$1", or a subquery for the message of a
// delivery. A missing message leaves l.found false.
//
// The clock and the deliveries are read by statements of their own, after
// the lock: at READ COMMITTED each statement sees what was committed before
// it started, including the changes of the transaction that held the lock.
func queueLock(batch *pgx.Batch, msgExpr string, arg any, l *lockedMessage) {
	batch.Queue(`SELECT id, routed, terminated, status, reason, decoding FROM messages WHERE id = `+msgExpr+` FOR NO KEY UPDATE`, arg).
		QueryRow(func(r pgx.Row) error {
			var status, decoding string
			err := r.Scan(&l.id, &l.routed, &l.terminated, &status, &l.reason, &decoding)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			l.found, l.status, l.decoding = err == nil, msgbox.Status(status), msgbox.Decoding(decoding)
			return err
		})
	batch.Queue(`SELECT clock_timestamp()`).QueryRow(func(r pgx.Row) error {
		err := r.Scan(&l.now)
		l.now = ts(l.now)
		return err
	})
	batch.Queue(`SELECT id, port, state, lease_owner, lease_until FROM deliveries WHERE message_id = `+msgExpr+` ORDER BY id`, arg).
		Query(func(rows pgx.Rows) error {
			l.deliveries = l.deliveries[:0]
			for rows.Next() {
				var d deliveryRow
				var state string
				if err := rows.Scan(&d.id, &d.port, &state, &d.owner, &d.until); err != nil {
					return err
				}
				d.state = msgbox.DeliveryState(state)
				l.deliveries = append(l.deliveries, d)
			}
			return rows.Err()
		})
}

// queueLockDelivery queues the locks of an operation on delivery id, in
// the lock order: the delivery's row, its columns scanned into dest and
// found set when it exists, then its message's row, into l.
func queueLockDelivery(batch *pgx.Batch, id int64, columns string, found *bool, l *lockedMessage, dest ...any) {
	batch.Queue(`SELECT `+columns+` FROM deliveries WHERE id = $1 FOR UPDATE`, id).QueryRow(func(r pgx.Row) error {
		err := r.Scan(dest...)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		*found = err == nil
		return err
	})
	queueLock(batch, "(SELECT message_id FROM deliveries WHERE id = $1)", id, l)
}

// lockMessages returns the statements that lock the messages ids, sorted,
// in their order, as queueLock locks one, and read the clock and their
// deliveries into locked (one entry per id, each with its id set): three
// statements, however many messages.
func lockMessages(ids []string, locked map[string]*lockedMessage) *pgx.Batch {
	batch := &pgx.Batch{}
	// ORDER BY under FOR NO KEY UPDATE: the rows are locked as sorted, so
	// that two batches sharing messages lock them alike.
	batch.Queue(`SELECT id, routed, terminated, status, reason, decoding FROM messages WHERE id = ANY($1)
		ORDER BY id FOR NO KEY UPDATE`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id, status, decoding string
			var routed, terminated bool
			var reason string
			if err := rows.Scan(&id, &routed, &terminated, &status, &reason, &decoding); err != nil {
				return err
			}
			if l := locked[id]; l != nil {
				l.found, l.routed, l.terminated, l.reason = true, routed, terminated, reason
				l.status, l.decoding = msgbox.Status(status), msgbox.Decoding(decoding)
			}
		}
		return rows.Err()
	})
	batch.Queue(`SELECT clock_timestamp()`).QueryRow(func(r pgx.Row) error {
		var now time.Time
		err := r.Scan(&now)
		for _, l := range locked {
			l.now = ts(now)
		}
		return err
	})
	batch.Queue(`SELECT message_id, id, port, state, lease_owner, lease_until FROM deliveries WHERE message_id = ANY($1)
		ORDER BY message_id, id`, ids).Query(readDeliveries(locked))
	return batch
}

// readDeliveries reads rows of message_id and deliveryRow's columns into
// the deliveries of the messages of locks.
func readDeliveries(locks map[string]*lockedMessage) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		for rows.Next() {
			var msgID, state string
			var d deliveryRow
			if err := rows.Scan(&msgID, &d.id, &d.port, &state, &d.owner, &d.until); err != nil {
				return err
			}
			d.state = msgbox.DeliveryState(state)
			if l := locks[msgID]; l != nil {
				l.deliveries = append(l.deliveries, d)
			}
		}
		return rows.Err()
	}
}

// lockMessage locks message id (see queueLock), after the statements
// already in batch (which may be nil). ErrNotFound if there is none.
func lockMessage(ctx context.Context, t *pipeTx, batch *pgx.Batch, id string) (*lockedMessage, error) {
	l := &lockedMessage{}
	if batch == nil {
		batch = &pgx.Batch{}
	}
	queueLock(batch, "$1", id, l)
	if err := t.send(ctx, batch); err != nil {
		return nil, err
	}
	if !l.found {
		return nil, msgbox.ErrNotFound
	}
	return l, nil
}

// setState records in l that delivery id is now in state s, for status.
func (l *lockedMessage) setState(id int64, s msgbox.DeliveryState) {
	for i := range l.deliveries {
		if l.deliveries[i].id == id {
			l.deliveries[i].state = s
		}
	}
}

// derived is the message's status after the changes recorded in l.
func (l *lockedMessage) derived() msgbox.Status {
	states := make([]msgbox.DeliveryState, len(l.deliveries))
	for i, d := range l.deliveries {
		states[i] = d.state
	}
	return msgbox.DeriveStatus(l.routed, l.terminated, states)
}

// queueStatus queues the update of the stored status, derived from l.
func queueStatus(batch *pgx.Batch, l *lockedMessage) {
	batch.Queue(`UPDATE messages SET status = $2 WHERE id = $1`, l.id, string(l.derived()))
}

// queueEvent queues a history entry. Its text is clean already: every
// string that goes into it was cleaned where the box took it (CleanText).
func queueEvent(batch *pgx.Batch, msgID string, at time.Time, port, status, detail string) {
	batch.Queue(`INSERT INTO events (message_id, at, port, status, detail) VALUES ($1, $2, $3, $4, $5)`,
		msgID, at, port, status, detail)
}

// queueNotify queues a notification that ports may have work. It is
// delivered to listeners when the transaction commits, and not at all if it
// rolls back.
func queueNotify(batch *pgx.Batch, ports []string) {
	batch.Queue(`SELECT pg_notify('`+notifyChannel+`', p) FROM unnest($1::text[]) AS p`, ports)
}

// Route records one pending delivery per port, due now, or suspends the
// message as a routing failure when ports is empty (see msgbox.Box).
// Duplicate ports get one delivery; an empty port name is an error. The
// ports are notified.
func (b *Box) Route(ctx context.Context, id string, ports []string, reason string) error {
	if err := msgbox.CheckID(id); err != nil {
		return b.wrap(err, "route")
	}
	r, err := msgbox.NewRouting(ports, reason)
	if err != nil {
		return b.wrap(err, "route %s", id)
	}
	uncertain := false
	err = b.retry(ctx, func(ctx context.Context) error {
		err := b.inTx(ctx, beginReadCommitted, func(t *pipeTx) (*pgx.Batch, error) {
			l, err := lockMessage(ctx, t, nil, id)
			if err != nil {
				return nil, err
			}
			if l.routed || l.terminated {
				return nil, msgbox.InvalidState(id, l.status)
			}
			batch := &pgx.Batch{}
			l.routed = true
			queueRouting(batch, id, r, l.now)
			for _, p := range r.Ports {
				l.deliveries = append(l.deliveries, deliveryRow{port: p, state: msgbox.DeliveryPending})
			}
			queueStatus(batch, l)
			return batch, nil
		})
		if errors.Is(err, msgbox.ErrInvalidState) && uncertain {
			// The first try's commit went through after all (or another
			// server routed the message meanwhile): either way it is
			// routed, which is what the caller asked for.
			return nil
		}
		if isUncertain(err) {
			// Routing again finds out: ErrInvalidState if it was routed.
			uncertain = true
			return rerun(err)
		}
		return err
	})
	return b.wrap(err, "route %s", id)
}

// queueRouting queues the writes that route unrouted message id as r says:
// one pending delivery per port, due at now, with their history and the
// notification of the ports; or, when there are none, the routing failure.
// The caller stores the derived status.
func queueRouting(batch *pgx.Batch, id string, r msgbox.Routing, now time.Time) {
	var rs routings
	rs.add(id, r, "", now, nil)
	rs.queue(batch)
}

// routings gathers the routings of several unrouted messages (add), to be
// written by a constant number of statements whatever their number
// (queue): the messages' update, the deliveries, the history and the
// notification, each one statement over arrays.
type routings struct {
	// stored: the messages were inserted routed, with their status and
	// reason (a batch receive): queue leaves their rows alone.
	stored bool
	// Per message: its id, reason (nil: left as it is, for a routing to
	// ports), and status ("": left as it is).
	ids, statuses []string
	reasons       []*string
	// Per delivery, in routing order: its message, port, due time, and
	// lease (nil for a pending one).
	dMsgs, dPorts []string
	dNow, dUntil  []*time.Time
	owner         string // of the claimed deliveries
	// Per event, in order.
	eMsgs, ePorts, eStates, eDetails []string
	eAt                              []time.Time
	pending                          []string // ports to notify
	claimed                          map[string]*msgbox.Delivery
}

// add gathers the routing of message id as r says (see queueRouting),
// storing status unless it is "".
//
// A handoff h (nil: none) claims the deliveries to its ports as claimTx
// would right after, leased from now, in the same statements: add returns
// them, their ids set once the batch queue queued has run. Their ports are
// not notified: the server that claimed them has them already.
func (rs *routings) add(id string, r msgbox.Routing, status msgbox.Status, now time.Time, h *msgbox.Handoff) []*msgbox.Delivery {
	rs.ids = append(rs.ids, id)
	rs.statuses = append(rs.statuses, string(status))
	if len(r.Ports) == 0 {
		rs.reasons = append(rs.reasons, &r.Reason)
		rs.event(id, now, "", string(msgbox.StatusSuspended), r.Reason)
		return nil
	}
	rs.reasons = append(rs.reasons, nil)
	var claimed []*msgbox.Delivery
	for _, p := range r.Ports {
		var until *time.Time
		if h != nil && slices.Contains(h.Ports, p) {
			u := ts(now.Add(h.Lease))
			until, rs.owner = &u, h.Owner
			d := &msgbox.Delivery{MessageID: id, Port: p, State: msgbox.DeliveryInProgress, LeaseOwner: h.Owner, LeaseUntil: u}
			claimed = append(claimed, d)
			if rs.claimed == nil {
				rs.claimed = map[string]*msgbox.Delivery{}
			}
			rs.claimed[id+"\x00"+p] = d
		} else {
			rs.pending = append(rs.pending, p)
		}
		rs.dMsgs, rs.dPorts = append(rs.dMsgs, id), append(rs.dPorts, p)
		rs.dNow, rs.dUntil = append(rs.dNow, &now), append(rs.dUntil, until)
	}
	// The history: every routing, then each claim, as a claim right after
	// would write it.
	for _, p := range r.Ports {
		rs.event(id, now, p, string(msgbox.DeliveryPending), msgbox.RoutedDetail(p))
	}
	for _, d := range claimed {
		rs.event(id, now, d.Port, string(msgbox.DeliveryInProgress), msgbox.ClaimedDetail(1, h.Owner))
	}
	return claimed
}

func (rs *routings) event(id string, at time.Time, port, state, detail string) {
	rs.eMsgs, rs.eAt, rs.ePorts = append(rs.eMsgs, id), append(rs.eAt, at), append(rs.ePorts, port)
	rs.eStates, rs.eDetails = append(rs.eStates, state), append(rs.eDetails, detail)
}

// queue queues on batch the writes of what add gathered: at most four
// statements, however many messages (three when the messages are stored
// routed already).
func (rs *routings) queue(batch *pgx.Batch) {
	if len(rs.ids) == 0 {
		return
	}
	if !rs.stored {
		batch.Queue(`UPDATE messages AS m SET routed = true, reason = coalesce(u.r, m.reason), status = coalesce(nullif(u.s, ''), m.status)
			FROM unnest($1::text[], $2::text[], $3::text[]) AS u (id, r, s) WHERE m.id = u.id`,
			rs.ids, rs.reasons, rs.statuses)
	}
	if len(rs.dMsgs) > 0 {
		// WITH ORDINALITY ... ORDER BY: deliveries and events get their
		// ids in the order gathered. A claimed delivery is as claimTx
		// leaves it: in progress, due when its lease ends.
		q := batch.Queue(`INSERT INTO deliveries (message_id, port, state, next_attempt_at, due_at, lease_owner, lease_until, claimed_at)
			SELECT m, p, CASE WHEN u IS NULL THEN 'pending' ELSE 'in_progress' END,
				CASE WHEN u IS NULL THEN t END, coalesce(u, t),
				CASE WHEN u IS NULL THEN '' ELSE $5::text END, u, CASE WHEN u IS NOT NULL THEN t END
			FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) WITH ORDINALITY AS x (m, p, t, u, n)
			ORDER BY n
			RETURNING id, message_id, port`, rs.dMsgs, rs.dPorts, rs.dNow, rs.dUntil, rs.owner)
		if len(rs.claimed) > 0 {
			q.Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var dID int64
					var msgID, port string
					if err := rows.Scan(&dID, &msgID, &port); err != nil {
						return err
					}
					if d := rs.claimed[msgID+"\x00"+port]; d != nil {
						d.ID = dID
					}
				}
				return rows.Err()
			})
		}
	}
	batch.Queue(`INSERT INTO events (message_id, at, port, status, detail)
		SELECT m, a, p, s, d
		FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u (m, a, p, s, d, n)
		ORDER BY n`,
		rs.eMsgs, rs.eAt, rs.ePorts, rs.eStates, rs.eDetails)
	if len(rs.pending) > 0 {
		queueNotify(batch, slices.Compact(slices.Sorted(slices.Values(rs.pending))))
	}
}

// Unrouted returns up to limit messages in StatusReceived, oldest first;
// limit <= 0 means all of them.
func (b *Box) Unrouted(ctx context.Context, limit int) ([]msgbox.Message, error) {
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	var msgs []msgbox.Message
	err := b.retry(ctx, func(ctx context.Context) error {
		rows, err := b.pool.Query(ctx, "SELECT "+messageColumns+
			" FROM messages WHERE NOT routed AND NOT terminated ORDER BY seq LIMIT $1", lim)
		if err != nil {
			return err
		}
		msgs, err = scanMessages(rows)
		return err
	})
	return msgs, b.wrap(err, "unrouted")
}

func scanMessages(rows pgx.Rows) ([]msgbox.Message, error) {
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

// deliveryColumns are the columns scanDelivery reads, in its order.
const deliveryColumns = "id, message_id, port, state, attempts, next_attempt_at, lease_owner, lease_until, last_error"

func scanDelivery(row pgx.Row) (*msgbox.Delivery, error) {
	var d msgbox.Delivery
	var state string
	var next, until *time.Time
	if err := row.Scan(&d.ID, &d.MessageID, &d.Port, &state, &d.Attempts, &next, &d.LeaseOwner, &until,
		&d.LastError); err != nil {
		return nil, err
	}
	d.State = msgbox.DeliveryState(state)
	d.NextAttemptAt = tsp(next)
	d.LeaseUntil = tsp(until)
	return &d, nil
}

// ClaimBatch leases up to max due deliveries for ports to owner in one
// transaction until the database's now+lease (see msgbox.Box), oldest due
// first (ties in the order the deliveries were made), passing over those in
// except. The candidates are selected FOR UPDATE SKIP LOCKED: claimers never
// wait for each other, and a delivery another claimer is taking is passed
// over. Taking over an in-progress delivery whose lease expired records
// the previous owner's attempt as failed (msgbox.LeaseExpiredError) and
// counts it, so a message that kills its worker every time still runs out
// of retries. A wait for an MDN whose deadline passed is recorded so too,
// but left retrying when its retry is not due yet (msgbox.AwaitedMDN's
// RetryAt), not claimed.
//
// Claiming takes two round trips, whatever max. When the box's last claim
// found nothing, a probe outside any transaction looks first, so that the
// polls of an idle server cost one.
func (b *Box) ClaimBatch(ctx context.Context, owner string, ports []string, lease time.Duration, max int, except []int64) ([]*msgbox.Delivery, error) {
	if err := msgbox.CheckClaim(owner, lease, max); err != nil {
		return nil, b.wrap(err, "claim")
	}
	if len(ports) == 0 {
		return nil, nil
	}
	owner, ports = msgbox.CleanText(owner), msgbox.CleanPorts(ports)
	// When the last claim on this box found nothing, a probe outside any
	// transaction looks first: one round trip for the idle polls of a
	// quiet server. A busy one goes straight to claiming.
	if b.claimIdle.Load() {
		var due bool
		err := b.retry(ctx, func(ctx context.Context) error {
			// The earliest due time of each port, from the (port,
			// due_at) index: a few index probes, however many deliveries
			// are delivered, or due for other servers' ports.
			return b.pool.QueryRow(ctx, `SELECT coalesce(min(d.due_at) <= statement_timestamp(), false)
				FROM unnest($1::text[]) AS p, LATERAL (SELECT due_at FROM deliveries
					WHERE port = p AND due_at IS NOT NULL ORDER BY due_at LIMIT 1) AS d`, ports).Scan(&due)
		})
		if err != nil || !due {
			return nil, b.wrap(err, "claim for %s", owner)
		}
	}

	var claimed []*msgbox.Delivery
	var abandoned []msgbox.Abandoned // the attempts recorded as failed
	err := b.retry(ctx, func(ctx context.Context) error {
		claimed, abandoned = nil, nil
		var claimedAt time.Time
		err := b.inTx(ctx, beginReadCommitted, func(t *pipeTx) (*pgx.Batch, error) {
			var batch *pgx.Batch
			var err error
			claimed, claimedAt, abandoned, batch, err = claimTx(ctx, t, owner, ports, lease, max, except)
			return batch, err
		})
		if isUncertain(err) {
			// Whether the commit recorded them is not known: they are
			// not told (msgbox.AbandonedFunc: at most once).
			abandoned = nil
		}
		if isUncertain(err) && len(claimed) > 0 {
			// The leases this try took, if the commit went through, say
			// so: the same deliveries, owner and claim time. Those still
			// held are the claim (a short lease may have been taken
			// over meanwhile).
			ids := make([]int64, len(claimed))
			for i, d := range claimed {
				ids[i] = d.ID
			}
			lctx, cancel := lookContext(ctx)
			defer cancel()
			held, lookErr := b.heldAfterLostCommit(lctx, ids, owner, claimedAt)
			if lookErr != nil {
				return err
			}
			if len(held) > 0 {
				claimed = slices.DeleteFunc(claimed, func(d *msgbox.Delivery) bool { return !slices.Contains(held, d.ID) })
				return nil
			}
			claimed = nil
			return lostConn(err) // not claimed: retryable
		}
		if isUncertain(err) {
			// A try that claimed nothing wrote nothing, but for waits
			// it left retrying (claimTx), which a rerun finds retrying
			// or leaves so itself: its commit, made or not, needs no
			// look.
			claimed = nil
			return lostConn(err)
		}
		if err != nil {
			claimed = nil
		}
		return err
	})
	if err != nil {
		return nil, b.wrap(err, "claim for %s", owner)
	}
	b.claimIdle.Store(len(claimed) == 0)
	b.abandoned.Tell(abandoned)
	b.preload(ctx, claimed)
	return claimed, nil
}

// preload reads the messages of claimed deliveries, and their bodies that
// are stored in one chunk, in one round trip for the lot (see
// msgbox.Delivery's Message and Body): the runner would make three per
// delivery (the message, the body's size and checksum, its chunk). A
// failure is not one: the runner reads what is missing itself.
func (b *Box) preload(ctx context.Context, ds []*msgbox.Delivery) {
	if len(ds) == 0 {
		return
	}
	byMsg := make(map[string][]*msgbox.Delivery, len(ds))
	ids := make([]string, 0, len(ds))
	for _, d := range ds {
		if byMsg[d.MessageID] == nil {
			ids = append(ids, d.MessageID)
		}
		byMsg[d.MessageID] = append(byMsg[d.MessageID], d)
	}
	rows, err := b.pool.Query(ctx, `SELECT `+msgbox.Qualified("m", messageColumns)+`, m.sha256, c.data
		FROM messages m LEFT JOIN body_chunks c ON c.message_seq = m.seq AND c.seq = 0
		WHERE m.id = ANY($1)`, ids)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var sum, data []byte
		m, err := scanMessage(msgbox.ScanThen(rows, &sum, &data))
		if err != nil {
			return
		}
		var body []byte // nil: left to Body
		if int64(len(data)) == m.Size && msgbox.SumMatches(data, sum) {
			// Whole in one chunk and intact: a larger or corrupt body is
			// left to Body, which streams it or reports the corruption.
			body = append([]byte{}, data...) // not nil when empty
		}
		for _, d := range byMsg[m.ID] {
			d.Message, d.Body = m, body
		}
	}
}

// exceptIDs is except as a query argument: never nil, which pgx would send
// as NULL (and NOT id = ANY(NULL) selects nothing).
func exceptIDs(except []int64) []int64 {
	if except == nil {
		return []int64{}
	}
	return except
}

// claimKey is the transaction-local setting through which the statement
// that picks the deliveries to claim hands their messages' ids to the
// statements after it in the same pipeline.
const claimKey = "bizpipe.claim"

// claimedMessages is the SQL for the ids of the messages the claim picked,
// from claimKey ($1): a comma-separated list, or nothing. Message ids are
// base32 (msgbox.ValidID), so they never contain a comma.
const claimedMessages = `string_to_array(nullif(current_setting($1, true), ''), ',')`

// claimTx selects and locks up to max deliveries to claim, and their
// messages, in t, and returns them as claimed, with the claim time and the
// batch of writes that claim them; none when nothing is due that nobody
// else is taking.
//
// One round trip: the statements that lock the messages and read the clock
// and the deliveries' states cannot name the messages, which the first
// statement chooses, so the first leaves their ids in a transaction-local
// setting (set_config) for them. The messages are locked in id order (the
// lock order, see the package comment), all in one statement.
// lateCommitWait bounds how long a claim whose COMMIT was lost waits for
// that COMMIT, which may still be on its way to the server.
const lateCommitWait = 5 * time.Second

// heldAfterLostCommit returns which of ids a claim whose COMMIT was lost
// left leased to owner at claimedAt. It locks the rows (FOR KEY SHARE,
// which only a claim's FOR UPDATE conflicts with), so that it waits, up to
// lateCommitWait, for the lost try's transaction if the server still has
// it open: otherwise it would find nothing yet, and the retry's SKIP
// LOCKED would step over the rows, which the late COMMIT then leaves
// leased to an owner that never heard of them. When the wait runs out, the
// look fails, and the claim reports its commit uncertain.
func (b *Box) heldAfterLostCommit(ctx context.Context, ids []int64, owner string, claimedAt time.Time) ([]int64, error) {
	var held []int64
	err := b.afterLateCommit(ctx, `SELECT id FROM deliveries WHERE id = ANY($1) ORDER BY id FOR KEY SHARE`, ids,
		func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT id FROM deliveries
				WHERE id = ANY($1) AND state = 'in_progress' AND lease_owner = $2 AND claimed_at = $3`,
				ids, owner, claimedAt)
			if err != nil {
				return err
			}
			held, err = pgx.CollectRows(rows, pgx.RowTo[int64])
			return err
		})
	return held, err
}

// lateLockError is afterLateCommit's wait for a lost commit's transaction
// that ran out of lateCommitWait: not a lock another session holds
// (heldLockError), and not retried.
type lateLockError struct{ err error }

func (e *lateLockError) Error() string { return e.err.Error() }
func (e *lateLockError) Unwrap() error { return e.err }

// afterLateCommit runs look in a transaction once lock (a statement that
// locks the rows a claim whose COMMIT was lost took, FOR KEY SHARE, keys
// its argument) has waited, up to lateCommitWait, for that claim's
// transaction if the server still has it open (see heldAfterLostCommit).
// Under READ COMMITTED, look's statements then see the late COMMIT's rows.
func (b *Box) afterLateCommit(ctx context.Context, lock string, keys any, look func(tx pgx.Tx) error) error {
	return b.retry(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", lateCommitWait.Milliseconds())); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, lock, keys); err != nil {
				if isLockTimeout(err) {
					return &lateLockError{err}
				}
				return err
			}
			return look(tx)
		})
	})
}

// claimTx claims in t up to max due deliveries for ports to owner, and
// returns them, the time of the claim, the attempts it records as failed
// (expired leases, MDN waits past their deadline) and the batch of writes
// that record it all.
func claimTx(ctx context.Context, t *pipeTx, owner string, ports []string, lease time.Duration, max int, except []int64) (
	[]*msgbox.Delivery, time.Time, []msgbox.Abandoned, *pgx.Batch, error) {
	type candidate struct {
		d         msgbox.Delivery
		claimedAt *time.Time
	}
	var due []candidate
	batch := &pgx.Batch{}
	// statement_timestamp(): the due test uses the time the statement
	// started, never later, so nothing is claimed a moment early; and
	// unlike clock_timestamp() it is stable, so the index can serve it.
	// c, referenced twice, is evaluated once, so s sets the ids of exactly
	// the messages of the rows returned; only the statements after this
	// one read the setting.
	batch.Queue(`WITH c AS (
			SELECT id, message_id, port, state, attempts, next_attempt_at, lease_owner, lease_until, last_error,
				claimed_at, due_at
			FROM deliveries WHERE due_at <= statement_timestamp() AND port = ANY($1) AND NOT id = ANY($4)
			ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),
		s AS (SELECT set_config($2, coalesce((SELECT string_agg(DISTINCT message_id, ',') FROM c), ''), true) AS v)
		SELECT c.id, c.message_id, c.port, c.state, c.attempts, c.next_attempt_at, c.lease_owner, c.lease_until,
			c.last_error, c.claimed_at, s.v
		FROM c, s ORDER BY c.due_at, c.id`, ports, claimKey, max, exceptIDs(except)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var c candidate
			var state, set string
			var next, until *time.Time
			if err := rows.Scan(&c.d.ID, &c.d.MessageID, &c.d.Port, &state, &c.d.Attempts, &next, &c.d.LeaseOwner,
				&until, &c.d.LastError, &c.claimedAt, &set); err != nil {
				return err
			}
			c.d.State = msgbox.DeliveryState(state)
			c.d.NextAttemptAt = tsp(next)
			c.d.LeaseUntil = tsp(until)
			due = append(due, c)
		}
		return rows.Err()
	})
	locks := map[string]*lockedMessage{}
	var now time.Time
	// FOR NO KEY UPDATE with ORDER BY: the rows are locked as sorted, in
	// byte order as Recover's are (COLLATE "C").
	batch.Queue(`SELECT id, routed, terminated, status, reason FROM messages WHERE id = ANY(`+claimedMessages+`)
		ORDER BY id COLLATE "C" FOR NO KEY UPDATE`, claimKey).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			l := &lockedMessage{found: true}
			var status string
			if err := rows.Scan(&l.id, &l.routed, &l.terminated, &status, &l.reason); err != nil {
				return err
			}
			l.status = msgbox.Status(status)
			locks[l.id] = l
		}
		return rows.Err()
	})
	batch.Queue(`SELECT clock_timestamp()`).QueryRow(func(r pgx.Row) error {
		err := r.Scan(&now)
		now = ts(now)
		return err
	})
	batch.Queue(`SELECT message_id, id, port, state, lease_owner, lease_until FROM deliveries
		WHERE message_id = ANY(`+claimedMessages+`) ORDER BY id`, claimKey).Query(readDeliveries(locks))
	if err := t.send(ctx, batch); err != nil || len(due) == 0 {
		return nil, time.Time{}, nil, nil, err
	}

	batch = &pgx.Batch{}
	claimed := make([]*msgbox.Delivery, 0, len(due))
	var abandoned []msgbox.Abandoned
	var touched []*lockedMessage // in the order first claimed, each once
	for _, c := range due {
		d := c.d
		l := locks[d.MessageID]
		if l == nil {
			return nil, time.Time{}, nil, nil, fmt.Errorf("delivery %d has no message %s", d.ID, d.MessageID)
		}
		awaited := d.AwaitsMDN()
		if d.State == msgbox.DeliveryInProgress {
			// The lease expired: the previous owner's attempt failed.
			d.Attempts++
			abandoned = append(abandoned, msgbox.Abandoned{Port: d.Port, Attempt: d.Attempts})
			d.LastError = msgbox.LeaseExpiredError(d.LeaseOwner)
			started, ended := now, now
			if c.claimedAt != nil {
				started = ts(*c.claimedAt)
			}
			if !d.LeaseUntil.IsZero() {
				ended = d.LeaseUntil
			}
			batch.Queue(`INSERT INTO attempts (delivery_id, message_id, port, number, owner, started_at, finished_at, outcome, error)
				VALUES ($1, $2, $3, $4, $5, $6, $7, 'retrying', $8)`,
				d.ID, d.MessageID, d.Port, d.Attempts, d.LeaseOwner, started, ended, d.LastError)
			queueEvent(batch, d.MessageID, now, d.Port, string(msgbox.DeliveryRetrying),
				msgbox.AbandonedDetail(d.Attempts, d.LastError))
		}
		if !slices.Contains(touched, l) {
			touched = append(touched, l)
		}
		if awaited && d.NextAttemptAt.After(now) {
			// A wait for an MDN that timed out: retried at its RetryAt,
			// which AwaitMDN kept in next_attempt_at, like every failed
			// attempt retry.interval later (language §9); not claimed.
			batch.Queue(`UPDATE deliveries SET state = 'retrying', attempts = $2, due_at = next_attempt_at,
				lease_owner = '', lease_until = NULL, claimed_at = NULL, last_error = $3 WHERE id = $1`,
				d.ID, d.Attempts, d.LastError)
			l.setState(d.ID, msgbox.DeliveryRetrying)
			continue
		}
		d.State = msgbox.DeliveryInProgress
		d.LeaseOwner = owner
		d.LeaseUntil = ts(now.Add(lease))
		d.NextAttemptAt = time.Time{}
		batch.Queue(`UPDATE deliveries SET state = 'in_progress', attempts = $2, next_attempt_at = NULL, due_at = $3,
				lease_owner = $4, lease_until = $3, claimed_at = $5, last_error = $6 WHERE id = $1`,
			d.ID, d.Attempts, d.LeaseUntil, owner, now, d.LastError)
		queueEvent(batch, d.MessageID, now, d.Port, string(msgbox.DeliveryInProgress),
			msgbox.ClaimedDetail(d.Attempts+1, owner))
		l.setState(d.ID, msgbox.DeliveryInProgress)
		claimed = append(claimed, &d)
	}
	// Once every claimed delivery is recorded: a message may have several.
	for _, l := range touched {
		queueStatus(batch, l)
	}
	return claimed, now, abandoned, batch, nil
}

// Renew extends each item's lease to the database's now+lease (see
// msgbox.Box), the items of one batch in one statement. A lease that
// expired but that no one else has claimed is still its owner's: nobody
// else can have started an attempt, so it is renewed. ErrLeaseLost
// otherwise, and msgbox.DeliveryNotFound for a delivery that does not
// exist.
func (b *Box) Renew(ctx context.Context, lease time.Duration, items ...msgbox.Renewal) []error {
	return msgbox.RenewInBatches(items, lease, func(items []msgbox.Renewal, errs []error) {
		ids, owners := make([]int64, len(items)), make([]string, len(items))
		for i, it := range items {
			ids[i], owners[i] = it.DeliveryID, it.Owner
		}
		renewed, exists := make([]bool, len(items)), make([]bool, len(items))
		// Renewing twice is renewing: after a lost commit (or any lost
		// connection) it simply runs again.
		err := b.retry(ctx, func(ctx context.Context) error {
			// One statement: whether a delivery exists is read from the
			// snapshot the update ran in. The rows are locked first, in
			// id order (l), as every statement locks deliveries: the
			// update, driven by the items in the caller's order, would
			// lock them in that order, and deadlock with a FinishBatch of
			// the same deliveries (the worker's own, as it records the
			// batch its renewals keep) or another server's claim.
			rows, err := b.pool.Query(ctx, `WITH x AS (
					SELECT * FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS x (id, owner, n)),
				l AS MATERIALIZED (
					SELECT d.id FROM deliveries d JOIN x ON d.id = x.id AND d.lease_owner = x.owner
					WHERE d.state = 'in_progress' ORDER BY d.id FOR NO KEY UPDATE OF d),
				r AS (
					UPDATE deliveries SET lease_until = u.t, due_at = u.t
					FROM (SELECT clock_timestamp() + $3 * interval '1 microsecond' AS t) AS u, x
					WHERE deliveries.id = x.id AND state = 'in_progress' AND lease_owner = x.owner
						AND deliveries.id IN (SELECT id FROM l)
					RETURNING deliveries.id, deliveries.lease_owner)
				SELECT x.n, EXISTS (SELECT 1 FROM r WHERE r.id = x.id AND r.lease_owner = x.owner),
					EXISTS (SELECT 1 FROM deliveries WHERE id = x.id)
				FROM x`, ids, owners, lease.Microseconds())
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var n int64
				var ok, found bool
				if err := rows.Scan(&n, &ok, &found); err != nil {
					return err
				}
				if n < 1 || n > int64(len(items)) {
					return fmt.Errorf("renew: row %d of %d", n, len(items))
				}
				renewed[n-1], exists[n-1] = ok, found
			}
			return rows.Err()
		})
		for i := range items {
			switch {
			case err != nil:
				errs[i] = err
			case renewed[i]:
			case !exists[i]:
				errs[i] = msgbox.DeliveryNotFound(items[i].DeliveryID)
			default:
				errs[i] = msgbox.LeaseLost(items[i].Owner)
			}
		}
	}, b.wrap)
}

// Finish records the outcome of owner's attempt (see msgbox.Box). As for
// Renew, an expired lease no one else has claimed is still owner's, so the
// work done is recorded rather than repeated. An Outcome that
// msgbox.ValidateOutcome rejects changes nothing: the delivery stays held.
// A retry notifies the port, so that idle servers look at when it is due.
func (b *Box) Finish(ctx context.Context, deliveryID int64, owner string, o msgbox.Outcome) error {
	if err := msgbox.ValidateOutcome(o); err != nil {
		return b.wrap(err, "finish delivery %d", deliveryID)
	}
	owner, o = msgbox.CleanText(owner), msgbox.CleanOutcome(o)
	var number int
	var finishedAt time.Time
	// A try whose commit was lost, and whose attempt was not found: its
	// number and finish time.
	lost := false
	var lostNumber int
	var lostFinished time.Time
	// recorded looks for the attempt a try recorded.
	recorded := func(ctx context.Context, number int, finishedAt time.Time) (bool, error) {
		var found bool
		err := b.retry(ctx, func(ctx context.Context) error {
			return b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM attempts
				WHERE delivery_id = $1 AND number = $2 AND owner = $3 AND finished_at = $4)`,
				deliveryID, number, owner, finishedAt).Scan(&found)
		})
		return found, err
	}
	err := b.retry(ctx, func(ctx context.Context) error {
		err := b.inTx(ctx, beginReadCommitted, func(t *pipeTx) (*pgx.Batch, error) {
			var batch *pgx.Batch
			var err error
			number, finishedAt, batch, err = finishTx(ctx, t, deliveryID, owner, o)
			return batch, err
		})
		if isUncertain(err) {
			// The attempt record this try wrote, if the commit went
			// through, says so.
			found, lookErr := recorded(ctx, number, finishedAt)
			if lookErr != nil {
				return err
			}
			if found {
				return nil
			}
			lost, lostNumber, lostFinished = true, number, finishedAt
			return lostConn(err) // not recorded: retryable
		}
		if lost && errors.Is(err, msgbox.ErrLeaseLost) {
			// The lost try's server side may have outlived its
			// connection and committed after the look above: then the
			// outcome is recorded, by this owner.
			if found, lookErr := recorded(ctx, lostNumber, lostFinished); lookErr == nil && found {
				return nil
			}
		}
		return err
	})
	return b.wrap(err, "finish delivery %d", deliveryID)
}

// finishTx locks the delivery in t and returns the batch of writes that
// record the outcome, with the attempt's number and finish time (to
// recognise it after a lost commit).
func finishTx(ctx context.Context, t *pipeTx, deliveryID int64, owner string, o msgbox.Outcome) (int, time.Time, *pgx.Batch, error) {
	var msgID, port, state, leaseOwner string
	var attempts int
	var claimedAt *time.Time
	found := false
	l := &lockedMessage{}
	batch := &pgx.Batch{}
	queueLockDelivery(batch, deliveryID, "message_id, port, state, lease_owner, attempts, claimed_at", &found, l,
		&msgID, &port, &state, &leaseOwner, &attempts, &claimedAt)
	if err := t.send(ctx, batch); err != nil {
		return 0, time.Time{}, nil, err
	}
	if !found {
		return 0, time.Time{}, nil, msgbox.DeliveryNotFound(deliveryID)
	}
	if msgbox.DeliveryState(state) != msgbox.DeliveryInProgress || leaseOwner != owner {
		return 0, time.Time{}, nil, msgbox.LeaseLost(owner)
	}
	now := l.now
	attempts++
	started := now
	if claimedAt != nil {
		started = ts(*claimedAt)
	}
	batch = &pgx.Batch{}
	batch.Queue(`INSERT INTO attempts (delivery_id, message_id, port, number, owner, started_at, finished_at, outcome, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		deliveryID, msgID, port, attempts, owner, started, now, string(o.State), o.Error)
	var next *time.Time // NULL unless retrying
	switch o.State {
	case msgbox.DeliveryRetrying:
		next = &o.RetryAt
	case msgbox.DeliverySuspended:
		batch.Queue(`UPDATE messages SET reason = $2 WHERE id = $1`, msgID, msgbox.SuspendedReason(port, o.Error))
	}
	batch.Queue(`UPDATE deliveries SET state = $2, attempts = $3, next_attempt_at = $4, due_at = $4, lease_owner = '',
			lease_until = NULL, claimed_at = NULL, last_error = $5 WHERE id = $1`,
		deliveryID, string(o.State), attempts, next, o.Error)
	queueReceipt(batch, deliveryID, msgID, o.Receipt)
	queueEvent(batch, msgID, now, port, string(o.State), msgbox.FinishedDetail(attempts, owner, o))
	l.setState(deliveryID, o.State)
	queueStatus(batch, l)
	if o.State == msgbox.DeliveryRetrying {
		queueNotify(batch, []string{port})
	}
	return attempts, now, batch, nil
}

// NextDue returns the earliest time a delivery for one of ports can be
// claimed: a pending or retrying delivery's next attempt (possibly already
// past), or an in-progress delivery's lease expiry. Times are the
// database's (see the package comment).
func (b *Box) NextDue(ctx context.Context, ports []string) (time.Time, bool, error) {
	if len(ports) == 0 {
		return time.Time{}, false, nil
	}
	ports = msgbox.CleanPorts(ports)
	var at *time.Time
	err := b.retry(ctx, func(ctx context.Context) error {
		// The earliest per port, from the (port, due_at) index, then the
		// earliest of those: a handful of index probes, however many
		// deliveries wait.
		return b.pool.QueryRow(ctx, `SELECT min(d.due_at) FROM unnest($1::text[]) AS p,
			LATERAL (SELECT due_at FROM deliveries WHERE port = p AND due_at IS NOT NULL ORDER BY due_at LIMIT 1) AS d`,
			ports).Scan(&at)
	})
	if err != nil {
		return time.Time{}, false, b.wrap(err, "next due")
	}
	return tsp(at), at != nil, nil
}

// Retrying counts the deliveries for ports waiting for a retry (see
// msgbox.Box), from the (port, due_at) index: a retrying delivery is due.
func (b *Box) Retrying(ctx context.Context, ports []string) (int, error) {
	if len(ports) == 0 {
		return 0, nil
	}
	ports = msgbox.CleanPorts(ports)
	var n int
	err := b.retry(ctx, func(ctx context.Context) error {
		return b.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries
			WHERE port = ANY($1::text[]) AND due_at IS NOT NULL AND state = 'retrying'`, ports).Scan(&n)
	})
	if err != nil {
		return 0, b.wrap(err, "count retrying")
	}
	return n, nil
}

// Release returns the deliveries of ids that owner holds in progress to
// the pool, due now, without counting an attempt (see msgbox.Box): pending,
// or retrying when an earlier attempt failed; their ports are notified, so
// that another server sharing the box takes them at once. After a commit
// whose acknowledgement was lost it runs again: the deliveries the first
// run returned are no longer owner's, and are passed over.
func (b *Box) Release(ctx context.Context, owner string, ids []int64) (int, error) {
	if owner == "" {
		return 0, b.wrap(msgbox.ErrNoOwner, "release")
	}
	if len(ids) == 0 {
		return 0, nil
	}
	owner = msgbox.CleanText(owner)
	released, err := b.returnInTx(ctx, func(t *pipeTx) ([]heldDelivery, *pgx.Batch, error) {
		return releaseTx(ctx, t, owner, ids)
	})
	if err != nil {
		return 0, b.wrap(err, "release deliveries of %s", owner)
	}
	return len(released), nil
}

// returnInTx runs tx (releaseTx, recoverTx) in a transaction, again after a
// lost connection, and returns the deliveries it returned to the pool, as
// read. After a commit whose acknowledgement was lost, the rerun tells
// what it returned: those the first run returned are no longer in
// progress, and are passed over.
func (b *Box) returnInTx(ctx context.Context, tx func(t *pipeTx) ([]heldDelivery, *pgx.Batch, error)) ([]heldDelivery, error) {
	var held []heldDelivery
	err := b.retry(ctx, func(ctx context.Context) error {
		err := b.inTx(ctx, beginReadCommitted, func(t *pipeTx) (*pgx.Batch, error) {
			var batch *pgx.Batch
			var err error
			held, batch, err = tx(t)
			return batch, err
		})
		if isUncertain(err) {
			held = nil        // the rerun tells what it returns
			return rerun(err) // running again is safe
		}
		return err
	})
	return held, err
}

// releaseTx locks the deliveries of ids owner holds in progress, and their
// messages, in t (in the order recoverTx does), and returns them, as read,
// and the batch of writes that return them to the pool.
func releaseTx(ctx context.Context, t *pipeTx, owner string, ids []int64) ([]heldDelivery, *pgx.Batch, error) {
	return returnHeld(ctx, t, `SELECT id, message_id, port, attempts, lease_owner, claimed_at FROM deliveries
		WHERE id = ANY($1) AND state = 'in_progress' AND lease_owner = $2 ORDER BY id FOR UPDATE`, []any{ids, owner},
		func(batch *pgx.Batch, h heldDelivery, now time.Time) msgbox.DeliveryState {
			state := msgbox.DeliveryPending
			if h.attempts > 0 {
				state = msgbox.DeliveryRetrying
			}
			batch.Queue(`UPDATE deliveries SET state = $2, next_attempt_at = $3, due_at = $3,
				lease_owner = '', lease_until = NULL, claimed_at = NULL WHERE id = $1`,
				h.id, string(state), now)
			queueEvent(batch, h.msgID, now, h.port, string(state), msgbox.ReleasedDetail(h.attempts+1, owner))
			return state
		})
}

// heldDelivery is a delivery in progress that releaseTx or recoverTx
// returns to the pool.
type heldDelivery struct {
	id          int64
	msgID, port string
	attempts    int
	leaseOwner  string
	claimedAt   *time.Time
}

// returnHeld locks, in t, the deliveries in progress that query selects
// with args (id, message_id, port, attempts, lease_owner, claimed_at, in id
// order, FOR UPDATE), then their messages (lockEach), and returns them, as
// read, and the batch of writes that return them to the pool: put's for each (which returns the delivery's new state, at
// now, read after the last lock), then the messages' status, then the
// ports' notification.
func returnHeld(ctx context.Context, t *pipeTx, query string, args []any,
	put func(batch *pgx.Batch, h heldDelivery, now time.Time) msgbox.DeliveryState) ([]heldDelivery, *pgx.Batch, error) {
	var got []heldDelivery
	batch := &pgx.Batch{}
	batch.Queue(query, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var h heldDelivery
			if err := rows.Scan(&h.id, &h.msgID, &h.port, &h.attempts, &h.leaseOwner, &h.claimedAt); err != nil {
				return err
			}
			got = append(got, h)
		}
		return rows.Err()
	})
	if err := t.send(ctx, batch); err != nil {
		return nil, nil, err
	}
	if len(got) == 0 {
		return nil, nil, nil
	}
	msgIDs := make([]string, len(got))
	for i, h := range got {
		msgIDs[i] = h.msgID
	}
	locks, order, now, err := lockEach(ctx, t, msgIDs)
	if err != nil {
		return nil, nil, err
	}
	batch = &pgx.Batch{}
	ports := make([]string, 0, len(got))
	for _, h := range got {
		locks[h.msgID].setState(h.id, put(batch, h, now))
		ports = append(ports, h.port)
	}
	for _, id := range order {
		queueStatus(batch, locks[id])
	}
	queueNotify(batch, ports)
	return got, batch, nil
}

// lockEach locks the messages of msgIDs (repeats allowed) in t, one
// queueLock each, in id order, after their deliveries (the order
// recoverTx and releaseTx lock in), and returns their locks, their ids in that order, and the time
// read after the last lock.
func lockEach(ctx context.Context, t *pipeTx, msgIDs []string) (map[string]*lockedMessage, []string, time.Time, error) {
	locks := map[string]*lockedMessage{}
	var order []string
	for _, id := range msgIDs {
		if locks[id] == nil {
			locks[id] = &lockedMessage{}
			order = append(order, id)
		}
	}
	slices.Sort(order)
	batch := &pgx.Batch{}
	for _, id := range order {
		queueLock(batch, "$1", id, locks[id])
	}
	if err := t.send(ctx, batch); err != nil {
		return nil, nil, time.Time{}, err
	}
	return locks, order, locks[order[len(order)-1]].now, nil
}

// Recover returns every delivery owner (or one of its workers, "owner/...")
// holds in progress, live lease or not, to the pool as pending and due now
// (see msgbox.Box), and notifies their ports. Each interrupted attempt is
// recorded and counted as the takeover of an expired lease is in claimTx
// (msgbox.InterruptedError): a message that kills the process at every try
// still runs out of retries. It returns how many deliveries it returned.
// After a commit whose acknowledgement was lost it runs again, and then
// counts only what the second run found; the first run's deliveries are no
// longer in progress, so their attempts are never counted twice.
func (b *Box) Recover(ctx context.Context, owner string) (int, error) {
	if owner == "" {
		return 0, b.wrap(msgbox.ErrNoOwner, "recover")
	}
	owner = msgbox.CleanText(owner)
	held, err := b.returnInTx(ctx, func(t *pipeTx) ([]heldDelivery, *pgx.Batch, error) {
		return recoverTx(ctx, t, owner)
	})
	if err != nil {
		return 0, b.wrap(err, "recover deliveries of %s", owner)
	}
	// Each held delivery's attempt was recorded as failed, numbered as
	// recoverTx numbers it.
	abandoned := make([]msgbox.Abandoned, len(held))
	for i, h := range held {
		abandoned[i] = msgbox.Abandoned{Port: h.port, Attempt: h.attempts + 1}
	}
	b.abandoned.Tell(abandoned)
	return len(abandoned), nil
}

// recoverTx locks owner's deliveries and their messages in t, and returns
// them, as read, and the batch of writes that record their
// interrupted attempts and return them to the pool.
func recoverTx(ctx context.Context, t *pipeTx, owner string) ([]heldDelivery, *pgx.Batch, error) {
	// The deliveries first, in id order, then their messages in id order.
	// starts_with, not LIKE: an owner name may contain % or _.
	return returnHeld(ctx, t, `SELECT id, message_id, port, attempts, lease_owner, claimed_at FROM deliveries
		WHERE state = 'in_progress' AND (lease_owner = $1 OR starts_with(lease_owner, $1 || '/'))
		ORDER BY id FOR UPDATE`, []any{owner},
		func(batch *pgx.Batch, h heldDelivery, now time.Time) msgbox.DeliveryState {
			// The attempt is the lease owner's (the worker), as in claimTx's
			// takeover; it ended now, when its end became known.
			number := h.attempts + 1
			lastErr := msgbox.InterruptedError(h.leaseOwner)
			started := now
			if h.claimedAt != nil {
				started = ts(*h.claimedAt)
			}
			batch.Queue(`INSERT INTO attempts (delivery_id, message_id, port, number, owner, started_at, finished_at, outcome, error)
				VALUES ($1, $2, $3, $4, $5, $6, $7, 'retrying', $8)`,
				h.id, h.msgID, h.port, number, h.leaseOwner, started, now, lastErr)
			batch.Queue(`UPDATE deliveries SET state = 'pending', attempts = $2, next_attempt_at = $3, due_at = $3,
				lease_owner = '', lease_until = NULL, claimed_at = NULL, last_error = $4 WHERE id = $1`,
				h.id, number, now, lastErr)
			queueEvent(batch, h.msgID, now, h.port, string(msgbox.DeliveryPending),
				msgbox.RecoveredDetail(number, lastErr, owner))
			return msgbox.DeliveryPending
		})
}

// queueReceipt queues the write of a delivery's receipt, if r is not nil,
// replacing one an earlier attempt stored.
func queueReceipt(batch *pgx.Batch, deliveryID int64, msgID string, r *msgbox.DeliveryReceipt) {
	if r == nil {
		return
	}
	batch.Queue(`INSERT INTO receipts (delivery_id, message_id, content_type, summary, data) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (delivery_id) DO UPDATE SET content_type = excluded.content_type, summary = excluded.summary,
		data = excluded.data`, deliveryID, msgID, r.ContentType, r.Summary, r.Data)
}
