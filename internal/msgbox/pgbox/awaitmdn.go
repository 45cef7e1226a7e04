package pgbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

var _ msgbox.MDNAwaiter = (*Box)(nil)

// awaitedColumns are read from awaited_mdns a joined with deliveries d
// (a wait never outlives its delivery): the delivery's state and lease
// owner say whether it awaits the MDN now.
var awaitedColumns = msgbox.Qualified("a", "delivery_id, message_id, port, as2_message_id, mic, deadline") +
	", d.state, d.lease_owner"

func scanAwaited(s msgbox.Scanner) (msgbox.AwaitedMDN, error) {
	var a msgbox.AwaitedMDN
	var state string
	err := s.Scan(&a.DeliveryID, &a.MessageID, &a.Port, &a.AS2MessageID, &a.MIC, &a.Deadline, &state, &a.LeaseOwner)
	a.State = msgbox.DeliveryState(state)
	a.Deadline = a.Deadline.UTC()
	return a, err
}

// AwaitMDN hands a delivery's lease to msgbox.AwaitOwner until its MDN is
// due (see msgbox.MDNAwaiter), in one statement. Run again after a lost
// answer, it finds the lease handed over already: when it was handed for
// this very wait, the lost try did it (nil); otherwise ErrLeaseLost.
func (b *Box) AwaitMDN(ctx context.Context, owner string, a msgbox.AwaitedMDN) error {
	a, err := msgbox.CheckAwaitedMDN(a)
	if err != nil {
		return b.wrap(err, "await the MDN of delivery %d", a.DeliveryID)
	}
	owner = msgbox.CleanText(owner)
	// next_attempt_at, unused while in progress, keeps a.RetryAt for the
	// claim that finds the wait timed out (claimTx).
	var retryAt *time.Time
	if !a.RetryAt.IsZero() {
		retryAt = &a.RetryAt
	}
	var handed bool
	var lost error // the commit in doubt of a try whose answer was lost
	err = b.retry(ctx, func(ctx context.Context) error {
		err := b.pool.QueryRow(ctx, `WITH d AS (
				UPDATE deliveries SET lease_owner = $3, lease_until = $6, due_at = $6, next_attempt_at = $11
				WHERE id = $1 AND state = 'in_progress' AND lease_owner = $2
				RETURNING id),
			a AS (INSERT INTO awaited_mdns (delivery_id, message_id, port, as2_message_id, mic, deadline)
				SELECT id, $4, $5, $7, $8, $6 FROM d
				ON CONFLICT (delivery_id) DO UPDATE SET message_id = excluded.message_id, port = excluded.port,
				as2_message_id = excluded.as2_message_id, mic = excluded.mic, deadline = excluded.deadline),
			e AS (INSERT INTO events (message_id, at, port, status, detail)
				SELECT $4, clock_timestamp(), $5, $9, $10 FROM d)
			SELECT EXISTS (SELECT 1 FROM d)`,
			a.DeliveryID, owner, msgbox.AwaitOwner, a.MessageID, a.Port, ts(a.Deadline), a.AS2MessageID, a.MIC,
			string(msgbox.StatusAwaitingMDN),
			msgbox.AwaitingMDNDetail(a), retryAt).
			Scan(&handed)
		if err != nil && isUncertain(commitErr(err)) {
			lost = commitErr(err) // running it again is safe: it finds what the lost try did
			return rerun(lost)
		}
		return err
	})
	if err == nil && !handed && lost != nil {
		// The lease is handed over already: by the lost try for this
		// very wait, or not. Looked at on a context of its own, as
		// FinishMDN's: a look that fails leaves the commit in doubt.
		lctx, cancel := lookContext(ctx)
		err = b.retry(lctx, func(ctx context.Context) error {
			return b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries d JOIN awaited_mdns a ON a.delivery_id = d.id
				WHERE d.id = $1 AND d.state = 'in_progress' AND d.lease_owner = $2 AND a.as2_message_id = $3 AND a.deadline = $4)`,
				a.DeliveryID, msgbox.AwaitOwner, a.AS2MessageID, ts(a.Deadline)).Scan(&handed)
		})
		cancel()
		if err != nil {
			err = lost
		}
	}
	if err == nil && !handed {
		err = msgbox.LeaseLost(owner)
	}
	return b.wrap(err, "await the MDN of delivery %d", a.DeliveryID)
}

// AwaitedMDN returns what a delivery keeps for its MDN (see
// msgbox.MDNAwaiter).
func (b *Box) AwaitedMDN(ctx context.Context, as2MessageID string) (msgbox.AwaitedMDN, error) {
	// Stored cleaned (msgbox.CheckAwaitedMDN); a partner's MDN names it.
	as2MessageID = msgbox.CleanText(as2MessageID)
	var a msgbox.AwaitedMDN
	err := b.retry(ctx, func(ctx context.Context) error {
		var err error
		a, err = scanAwaited(b.pool.QueryRow(ctx, "SELECT "+awaitedColumns+
			" FROM awaited_mdns a JOIN deliveries d ON d.id = a.delivery_id WHERE a.as2_message_id = $1 ORDER BY a.deadline DESC LIMIT 1", as2MessageID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = fmt.Errorf("no delivery sent %q: %w", as2MessageID, msgbox.ErrNotFound)
	}
	return a, b.wrap(err, "awaited MDN")
}

// AwaitingMDNs returns the deliveries awaiting an MDN (see
// msgbox.MDNAwaiter).
func (b *Box) AwaitingMDNs(ctx context.Context) ([]msgbox.AwaitedMDN, error) {
	var out []msgbox.AwaitedMDN
	err := b.retry(ctx, func(ctx context.Context) error {
		out = nil
		rows, err := b.pool.Query(ctx, "SELECT "+awaitedColumns+` FROM awaited_mdns a JOIN deliveries d ON d.id = a.delivery_id
			WHERE d.state = 'in_progress' AND d.lease_owner = $1 ORDER BY a.deadline, a.delivery_id`, msgbox.AwaitOwner)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAwaited(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, b.wrap(err, "awaiting MDNs")
}

// SendingDeliveries returns the deliveries of ports being sent (see
// msgbox.MDNAwaiter): in progress under a lease that has not ended. The
// partial index deliveries_owner holds the deliveries in progress only
// (being sent, or awaiting an MDN); with a backlog of a million pending
// deliveries and a million delivered, the planner reads it (EXPLAIN
// ANALYZE: 0.2 ms). Its callers bound how often it runs.
func (b *Box) SendingDeliveries(ctx context.Context, ports []string) ([]int64, error) {
	ports = msgbox.CleanPorts(ports)
	if len(ports) == 0 {
		return nil, nil
	}
	var ids []int64
	err := b.retry(ctx, func(ctx context.Context) error {
		ids = nil
		rows, err := b.pool.Query(ctx, `SELECT id FROM deliveries WHERE state = 'in_progress' AND lease_owner <> $1
			AND lease_until > clock_timestamp() AND port = ANY($2) ORDER BY id`, msgbox.AwaitOwner, ports)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids, b.wrap(err, "deliveries being sent")
}

// SettleLate records the verdict o of an MDN that came after its wait
// ended (see msgbox.MDNAwaiter). After a commit whose answer was lost it
// looks whether the delivery is as o says, keeping this very receipt
// (then the lost try settled it), and tries again otherwise.
func (b *Box) SettleLate(ctx context.Context, deliveryID int64, attempts int, o msgbox.Outcome) error {
	o, err := msgbox.CheckLateOutcome(o)
	if err != nil {
		return b.wrap(err, "settle delivery %d", deliveryID)
	}
	settled := func(ctx context.Context) (bool, error) {
		var found bool
		err := b.retry(ctx, func(ctx context.Context) error {
			return b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries d JOIN receipts r ON r.delivery_id = d.id
				WHERE d.id = $1 AND d.state = $2 AND d.attempts = $3 AND r.data = $4)`,
				deliveryID, string(o.State), attempts, o.Receipt.Data).Scan(&found)
		})
		return found, err
	}
	lost := false
	err = b.retry(ctx, func(ctx context.Context) error {
		err := b.inTx(ctx, beginReadCommitted, func(t *pipeTx) (*pgx.Batch, error) {
			return settleLateTx(ctx, t, deliveryID, attempts, o)
		})
		if isUncertain(err) {
			found, lookErr := settled(ctx)
			switch {
			case lookErr != nil:
				return err
			case found:
				return nil
			}
			lost = true
			return lostConn(err)
		}
		if lost && errors.Is(err, msgbox.ErrLeaseLost) {
			// The lost try may have committed after the look above.
			if found, lookErr := settled(ctx); lookErr == nil && found {
				return nil
			}
		}
		return err
	})
	return b.wrap(err, "settle delivery %d", deliveryID)
}

// settleLateTx locks the delivery in t and returns the batch of writes
// that settle it with o as SettleLate does.
func settleLateTx(ctx context.Context, t *pipeTx, deliveryID int64, attempts int, o msgbox.Outcome) (*pgx.Batch, error) {
	var msgID, port, state string
	var n int
	found, hasReceipt := false, false
	l := &lockedMessage{}
	batch := &pgx.Batch{}
	queueLockDelivery(batch, deliveryID, "message_id, port, state, attempts", &found, l, &msgID, &port, &state, &n)
	// After the lock, in a statement of its own: it sees a receipt
	// committed by whoever held the lock before.
	batch.Queue(`SELECT EXISTS (SELECT 1 FROM receipts WHERE delivery_id = $1)`, deliveryID).
		QueryRow(func(r pgx.Row) error { return r.Scan(&hasReceipt) })
	if err := t.send(ctx, batch); err != nil {
		return nil, err
	}
	if !found {
		return nil, msgbox.DeliveryNotFound(deliveryID)
	}
	if !msgbox.LateSettles(msgbox.DeliveryState(state), hasReceipt) || n != attempts {
		return nil, msgbox.LateSettleLost(deliveryID, attempts)
	}
	batch = &pgx.Batch{}
	if o.State == msgbox.DeliverySuspended {
		batch.Queue(`UPDATE messages SET reason = $2 WHERE id = $1`, msgID, msgbox.SuspendedReason(port, o.Error))
	}
	batch.Queue(`UPDATE deliveries SET state = $2, next_attempt_at = NULL, due_at = NULL, lease_owner = '',
			lease_until = NULL, claimed_at = NULL, last_error = $3 WHERE id = $1`, deliveryID, string(o.State), o.Error)
	queueReceipt(batch, deliveryID, msgID, o.Receipt)
	queueEvent(batch, msgID, l.now, port, string(o.State), msgbox.LateMDNDetail(attempts, o))
	l.setState(deliveryID, o.State)
	queueStatus(batch, l)
	if st := l.derived(); o.State == msgbox.DeliveryDelivered && st != msgbox.StatusSuspended && st != msgbox.StatusTerminated {
		// No longer suspended: the reason it was is no reason now.
		batch.Queue(`UPDATE messages SET reason = '' WHERE id = $1`, msgID)
	}
	return batch, nil
}
