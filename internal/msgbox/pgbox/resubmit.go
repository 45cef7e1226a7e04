package pgbox

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// The reads that apply msgbox.CheckResubmit and msgbox.CheckResumeCopies
// in the transaction that makes the change. Both lock the message
// resubmitted or resumed, its deliveries first (lockOperated's order): a
// resubmit and a resume of one message take turns, and the second reads
// what the first committed.

// checkResubmit locks in.ResubmitOf, when it is set, and applies
// msgbox.CheckResubmit to it as it is then: a copy of a message that is
// gone (purged: it was delivered or terminated) is stored all the same.
func checkResubmit(ctx context.Context, tx pgx.Tx, in msgbox.Incoming) error {
	if in.ResubmitOf == "" {
		return nil
	}
	l := &lockedMessage{}
	batch := &pgx.Batch{}
	batch.Queue("SELECT 1 FROM deliveries WHERE message_id = $1 ORDER BY id FOR UPDATE", in.ResubmitOf)
	queueLock(batch, "$1", in.ResubmitOf, l)
	if err := sendBatch(ctx, tx, batch); err != nil {
		return err
	}
	if !l.found {
		return nil
	}
	ds := l.publicDeliveries()
	return msgbox.CheckResubmit(in.ResubmitOf, msgbox.ShownStatus(l.status, ds), l.decoding, ds, in.ResubmitPort)
}

// publicDeliveries is l's deliveries as msgbox.CheckResubmit reads them.
func (l *lockedMessage) publicDeliveries() []msgbox.Delivery {
	ds := make([]msgbox.Delivery, len(l.deliveries))
	for i, d := range l.deliveries {
		ds[i] = msgbox.Delivery{ID: d.id, MessageID: l.id, Port: d.port, State: d.state, LeaseOwner: d.owner}
	}
	return ds
}

// checkResumeCopies applies msgbox.CheckResumeCopies to message id, locked
// by t, whose deliveries to ports are suspended.
func checkResumeCopies(ctx context.Context, t *pipeTx, id string, ports []string) error {
	var copies []string
	batch := &pgx.Batch{}
	queueCopies(batch, id, &copies)
	if err := t.send(ctx, batch); err != nil || len(copies) == 0 {
		return err
	}
	return msgbox.CheckResumeCopies(id, ports, copies, func(id string) (msgbox.Copy, error) {
		var c msgbox.Copy
		batch := &pgx.Batch{}
		batch.Queue("SELECT status FROM messages WHERE id = $1", id).QueryRow(func(r pgx.Row) error {
			var status string
			err := r.Scan(&status)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			c.Found, c.Status = err == nil, msgbox.Status(status)
			return err
		})
		batch.Queue("SELECT port, state, lease_owner FROM deliveries WHERE message_id = $1 ORDER BY id", id).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var d msgbox.Delivery
				var state string
				if err := rows.Scan(&d.Port, &state, &d.LeaseOwner); err != nil {
					return err
				}
				d.State = msgbox.DeliveryState(state)
				c.Deliveries = append(c.Deliveries, d)
			}
			return rows.Err()
		})
		queueCopies(batch, id, &c.Copies)
		err := t.send(ctx, batch)
		return c, err
	})
}

// queueCopies queues the read of the ids of the copies message id's
// history names (msgbox.ResubmittedAs) into ids.
func queueCopies(batch *pgx.Batch, id string, ids *[]string) {
	batch.Queue("SELECT detail FROM events WHERE message_id = $1 AND port = '' AND status = $2 ORDER BY id",
		id, msgbox.ResubmittedStatus).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var detail string
			if err := rows.Scan(&detail); err != nil {
				return err
			}
			if cid, ok := msgbox.ResubmittedAs(msgbox.Event{Status: msgbox.ResubmittedStatus, Detail: detail}); ok {
				*ids = append(*ids, cid)
			}
		}
		return rows.Err()
	})
}
