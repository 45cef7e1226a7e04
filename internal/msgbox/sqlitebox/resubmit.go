package sqlitebox

import (
	"context"
	"database/sql"
	"errors"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// The reads that apply msgbox.CheckResubmit and msgbox.CheckResumeCopies
// in a write transaction: the write lock it holds keeps what they read as
// it is until the commit.

// checkResubmit applies msgbox.CheckResubmit to in.ResubmitOf, when it is
// set, as that message is now: a copy of a message that is gone (purged:
// it was delivered or terminated) is stored all the same.
func checkResubmit(ctx context.Context, tx *cachedTx, in msgbox.Incoming) error {
	if in.ResubmitOf == "" {
		return nil
	}
	var status, decoding string
	err := tx.QueryRowContext(ctx, "SELECT status, decoding FROM messages WHERE id = ?", in.ResubmitOf).Scan(&status, &decoding)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	ds, err := deliveriesOf(ctx, tx, in.ResubmitOf)
	if err != nil {
		return err
	}
	return msgbox.CheckResubmit(in.ResubmitOf, msgbox.ShownStatus(msgbox.Status(status), ds), msgbox.Decoding(decoding),
		ds, in.ResubmitPort)
}

// deliveriesOf reads the port, state and lease owner of message id's
// deliveries.
func deliveriesOf(ctx context.Context, tx *cachedTx, id string) ([]msgbox.Delivery, error) {
	rows, err := tx.QueryContext(ctx, "SELECT port, state, lease_owner FROM deliveries WHERE message_id = ? ORDER BY id", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ds []msgbox.Delivery
	for rows.Next() {
		var d msgbox.Delivery
		var state string
		if err := rows.Scan(&d.Port, &state, &d.LeaseOwner); err != nil {
			return nil, err
		}
		d.State = msgbox.DeliveryState(state)
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

// checkResumeCopies applies msgbox.CheckResumeCopies to message id, whose
// deliveries to ports are suspended.
func checkResumeCopies(ctx context.Context, tx *cachedTx, id string, ports []string) error {
	copies, err := copiesOf(ctx, tx, id)
	if err != nil || len(copies) == 0 {
		return err
	}
	return msgbox.CheckResumeCopies(id, ports, copies, func(id string) (msgbox.Copy, error) { return readCopy(ctx, tx, id) })
}

// readCopy reads message id's status, deliveries and copies.
func readCopy(ctx context.Context, tx *cachedTx, id string) (msgbox.Copy, error) {
	var c msgbox.Copy
	var status string
	err := tx.QueryRowContext(ctx, "SELECT status FROM messages WHERE id = ?", id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	c.Found, c.Status = true, msgbox.Status(status)
	if c.Deliveries, err = deliveriesOf(ctx, tx, id); err != nil {
		return c, err
	}
	c.Copies, err = copiesOf(ctx, tx, id)
	return c, err
}

// copiesOf returns the ids of the copies message id's history names
// (msgbox.ResubmittedAs).
func copiesOf(ctx context.Context, tx *cachedTx, id string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT detail FROM events WHERE message_id = ? AND port = '' AND status = ? ORDER BY id",
		id, msgbox.ResubmittedStatus)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var detail string
		if err := rows.Scan(&detail); err != nil {
			return nil, err
		}
		if cid, ok := msgbox.ResubmittedAs(msgbox.Event{Status: msgbox.ResubmittedStatus, Detail: detail}); ok {
			ids = append(ids, cid)
		}
	}
	return ids, rows.Err()
}
