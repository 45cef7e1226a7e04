package sqlitebox

import (
	"context"
	"database/sql"
	"errors"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// The reads that apply msgbox.CheckResubmit in a write transaction: the
// write lock it holds keeps what they read as it is until the commit.

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
