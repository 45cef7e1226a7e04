package pgbox

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// ReceiveBatch stores and routes items as ReceiveRouted does each (see
// msgbox.Batcher), up to msgbox.MaxBatch of them in three round trips and
// seven statements at most, however many messages: the source keys looked
// up and the batch's time of receipt read in one round trip, then a
// transaction whose inserts are one statement (insertMany), sent with the
// BEGIN, and whose routings are three at most (routings), sent with the
// COMMIT. The messages are routed before they are stored, at the batch's
// time of receipt, and inserted routed: no row is written twice.
//
// What the batch does not fit goes through ReceiveRouted after it: a body
// larger than one chunk, one with its bytes as received apart or an MDN
// to keep (Incoming.MDN), an item whose source key is stored (a duplicate,
// whose body is then not read), a batch without a router. An invalid
// routing makes every item of its batch go through ReceiveRouted, so that
// it fails alone.
func (b *Box) ReceiveBatch(ctx context.Context, items []msgbox.Receipt, route msgbox.Router) []msgbox.ReceiveResult {
	return msgbox.ReceiveInBatches(items, func(items []msgbox.Receipt, out []msgbox.ReceiveResult) {
		b.receiveBatch(ctx, items, route, nil, out)
	}, b.wrap)
}

var _ msgbox.HandoffReceiver = (*Box)(nil)

// ReceiveHandoff is ReceiveBatch, claiming per h (see
// msgbox.HandoffReceiver) in the transaction that stores the messages,
// with the statements that route them: no statement and no round trip
// more. The messages stored on their own (see ReceiveBatch) are not
// claimed: their deliveries stay pending for ClaimBatch.
func (b *Box) ReceiveHandoff(ctx context.Context, items []msgbox.Receipt, route msgbox.Router, h msgbox.Handoff) []msgbox.ReceiveResult {
	return msgbox.ReceiveHandoffInBatches(items, h, func(items []msgbox.Receipt, out []msgbox.ReceiveResult, h *msgbox.Handoff) {
		b.receiveBatch(ctx, items, route, h, out)
	}, b.wrap)
}

// pgItem is one Receipt of a batch on its way into the box.
type pgItem struct {
	i      int
	msg    msgbox.Message // with its id, fixed across retries
	origin string         // the Incoming's Origin
	props  string
	key    []byte
	data   []byte // the whole body
	sum    []byte
	// r is its routing, decided before it is stored.
	r msgbox.Routing
	// inserted: this try stored it.
	inserted bool
}

func (b *Box) receiveBatch(ctx context.Context, items []msgbox.Receipt, route msgbox.Router, h *msgbox.Handoff,
	out []msgbox.ReceiveResult) {
	alone := make([]bool, len(items))
	defer func() {
		for i, it := range items {
			if alone[i] {
				m, dup, err := b.receive(ctx, it.In, it.Body, route)
				out[i] = msgbox.ReceiveResult{Message: m, Dup: dup, Err: err}
			}
		}
	}()
	if route == nil {
		for i := range alone {
			alone[i] = true
		}
		return
	}
	var keys [][]byte
	for _, it := range items {
		if it.In.SourceKey != "" {
			keys = append(keys, []byte(it.In.SourceKey))
		}
	}
	stored, at, err := b.storedKeys(ctx, keys)
	if err != nil {
		for i := range out {
			out[i].Err = err
		}
		return
	}
	var ready []*pgItem
	for i, it := range items {
		if stored[it.In.SourceKey] {
			alone[i] = true // a duplicate: answered without reading the body
			continue
		}
		if it.In.AsReceived != nil || it.In.MDN != nil || it.In.ResubmitOf != "" {
			// Two bodies, an MDN kept with the message, or an entry in
			// another message's history: ReceiveRouted's transaction,
			// after the batch (decoded, AS2 and resubmitted messages are
			// published one by one anyway).
			alone[i] = true
			continue
		}
		msg, props, err := msgbox.NewMessage(it.In)
		if err != nil {
			out[i].Err = err
			continue
		}
		body := it.Body
		if body == nil {
			body = bytes.NewReader(nil)
		}
		if err := ctx.Err(); err != nil {
			out[i].Err = err
			continue
		}
		data, err := msgbox.ReadUpTo(body, ChunkSize)
		if err != nil {
			out[i].Err = fmt.Errorf("reading body: %w", err)
			continue
		}
		if len(data) > ChunkSize {
			items[i].Body = io.MultiReader(bytes.NewReader(data), body)
			alone[i] = true
			continue
		}
		msg.ID = msgbox.NewID(time.Now(), b.rand)
		msg.Size = int64(len(data))
		s := sha256.Sum256(data)
		var key []byte // NULL: no de-duplication
		if it.In.SourceKey != "" {
			key = []byte(it.In.SourceKey)
		}
		ready = append(ready, &pgItem{i: i, msg: msg, origin: it.In.Origin, props: props, key: key, data: data, sum: s[:]})
	}
	if len(ready) == 0 {
		return
	}
	if !routeAll(ready, at, route) {
		// Nothing stored yet: every item goes through ReceiveRouted, so
		// that the one whose routing is invalid fails alone.
		for _, p := range ready {
			alone[p.i] = true
		}
		return
	}
	err = b.retry(ctx, func(ctx context.Context) error {
		err := b.inTx(ctx, beginReadCommitted, func(t *pipeTx) (*pgx.Batch, error) {
			return b.insertBatch(ctx, t, ready, at, h, out)
		})
		switch {
		case err == nil:
			return nil
		case isDuplicateID(err) || isUncertain(err):
			// A try whose answer was lost may have committed: all of
			// it or nothing (one transaction). The ids it inserted say,
			// once its transaction is over (the look locks nothing).
			lctx, cancel := lookContext(ctx)
			defer cancel()
			b.awaitLostTx(lctx, err)
			committed, lookErr := b.batchStored(lctx, ready, h, out)
			if lookErr != nil {
				if isDuplicateID(err) {
					return &uncertainError{err: err} // an earlier try committed
				}
				return err
			}
			if committed {
				return nil
			}
			return lostConn(err) // not stored: retryable
		}
		return err
	})
	switch {
	case err != nil:
		for _, p := range ready {
			out[p.i] = msgbox.ReceiveResult{Err: err}
		}
	default:
		for _, p := range ready {
			if !p.inserted {
				// Its source key was stored meanwhile (by an earlier item
				// of the batch, or another Receive): the stored message
				// answers, or a purge since makes it new after all.
				items[p.i].Body = bytes.NewReader(p.data)
				alone[p.i] = true
			}
		}
	}
}

// routeAll routes each item of ready as received at at, before it is
// stored; false when a routing is invalid.
func routeAll(ready []*pgItem, at time.Time, route msgbox.Router) bool {
	for _, p := range ready {
		p.msg.ReceivedAt = at
		r, err := decideRouting(&p.msg, route)
		if err != nil {
			return false
		}
		p.r = r
	}
	return true
}

// insertMany stores messages whose bodies fit in one chunk, as insertOne
// stores one but routed already, in one statement over arrays: $1 to $11,
// $14 (status) and $15 (reason) hold, per message, insertOne's parameters
// but its body, $12 the bodies, $13 the batch's time of receipt. Rows are
// inserted in the order of the arrays, so that of two with one source key
// the first is stored (ON CONFLICT DO NOTHING skips the second). It
// returns the id of each message stored, none of those whose source key
// was. The bodies are taken by subscript rather than unnested: they are
// the bulk of the batch, not to be copied into the tuple store of a
// function scan.
const insertMany = `WITH x AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bigint[],
		$8::bytea[], $9::text[], $10::text[], $11::text[], $14::text[], $15::text[]) WITH ORDINALITY
		AS x (id, loc, file, ctype, props, key, size, sum, detail, party, decoding, status, reason, n)
), m AS (
	INSERT INTO messages (id, receive_location, file_name, content_type, properties, source_key, size, sha256,
		received_at, routed, status, reason, party, decoding)
	SELECT id, loc, file, ctype, props, key, size, sum, $13::timestamptz, true, status, reason, party, decoding
	FROM x ORDER BY n
	ON CONFLICT (source_key) DO NOTHING
	RETURNING seq, id
), c AS (
	INSERT INTO body_chunks (message_seq, seq, data)
	SELECT m.seq, 0, ($12::bytea[])[x.n] FROM m JOIN x ON x.id = m.id WHERE x.size > 0
), e AS (
	INSERT INTO events (message_id, at, port, status, detail)
	SELECT m.id, $13::timestamptz, '', 'received', x.detail FROM m JOIN x ON x.id = m.id ORDER BY x.n
)
SELECT id FROM m`

// insertBatch stores ready, received at and routed already, in one
// statement (insertMany), then, for those inserted, returns the rest of
// their routing (and the claims of h, when not nil) to send with the
// COMMIT, in a constant number of statements (routings), setting out for
// them (afresh on every try). A source key stored meanwhile leaves its
// item uninserted.
func (b *Box) insertBatch(ctx context.Context, t *pipeTx, ready []*pgItem, at time.Time, h *msgbox.Handoff,
	out []msgbox.ReceiveResult) (*pgx.Batch, error) {
	n := len(ready)
	ids, locs, files, ctypes, props := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	keys, sums, data := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	sizes := make([]int64, n)
	details, parties, decodings := make([]string, n), make([]string, n), make([]string, n)
	statuses, reasons := make([]string, n), make([]string, n)
	byID := make(map[string]*pgItem, n)
	for k, p := range ready {
		p.inserted = false
		out[p.i] = msgbox.ReceiveResult{}
		byID[p.msg.ID] = p
		ids[k], locs[k], files[k], ctypes[k], props[k] = p.msg.ID, p.msg.ReceiveLocation, p.msg.FileName, p.msg.ContentType, p.props
		keys[k], sizes[k], sums[k], data[k] = p.key, p.msg.Size, p.sum, p.data
		details[k] = msgbox.ArrivalDetail(p.origin, p.msg.ReceiveLocation, p.msg.FileName, p.msg.Size)
		parties[k], decodings[k] = p.msg.Party, string(p.msg.Decoding)
		statuses[k], reasons[k] = string(p.msg.Status), p.msg.Reason
	}
	batch := &pgx.Batch{}
	batch.Queue(insertMany, ids, locs, files, ctypes, props, keys, sizes, sums, details, parties, decodings, data,
		at, statuses, reasons).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				if p := byID[id]; p != nil {
					p.inserted = true
				}
			}
			return rows.Err()
		})
	if err := t.send(ctx, batch); err != nil {
		return nil, err
	}
	rs := routings{stored: true}
	for _, p := range ready {
		if !p.inserted {
			continue
		}
		claimed := rs.add(p.msg.ID, p.r, "", at, h)
		out[p.i] = msgbox.ReceiveResult{Message: p.msg, Claimed: handed(claimed, p.msg, p.data)}
	}
	final := &pgx.Batch{}
	rs.queue(final)
	return final, nil
}

// handed sets on claimed, the deliveries of msg a handoff claimed, the
// message and its whole body data, shared among them as ClaimBatch's
// preload shares them; the message is a copy of msg, whose properties
// the result holds too.
func handed(claimed []*msgbox.Delivery, msg msgbox.Message, data []byte) []*msgbox.Delivery {
	if len(claimed) == 0 {
		return nil
	}
	msg.Properties = msgbox.CloneProperties(msg.Properties)
	if data == nil {
		data = []byte{} // nil would leave the body to be read
	}
	for _, d := range claimed {
		d.Message, d.Body = &msg, data
	}
	return claimed
}

// storedKeys returns which of keys are stored, and the database's clock:
// a batch's time of receipt, read in the same round trip.
func (b *Box) storedKeys(ctx context.Context, keys [][]byte) (map[string]bool, time.Time, error) {
	stored := map[string]bool{}
	var now time.Time
	err := b.retry(ctx, func(ctx context.Context) error {
		clear(stored)
		batch := &pgx.Batch{}
		batch.Queue("SELECT clock_timestamp()").QueryRow(func(row pgx.Row) error { return row.Scan(&now) })
		if len(keys) > 0 {
			batch.Queue("SELECT source_key FROM messages WHERE source_key = ANY($1)", keys).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var k []byte
					if err := rows.Scan(&k); err != nil {
						return err
					}
					stored[string(k)] = true
				}
				return rows.Err()
			})
		}
		return b.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("looking up source keys: %w", err)
	}
	return stored, ts(now), nil
}

// batchStored looks for the messages of ready that a try whose answer was
// lost inserted: committed reports that it did (then out holds them, as
// stored, with what h claimed of them when not nil, and the items not
// among them met a stored source key). Two statements in one round trip,
// however many messages.
func (b *Box) batchStored(ctx context.Context, ready []*pgItem, h *msgbox.Handoff, out []msgbox.ReceiveResult) (bool, error) {
	ids := make([]string, len(ready))
	for k, p := range ready {
		ids[k] = p.msg.ID
	}
	var msgs map[string]*msgbox.Message
	var held map[string][]*msgbox.Delivery
	err := b.retry(ctx, func(ctx context.Context) error {
		msgs, held = map[string]*msgbox.Message{}, map[string][]*msgbox.Delivery{}
		batch := &pgx.Batch{}
		batch.Queue("SELECT "+messageColumns+" FROM messages WHERE id = ANY($1)", ids).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				m, err := scanMessage(rows)
				if err != nil {
					return err
				}
				msgs[m.ID] = m
			}
			return rows.Err()
		})
		if h != nil {
			// What the handoff claimed (and still holds, unless a short
			// lease was taken over meanwhile).
			batch.Queue("SELECT "+deliveryColumns+` FROM deliveries
				WHERE message_id = ANY($1) AND state = 'in_progress' AND lease_owner = $2 ORDER BY id`, ids, h.Owner).
				Query(func(rows pgx.Rows) error {
					for rows.Next() {
						d, err := scanDelivery(rows)
						if err != nil {
							return err
						}
						held[d.MessageID] = append(held[d.MessageID], d)
					}
					return rows.Err()
				})
		}
		return b.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return false, err
	}
	for _, p := range ready {
		m := msgs[p.msg.ID]
		p.inserted = m != nil
		if m != nil {
			out[p.i] = msgbox.ReceiveResult{Message: *m, Claimed: handed(held[m.ID], *m, p.data)}
		}
	}
	return len(msgs) > 0, nil
}

// FinishBatch records the outcomes of items as Finish does each (see
// msgbox.Batcher), up to msgbox.MaxBatch of them in one transaction of three
// round trips and at most twelve statements, however many outcomes: the
// deliveries locked in one statement (in id order), then their messages
// (in id order, so that two batches sharing messages lock them alike), the
// clock and their deliveries in three, then the writes, each one statement
// over arrays, with the COMMIT. Finish takes two round trips and a commit
// per delivery.
func (b *Box) FinishBatch(ctx context.Context, items []msgbox.Finishing) []error {
	errs := make([]error, len(items))
	msgbox.InBatches(items, errs, func(items []msgbox.Finishing, errs []error) {
		b.finishBatch(ctx, items, errs)
	})
	return errs
}

// pgFin is one outcome of a FinishBatch.
type pgFin struct {
	i     int
	id    int64
	owner string
	o     msgbox.Outcome
	// Set by a try: whether it queued the writes, and the attempt's
	// number and finish time, to recognise it after a lost commit.
	queued bool
	number int
	at     time.Time
}

func (b *Box) finishBatch(ctx context.Context, items []msgbox.Finishing, errs []error) {
	var valid []*pgFin
	ids := map[int64]bool{}
	for i, it := range items {
		if err := msgbox.ValidateOutcome(it.Outcome); err != nil {
			errs[i] = b.wrap(err, "finish delivery %d", it.DeliveryID)
			continue
		}
		valid = append(valid, &pgFin{i: i, id: it.DeliveryID, owner: msgbox.CleanText(it.Owner), o: msgbox.CleanOutcome(it.Outcome)})
		ids[it.DeliveryID] = true
	}
	if len(valid) < 2 || len(ids) < len(valid) {
		// One outcome, or one delivery twice (the second is refused as
		// Finish would refuse it): Finish's own path.
		for _, f := range valid {
			errs[f.i] = b.Finish(ctx, items[f.i].DeliveryID, items[f.i].Owner, items[f.i].Outcome)
		}
		return
	}
	// Finish's errors name their delivery; so do this path's.
	defer func() {
		for _, f := range valid {
			errs[f.i] = b.wrap(errs[f.i], "finish delivery %d", f.id)
		}
	}()
	slices.SortFunc(valid, func(a, b *pgFin) int { return cmp.Compare(a.id, b.id) })
	// recorded looks for the attempt a try recorded for f.
	recorded := func(ctx context.Context, f pgFin) (bool, error) {
		var found bool
		err := b.retry(ctx, func(ctx context.Context) error {
			return b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM attempts
				WHERE delivery_id = $1 AND number = $2 AND owner = $3 AND finished_at = $4)`,
				f.id, f.number, f.owner, f.at).Scan(&found)
		})
		return found, err
	}
	// The items as a try whose commit was lost, and whose attempts were
	// not found, left them (nil: none was lost).
	var lost []pgFin
	err := b.retry(ctx, func(ctx context.Context) error {
		err := b.inTx(ctx, beginReadCommitted, func(t *pipeTx) (*pgx.Batch, error) {
			return finishBatchTx(ctx, t, valid, errs)
		})
		if isUncertain(err) {
			// All of the batch or nothing was committed: an attempt it
			// recorded says which.
			for _, f := range valid {
				if !f.queued {
					continue
				}
				found, lookErr := recorded(ctx, *f)
				if lookErr != nil {
					return err
				}
				if found {
					return nil
				}
				lost = make([]pgFin, len(valid))
				for j, f := range valid {
					lost[j] = *f
				}
				return lostConn(err) // not recorded: retryable
			}
		}
		return err
	})
	if err != nil {
		for _, f := range valid {
			errs[f.i] = err
		}
		return
	}
	// As in Finish: the lost try's server side may have outlived its
	// connection and committed after the look above, so that this try
	// found the deliveries finished. Then their outcomes are recorded, by
	// these owners.
	for j, f := range valid {
		if lost != nil && lost[j].queued && errors.Is(errs[f.i], msgbox.ErrLeaseLost) {
			if found, lookErr := recorded(ctx, lost[j]); lookErr == nil && found {
				errs[f.i] = nil
			}
		}
	}
}

// finishBatchTx locks the deliveries of fins (sorted by id) and their
// messages, and returns the writes that record the outcomes of those owner
// holds; errs gets, afresh on every try, each refusal (a lost lease, a
// delivery that does not exist), which writes nothing.
func finishBatchTx(ctx context.Context, t *pipeTx, fins []*pgFin, errs []error) (*pgx.Batch, error) {
	type row struct {
		msgID, port, state, leaseOwner string
		attempts                       int
		claimedAt                      *time.Time
	}
	ids := make([]int64, len(fins))
	for k, f := range fins {
		ids[k] = f.id
		f.queued = false
		errs[f.i] = nil
	}
	rows := map[int64]*row{}
	batch := &pgx.Batch{}
	batch.Queue(`SELECT id, message_id, port, state, lease_owner, attempts, claimed_at FROM deliveries
		WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids).Query(func(rs pgx.Rows) error {
		for rs.Next() {
			var id int64
			r := &row{}
			if err := rs.Scan(&id, &r.msgID, &r.port, &r.state, &r.leaseOwner, &r.attempts, &r.claimedAt); err != nil {
				return err
			}
			rows[id] = r
		}
		return rs.Err()
	})
	if err := t.send(ctx, batch); err != nil {
		return nil, err
	}
	// The messages, in id order, each once.
	var msgIDs []string
	for _, r := range rows {
		msgIDs = append(msgIDs, r.msgID)
	}
	slices.Sort(msgIDs)
	msgIDs = slices.Compact(msgIDs)
	locked := make(map[string]*lockedMessage, len(msgIDs))
	for _, id := range msgIDs {
		locked[id] = &lockedMessage{id: id}
	}
	if err := t.send(ctx, lockMessages(msgIDs, locked)); err != nil {
		return nil, err
	}
	// The writes, each one statement over arrays, in the order Finish
	// makes them.
	var a struct {
		dIDs, numbers         []int64
		msgIDs, ports, owners []string
		started, finished     []time.Time
		states, errors        []string
		next                  []*time.Time
	}
	var rc struct {
		dIDs           []int64
		msgIDs, ctypes []string
		summaries      []string
		data           [][]byte
	}
	var e struct {
		msgIDs, ports, states, details []string
		at                             []time.Time
	}
	reasons := map[string]string{} // of the messages a delivery suspends
	finished := map[string]bool{}  // the messages an outcome changes
	var retrying []string          // ports to notify
	for _, f := range fins {
		r := rows[f.id]
		if r == nil {
			errs[f.i] = msgbox.DeliveryNotFound(f.id)
			continue
		}
		if msgbox.DeliveryState(r.state) != msgbox.DeliveryInProgress || r.leaseOwner != f.owner {
			errs[f.i] = msgbox.LeaseLost(f.owner)
			continue
		}
		l := locked[r.msgID]
		now := l.now
		f.queued, f.number, f.at = true, r.attempts+1, now
		started := now
		if r.claimedAt != nil {
			started = ts(*r.claimedAt)
		}
		var next *time.Time // NULL unless retrying
		switch f.o.State {
		case msgbox.DeliveryRetrying:
			next = &f.o.RetryAt
			retrying = append(retrying, r.port)
		case msgbox.DeliverySuspended:
			reasons[r.msgID] = msgbox.SuspendedReason(r.port, f.o.Error)
		}
		a.dIDs, a.msgIDs, a.ports, a.numbers = append(a.dIDs, f.id), append(a.msgIDs, r.msgID), append(a.ports, r.port), append(a.numbers, int64(f.number))
		a.owners, a.started, a.finished = append(a.owners, f.owner), append(a.started, started), append(a.finished, now)
		a.states, a.errors, a.next = append(a.states, string(f.o.State)), append(a.errors, f.o.Error), append(a.next, next)
		if rec := f.o.Receipt; rec != nil {
			rc.dIDs, rc.msgIDs, rc.ctypes = append(rc.dIDs, f.id), append(rc.msgIDs, r.msgID), append(rc.ctypes, rec.ContentType)
			rc.summaries, rc.data = append(rc.summaries, rec.Summary), append(rc.data, rec.Data)
		}
		e.msgIDs, e.at, e.ports, e.states = append(e.msgIDs, r.msgID), append(e.at, now), append(e.ports, r.port), append(e.states, string(f.o.State))
		e.details = append(e.details, msgbox.FinishedDetail(f.number, f.owner, f.o))
		l.setState(f.id, f.o.State)
		finished[r.msgID] = true
	}
	final := &pgx.Batch{}
	if len(a.dIDs) == 0 {
		return final, nil
	}
	final.Queue(`INSERT INTO attempts (delivery_id, message_id, port, number, owner, started_at, finished_at, outcome, error)
		SELECT d, m, p, n, o, s, f, x, e FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[],
			$6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[]) WITH ORDINALITY AS u (d, m, p, n, o, s, f, x, e, k)
		ORDER BY k`,
		a.dIDs, a.msgIDs, a.ports, a.numbers, a.owners, a.started, a.finished, a.states, a.errors)
	final.Queue(`UPDATE deliveries AS d SET state = u.s, attempts = u.n, next_attempt_at = u.t, due_at = u.t, lease_owner = '',
			lease_until = NULL, claimed_at = NULL, last_error = u.e
		FROM unnest($1::bigint[], $2::text[], $3::int[], $4::timestamptz[], $5::text[]) AS u (id, s, n, t, e)
		WHERE d.id = u.id`,
		a.dIDs, a.states, a.numbers, a.next, a.errors)
	if len(rc.dIDs) > 0 {
		final.Queue(`INSERT INTO receipts (delivery_id, message_id, content_type, summary, data)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[])
			ON CONFLICT (delivery_id) DO UPDATE SET content_type = excluded.content_type, summary = excluded.summary,
			data = excluded.data`, rc.dIDs, rc.msgIDs, rc.ctypes, rc.summaries, rc.data)
	}
	final.Queue(`INSERT INTO events (message_id, at, port, status, detail)
		SELECT m, a, p, s, d
		FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u (m, a, p, s, d, n)
		ORDER BY n`,
		e.msgIDs, e.at, e.ports, e.states, e.details)
	// The changed messages' status, derived, and the reason of those
	// suspended, in one update.
	var changed, statuses []string
	var rsn []*string
	for _, id := range msgIDs {
		if !finished[id] {
			continue
		}
		changed, statuses = append(changed, id), append(statuses, string(locked[id].derived()))
		var r *string // NULL: the reason stays
		if s, ok := reasons[id]; ok {
			r = &s
		}
		rsn = append(rsn, r)
	}
	final.Queue(`UPDATE messages AS m SET status = u.s, reason = coalesce(u.r, m.reason)
		FROM unnest($1::text[], $2::text[], $3::text[]) AS u (id, s, r) WHERE m.id = u.id`, changed, statuses, rsn)
	if len(retrying) > 0 {
		queueNotify(final, slices.Compact(slices.Sorted(slices.Values(retrying))))
	}
	return final, nil
}
