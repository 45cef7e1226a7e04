package sqlitebox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

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
	var deadline int64
	var state string
	err := s.Scan(&a.DeliveryID, &a.MessageID, &a.Port, &a.AS2MessageID, &a.MIC, &deadline, &state, &a.LeaseOwner)
	a.State = msgbox.DeliveryState(state)
	a.Deadline = fromDB(deadline)
	return a, err
}

// AwaitMDN hands a delivery's lease to msgbox.AwaitOwner until its MDN is
// due (see msgbox.MDNAwaiter).
func (b *Box) AwaitMDN(ctx context.Context, owner string, a msgbox.AwaitedMDN) error {
	a, err := msgbox.CheckAwaitedMDN(a)
	if err != nil {
		return b.wrap(err, "await the MDN of delivery %d", a.DeliveryID)
	}
	owner = msgbox.CleanText(owner)
	err = b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		until := toDB(a.Deadline)
		// next_attempt_at, unused while in progress, keeps a.RetryAt for
		// the claim that finds the wait timed out (retryTimedOutTx).
		var retryAt sql.NullInt64
		if !a.RetryAt.IsZero() {
			retryAt = sql.NullInt64{Int64: toDB(a.RetryAt), Valid: true}
		}
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET lease_owner = ?, lease_until = ?, due_at = ?,
			next_attempt_at = ? WHERE id = ? AND state = ? AND lease_owner = ?`,
			msgbox.AwaitOwner, until, until, retryAt, a.DeliveryID, string(msgbox.DeliveryInProgress), owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return msgbox.LeaseLost(owner)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO awaited_mdns (delivery_id, message_id, port, as2_message_id, mic, deadline)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO UPDATE SET message_id = excluded.message_id,
			port = excluded.port, as2_message_id = excluded.as2_message_id, mic = excluded.mic, deadline = excluded.deadline`,
			a.DeliveryID, a.MessageID, a.Port, a.AS2MessageID, a.MIC, until); err != nil {
			return err
		}
		return addEvent(ctx, tx, a.MessageID, b.clock(), a.Port, string(msgbox.StatusAwaitingMDN),
			msgbox.AwaitingMDNDetail(a))
	})
	return b.wrap(err, "await the MDN of delivery %d", a.DeliveryID)
}

// AwaitedMDN returns what a delivery keeps for its MDN (see
// msgbox.MDNAwaiter).
func (b *Box) AwaitedMDN(ctx context.Context, as2MessageID string) (msgbox.AwaitedMDN, error) {
	// Stored cleaned (msgbox.CheckAwaitedMDN); a partner's MDN names it.
	as2MessageID = msgbox.CleanText(as2MessageID)
	a, err := scanAwaited(b.q.QueryRowContext(ctx, "SELECT "+awaitedColumns+
		" FROM awaited_mdns a JOIN deliveries d ON d.id = a.delivery_id WHERE a.as2_message_id = ? ORDER BY a.deadline DESC LIMIT 1", as2MessageID))
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("no delivery sent %q: %w", as2MessageID, msgbox.ErrNotFound)
	}
	return a, b.wrap(err, "awaited MDN")
}

// AwaitingMDNs returns the deliveries awaiting an MDN (see
// msgbox.MDNAwaiter).
func (b *Box) AwaitingMDNs(ctx context.Context) ([]msgbox.AwaitedMDN, error) {
	// A delivery awaiting its MDN is due at the wait's deadline: the
	// partial index deliveries_due holds it, and not the deliveries
	// settled, nor the MDNs they kept (CROSS JOIN keeps that order;
	// SQLite read every delivery otherwise).
	rows, err := b.q.QueryContext(ctx, "SELECT "+awaitedColumns+` FROM deliveries d INDEXED BY deliveries_due
		CROSS JOIN awaited_mdns a ON a.delivery_id = d.id
		WHERE d.due_at IS NOT NULL AND d.state = ? AND d.lease_owner = ? ORDER BY a.deadline, a.delivery_id`, string(msgbox.DeliveryInProgress), msgbox.AwaitOwner)
	if err != nil {
		return nil, b.wrap(err, "awaiting MDNs")
	}
	defer rows.Close()
	var out []msgbox.AwaitedMDN
	for rows.Next() {
		a, err := scanAwaited(rows)
		if err != nil {
			return nil, b.wrap(err, "awaiting MDNs")
		}
		out = append(out, a)
	}
	return out, b.wrap(rows.Err(), "awaiting MDNs")
}

// SendingDeliveries returns the deliveries of ports being sent (see
// msgbox.MDNAwaiter). In progress, a delivery is due when its lease ends
// (due_at = lease_until), later than now while it is being sent: the
// query reads the range of the partial index deliveries_due past now,
// which holds those and the retries not due yet, never the backlog due
// nor the deliveries settled (a box of a million of either reads none of
// them). A delivery whose lease has ended is not being sent. Its callers
// bound how often it runs.
func (b *Box) SendingDeliveries(ctx context.Context, ports []string) ([]int64, error) {
	ports = msgbox.CleanPorts(ports)
	if len(ports) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(ports)+3)
	args = append(args, toDB(b.clock()), string(msgbox.DeliveryInProgress), msgbox.AwaitOwner)
	for _, p := range ports {
		args = append(args, p)
	}
	rows, err := b.q.QueryContext(ctx, `SELECT id FROM deliveries INDEXED BY deliveries_due
		WHERE due_at IS NOT NULL AND due_at > ? AND state = ? AND lease_owner <> ?
		AND port IN (?`+strings.Repeat(", ?", len(ports)-1)+`) ORDER BY id`, args...)
	if err != nil {
		return nil, b.wrap(err, "deliveries being sent")
	}
	ids, err := appendInt64s(nil, rows)
	return ids, b.wrap(err, "deliveries being sent")
}

// retryTimedOutTx records the wait of delivery d, as ClaimBatch read it
// (awaiting its MDN past the deadline, its retry due at d.NextAttemptAt,
// after now), as a failed attempt, as claimTx records an expired lease,
// and leaves the delivery retrying until then instead of claiming it:
// like every failed attempt's, its retry comes retry.interval later
// (language §9), and a late MDN no longer settles it.
func retryTimedOutTx(ctx context.Context, tx *cachedTx, d msgbox.Delivery, claimedAt sql.NullInt64, now time.Time) error {
	if err := abandonTx(ctx, tx, &d, claimedAt, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, attempts = ?, due_at = next_attempt_at,
		lease_owner = '', lease_until = NULL, claimed_at = NULL, last_error = ? WHERE id = ?`,
		string(msgbox.DeliveryRetrying), d.Attempts, d.LastError, d.ID); err != nil {
		return fmt.Errorf("retrying delivery %d: %w", d.ID, err)
	}
	return refreshStatus(ctx, tx, d.MessageID)
}

// SettleLate records the verdict o of an MDN that came after its wait
// ended (see msgbox.MDNAwaiter).
func (b *Box) SettleLate(ctx context.Context, deliveryID int64, attempts int, o msgbox.Outcome) error {
	o, err := msgbox.CheckLateOutcome(o)
	if err != nil {
		return b.wrap(err, "settle delivery %d", deliveryID)
	}
	err = b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		var msgID, port, state string
		var n int
		var hasReceipt bool
		err := tx.QueryRowContext(ctx, `SELECT d.message_id, d.port, d.state, d.attempts,
			EXISTS (SELECT 1 FROM receipts r WHERE r.delivery_id = d.id) FROM deliveries d WHERE d.id = ?`, deliveryID).
			Scan(&msgID, &port, &state, &n, &hasReceipt)
		if errors.Is(err, sql.ErrNoRows) {
			return msgbox.DeliveryNotFound(deliveryID)
		}
		if err != nil {
			return err
		}
		if !msgbox.LateSettles(msgbox.DeliveryState(state), hasReceipt) || n != attempts {
			return msgbox.LateSettleLost(deliveryID, attempts)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, next_attempt_at = NULL, due_at = NULL,
			lease_owner = '', lease_until = NULL, claimed_at = NULL, last_error = ? WHERE id = ?`,
			string(o.State), o.Error, deliveryID); err != nil {
			return fmt.Errorf("recording delivery: %w", err)
		}
		rc := o.Receipt
		if _, err := tx.ExecContext(ctx, `INSERT INTO receipts (delivery_id, message_id, content_type, summary, data)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO UPDATE SET content_type = excluded.content_type,
			summary = excluded.summary, data = excluded.data`, deliveryID, msgID, rc.ContentType, rc.Summary, rc.Data); err != nil {
			return fmt.Errorf("storing the receipt: %w", err)
		}
		if o.State == msgbox.DeliverySuspended {
			if _, err := tx.ExecContext(ctx, "UPDATE messages SET reason = ? WHERE id = ?",
				msgbox.SuspendedReason(port, o.Error), msgID); err != nil {
				return fmt.Errorf("storing the reason: %w", err)
			}
		}
		if err := addEvent(ctx, tx, msgID, b.clock(), port, string(o.State), msgbox.LateMDNDetail(attempts, o)); err != nil {
			return err
		}
		if err := refreshStatus(ctx, tx, msgID); err != nil || o.State != msgbox.DeliveryDelivered {
			return err
		}
		// No longer suspended: the reason it was is no reason now.
		_, err = tx.ExecContext(ctx, `UPDATE messages SET reason = '' WHERE id = ? AND status NOT IN (?, ?)`,
			msgID, string(msgbox.StatusSuspended), string(msgbox.StatusTerminated))
		return err
	})
	return b.wrap(err, "settle delivery %d", deliveryID)
}
