package pgbox

import (
	"context"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/jackc/pgx/v5"
)

// The reads that apply msgbox.CheckResubmit in the transaction that
// stores the copy. They lock the message resubmitted as Resume locks it,
// its deliveries first (lockOperated): a resubmit and a resume of one
// message take turns, and the second reads what the first committed.

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
