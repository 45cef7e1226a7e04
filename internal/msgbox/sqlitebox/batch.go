package sqlitebox

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// ReceiveBatch stores and routes items as ReceiveRouted does each (see
// msgbox.Batcher), up to msgbox.MaxBatch of them in one write transaction:
// one savepoint, one commit and one log sync for the lot, and fewer
// statements per message (the message row is inserted routed; its history
// in one statement).
//
// Bodies are read before the write lock is taken, each whole into memory
// if it fits in one chunk; a larger one is stored after the batch, as
// ReceiveRouted stores it (in a file beside the database, without holding
// the lock while reading), and so is one with its bytes as received apart
// or an MDN to keep (Incoming.MDN). The source keys are looked up first, in one read transaction,
// so that a duplicate's body is not read.
func (b *Box) ReceiveBatch(ctx context.Context, items []msgbox.Receipt, route msgbox.Router) []msgbox.ReceiveResult {
	return msgbox.ReceiveInBatches(items, func(items []msgbox.Receipt, out []msgbox.ReceiveResult) {
		b.receiveBatch(ctx, items, route, nil, out)
	}, b.wrap)
}

// ReceiveHandoff is ReceiveBatch, claiming per h (see
// msgbox.HandoffReceiver) in the transaction that stores the messages.
// The messages stored on their own (a body over one chunk, two bodies, an
// MDN) are not claimed: their deliveries stay pending for ClaimBatch.
func (b *Box) ReceiveHandoff(ctx context.Context, items []msgbox.Receipt, route msgbox.Router, h msgbox.Handoff) []msgbox.ReceiveResult {
	return msgbox.ReceiveHandoffInBatches(items, h, func(items []msgbox.Receipt, out []msgbox.ReceiveResult, h *msgbox.Handoff) {
		b.receiveBatch(ctx, items, route, h, out)
	}, b.wrap)
}

// batchItem is one Receipt of a batch on its way into the box.
type batchItem struct {
	i      int // index in the batch
	stored msgbox.Message
	origin string // the Incoming's Origin
	props  string
	key    string
	seen   bool   // key found stored before reading the body: not read
	data   []byte // the whole body, when it fits in one chunk
	sum    []byte
	// alone: to store on its own after the batch (a body larger than one
	// chunk, with its first chunk read into data; or a key seen and
	// purged before the write, whose body was not read).
	alone bool
	body  io.Reader
}

func (b *Box) receiveBatch(ctx context.Context, items []msgbox.Receipt, route msgbox.Router, h *msgbox.Handoff,
	out []msgbox.ReceiveResult) {
	pend := make([]*batchItem, 0, len(items))
	for i, it := range items {
		stored, props, err := msgbox.NewMessage(it.In)
		if err != nil {
			out[i].Err = err
			continue
		}
		pend = append(pend, &batchItem{i: i, stored: stored, origin: it.In.Origin, props: props, key: it.In.SourceKey, body: it.Body})
	}
	if err := b.seenKeys(ctx, pend); err != nil {
		for _, p := range pend {
			out[p.i].Err = err
		}
		return
	}
	ready := pend[:0:0]
	var alone []*batchItem
	for _, p := range pend {
		if p.seen {
			ready = append(ready, p)
			continue
		}
		if err := ctx.Err(); err != nil {
			out[p.i].Err = err
			continue
		}
		if in := items[p.i].In; in.AsReceived != nil || in.MDN != nil || in.ResubmitOf != "" {
			// Two bodies, the one as received in a file of its own, an
			// MDN made outside the write lock, or an entry in another
			// message's history: ReceiveRouted's, after the batch
			// (decoded, AS2 and resubmitted messages are published one
			// by one anyway).
			p.alone = true
			alone = append(alone, p)
			continue
		}
		body := p.body
		if body == nil {
			body = bytes.NewReader(nil)
		}
		if fb, ok := body.(msgbox.FileBody); ok && fb.Size() > ChunkSize {
			// A large file input, unread: ReceiveRouted may keep its
			// file as it is.
			p.alone = true
			alone = append(alone, p)
			continue
		}
		data, err := msgbox.ReadUpTo(body, ChunkSize)
		if err != nil {
			out[p.i].Err = fmt.Errorf("reading body: %w", err)
			continue
		}
		p.data = data
		if len(data) > ChunkSize {
			// Larger than a chunk: ReceiveRouted's body file, after
			// the batch, with the chunk already read put back in front.
			p.alone, p.body = true, io.MultiReader(bytes.NewReader(p.data), body)
			alone = append(alone, p)
			continue
		}
		sum := msgbox.NewChecksum()
		sum.Write(p.data)
		p.sum = sum.Sum(nil)
		ready = append(ready, p)
	}
	if len(ready) > 0 {
		err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
			return b.storeBatch(ctx, tx, ready, route, h, out)
		})
		for _, p := range ready {
			switch {
			case err != nil:
				out[p.i] = msgbox.ReceiveResult{Err: err}
			case p.alone:
				// Seen, then purged before the write: a new message
				// after all, whose body is still unread.
				alone = append(alone, p)
			}
		}
	}
	for _, p := range alone {
		msg, dup, err := b.receive(ctx, items[p.i].In, p.body, route)
		out[p.i] = msgbox.ReceiveResult{Message: msg, Dup: dup, Err: err}
	}
}

// seenKeys marks the items whose source key is stored already, looking them
// all up in one statement.
func (b *Box) seenKeys(ctx context.Context, pend []*batchItem) error {
	stored, err := storedKeys(ctx, b.q, pend)
	if err != nil {
		return err
	}
	seen := false
	for _, p := range pend {
		p.seen = p.key != "" && stored[p.key]
		seen = seen || p.seen
	}
	if seen && b.sourceSeen != nil {
		b.sourceSeen()
	}
	return nil
}

// storedKeys returns which of the items' source keys are stored, in one
// statement however many there are. The keys go hex-encoded in a JSON
// array: JSON would replace invalid UTF-8, and a key is compared byte for
// byte.
func storedKeys(ctx context.Context, q querier, items []*batchItem) (map[string]bool, error) {
	keys := make([]string, 0, len(items))
	for _, p := range items {
		if p.key != "" {
			keys = append(keys, hex.EncodeToString([]byte(p.key)))
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	js, _ := json.Marshal(keys) // a []string of hex always encodes
	rows, err := q.QueryContext(ctx, `SELECT source_key FROM messages
		WHERE source_key IN (SELECT CAST(unhex(value) AS TEXT) FROM json_each(?))`, string(js))
	if err != nil {
		return nil, fmt.Errorf("looking up source keys: %w", err)
	}
	defer rows.Close()
	stored := map[string]bool{}
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		stored[string(k)] = true
	}
	return stored, rows.Err()
}

// storeBatch is ReceiveBatch's write: it stores every item of ready that
// is not a duplicate and routes it, setting out for each (a rerun starts
// afresh: see writeFunc). An item whose routing is invalid gets the error
// and is not stored; any other error fails the whole write.
func (b *Box) storeBatch(ctx context.Context, tx *cachedTx, ready []*batchItem, route msgbox.Router, h *msgbox.Handoff,
	out []msgbox.ReceiveResult) error {
	now := b.clock()
	// Checked again under the write lock: another Receive of the same
	// source may have committed since, or the message seen been purged.
	stored, err := storedKeys(ctx, tx, ready)
	if err != nil {
		return err
	}
	rows := routedRows{handoff: h, out: out}
	for _, p := range ready {
		out[p.i] = msgbox.ReceiveResult{}
		p.alone = false
		if stored[p.key] {
			// Perhaps an earlier item of this batch's: written first.
			if err := rows.flush(ctx, tx); err != nil {
				return err
			}
			m, err := existingSource(ctx, tx, p.key)
			if err != nil {
				return err
			}
			out[p.i] = msgbox.ReceiveResult{Message: *m, Dup: true}
			continue
		}
		if p.seen {
			p.alone = true
			continue
		}
		msg := p.stored
		msg.ID = msgbox.NewID(now, b.rand)
		msg.Size = int64(len(p.data))
		msg.ReceivedAt = now
		var r msgbox.Routing
		routed := route != nil
		if routed {
			// Decided before anything is written: an invalid routing
			// fails this item alone, with nothing of it stored.
			r, err = msgbox.NewRouting(route(msg))
			if err != nil {
				out[p.i].Err = fmt.Errorf("routing: %w", err)
				continue
			}
			msg.Status, msg.Reason = r.Status, r.Reason
		}
		rows.add(msg, p, routed, r, now)
		out[p.i].Message = msg
		if p.key != "" {
			if stored == nil {
				stored = map[string]bool{}
			}
			stored[p.key] = true // a later item of the batch is its duplicate
		}
	}
	return rows.flush(ctx, tx)
}

// routedRows gathers what storeBatch writes of the messages it stores, and
// writes it in one multi-row statement per table (execRows): each message
// with its body, its deliveries when routed, and the history ReceiveRouted
// records: received, then pending for each port, or suspended. Rows keep
// the order of add, so ids (and the claim order they set) do too.
type routedRows struct {
	data                         [][]byte // each message's body, in order
	messages, deliveries, events []any
	// handoff, when not nil, claims the deliveries to its ports (see
	// msgbox.Handoff); claims are those, in the order of deliveries, and
	// out the results to add them to.
	handoff *msgbox.Handoff
	claims  []handedOff
	out     []msgbox.ReceiveResult
}

// handedOff is a delivery a Handoff claims: the deliveries row it is,
// and the result and body it belongs to.
type handedOff struct {
	row  int // in routedRows.deliveries, counting rows
	item int // in routedRows.out
	data []byte
	d    *msgbox.Delivery
}

func (w *routedRows) add(msg msgbox.Message, p *batchItem, routed bool, r msgbox.Routing, now time.Time) {
	var key any // NULL: no de-duplication
	if p.key != "" {
		key = p.key
	}
	w.data = append(w.data, p.data)
	// body_id (column 7) is set by flush, once the bodies have ids.
	w.messages = append(w.messages, msg.ID, msg.ReceiveLocation, msg.FileName, msg.ContentType, p.props, key, nil,
		msg.Size, p.sum, toDB(now), string(msg.Status), routed, msg.Reason, msg.Party, string(msg.Decoding))
	event := func(port, status, detail string) {
		w.events = append(w.events, msg.ID, toDB(now), port, status, detail)
	}
	event("", string(msgbox.StatusReceived), msgbox.ArrivalDetail(p.origin, msg.ReceiveLocation, msg.FileName, msg.Size))
	switch {
	case !routed:
	case len(r.Ports) == 0:
		event("", string(msgbox.StatusSuspended), r.Reason)
	default:
		var claimed []string
		for _, port := range r.Ports {
			event(port, string(msgbox.DeliveryPending), msgbox.RoutedDetail(port))
			if h := w.handoff; h != nil && slices.Contains(h.Ports, port) {
				// As claimPending leases a pending delivery.
				until := msgbox.Timestamp(now.Add(h.Lease))
				m := msg // as read back
				m.ReceivedAt, m.Properties = fromDB(toDB(now)), msgbox.CloneProperties(msg.Properties)
				w.claims = append(w.claims, handedOff{row: len(w.deliveries) / deliveryWidth, item: p.i, data: p.data,
					d: &msgbox.Delivery{MessageID: msg.ID, Port: port, State: msgbox.DeliveryInProgress,
						LeaseOwner: h.Owner, LeaseUntil: until, Message: &m}})
				w.deliveries = append(w.deliveries, msg.ID, port, string(msgbox.DeliveryInProgress), nil, toDB(until),
					h.Owner, toDB(until), toDB(now))
				claimed = append(claimed, port)
				continue
			}
			w.deliveries = append(w.deliveries, msg.ID, port, string(msgbox.DeliveryPending), toDB(now), toDB(now),
				"", nil, nil)
		}
		// After every routing, as a claim after the receive would.
		for _, port := range claimed {
			event(port, string(msgbox.DeliveryInProgress), msgbox.ClaimedDetail(1, w.handoff.Owner))
		}
	}
}

// deliveryWidth is the number of values of a deliveries row in add.
const deliveryWidth = 8

// messageWidth is the number of values of a messages row in add.
const messageWidth = 15

// flush writes what add gathered and empties w.
func (w *routedRows) flush(ctx context.Context, tx *cachedTx) error {
	if len(w.data) == 0 {
		return nil
	}
	ids, err := insertBodies(ctx, tx, len(w.data))
	if err != nil {
		return err
	}
	var chunks []any
	for i, id := range ids {
		w.messages[i*messageWidth+6] = id
		if len(w.data[i]) > 0 {
			chunks = append(chunks, id, 0, w.data[i])
		}
	}
	if err := execRows(ctx, tx, "INSERT INTO body_chunks (body_id, seq, data) VALUES "+rowsMark, 3, chunks); err != nil {
		return fmt.Errorf("storing bodies: %w", err)
	}
	if err := execRows(ctx, tx, `INSERT INTO messages
		(id, receive_location, file_name, content_type, properties, source_key, body_id, size, checksum, received_at,
		status, routed, reason, party, decoding) VALUES `+rowsMark, messageWidth, w.messages); err != nil {
		return fmt.Errorf("storing messages: %w", err)
	}
	const deliveries = `INSERT INTO deliveries
		(message_id, port, state, next_attempt_at, due_at, lease_owner, lease_until, claimed_at) VALUES ` + rowsMark
	if len(w.claims) == 0 {
		if err := execRows(ctx, tx, deliveries, deliveryWidth, w.deliveries); err != nil {
			return fmt.Errorf("recording deliveries: %w", err)
		}
	} else {
		ids, err := insertReturning(ctx, tx, deliveries, deliveryWidth, w.deliveries)
		if err != nil {
			return fmt.Errorf("recording deliveries: %w", err)
		}
		for _, c := range w.claims {
			c.d.ID = ids[c.row]
			if c.data != nil {
				c.d.Body = c.data
			} else {
				c.d.Body = []byte{}
			}
			w.out[c.item].Claimed = append(w.out[c.item].Claimed, c.d)
		}
	}
	if err := execRows(ctx, tx, "INSERT INTO events (message_id, at, port, status, detail) VALUES "+rowsMark,
		5, w.events); err != nil {
		return fmt.Errorf("recording history: %w", err)
	}
	*w = routedRows{handoff: w.handoff, out: w.out}
	return nil
}

// insertBodies inserts n committed bodies (no chunks yet) and returns their
// ids in order, in one statement per power-of-two share of n. The rows of
// one INSERT are inserted in the order of its VALUES, each id above every
// earlier one (AUTOINCREMENT), so the ids RETURNING gives, sorted, are in
// that order too (RETURNING's own order is not defined).
func insertBodies(ctx context.Context, tx *cachedTx, n int) ([]int64, error) {
	// n NULL touched_at: committed bodies.
	ids, err := insertReturning(ctx, tx, "INSERT INTO bodies (touched_at) VALUES "+rowsMark, 1, make([]any, n))
	if err != nil {
		return nil, fmt.Errorf("storing bodies: %w", err)
	}
	return ids, nil
}

// insertReturning is execRows for an INSERT into a table with an
// AUTOINCREMENT id, returning the ids of the rows in the order of args.
func insertReturning(ctx context.Context, tx *cachedTx, query string, width int, args []any) ([]int64, error) {
	ids := make([]int64, 0, len(args)/width)
	err := inShares(len(args)/width, func(k int) error {
		rows, err := tx.QueryContext(ctx, tx.c.rows(query+" RETURNING id", width, k), args[:k*width]...)
		if err != nil {
			return err
		}
		args = args[k*width:]
		first := len(ids)
		if ids, err = appendInt64s(ids, rows); err != nil {
			return err
		}
		if len(ids)-first != k {
			return fmt.Errorf("%d ids for %d rows", len(ids)-first, k)
		}
		slices.Sort(ids[first:])
		return nil
	})
	return ids, err
}

// FinishBatch records the outcomes of items as Finish does each (see
// msgbox.Batcher), up to msgbox.MaxBatch of them in one write transaction.
func (b *Box) FinishBatch(ctx context.Context, items []msgbox.Finishing) []error {
	errs := make([]error, len(items))
	msgbox.InBatches(items, errs, func(items []msgbox.Finishing, errs []error) {
		b.finishBatch(ctx, items, errs)
	})
	for i, err := range errs {
		errs[i] = b.wrap(err, "finish delivery %d", items[i].DeliveryID)
	}
	return errs
}

func (b *Box) finishBatch(ctx context.Context, items []msgbox.Finishing, errs []error) {
	var valid []finishing
	var at []int // valid[j] is items[at[j]]
	for i, it := range items {
		if err := msgbox.ValidateOutcome(it.Outcome); err != nil {
			errs[i] = err
			continue
		}
		valid = append(valid, finishing{it.DeliveryID, msgbox.CleanText(it.Owner), msgbox.CleanOutcome(it.Outcome)})
		at = append(at, i)
	}
	if len(valid) == 0 {
		return
	}
	verrs := make([]error, len(valid))
	err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		// finishAll sets every verrs[j] afresh on a rerun (writeFunc).
		return finishAll(ctx, tx, valid, b.clock(), verrs)
	})
	for j, i := range at {
		if err != nil {
			errs[i] = err
		} else {
			errs[i] = verrs[j]
		}
	}
}

var _ msgbox.HandoffReceiver = (*Box)(nil)
