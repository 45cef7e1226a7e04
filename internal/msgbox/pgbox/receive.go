package pgbox

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// ReceiveRouted stores a new message and its body and, when route is not
// nil, routes it as Route does, with route's answer, in the same
// transaction (see msgbox.Box): no window in which a crash leaves the
// message unrouted. The routing's notification goes with the commit. route
// runs inside the transaction, once per try: a try lost to a dropped
// connection calls it again.
//
// A duplicate SourceKey is detected before body is read, and body is then
// not read at all, nor route called; two Receives of one SourceKey racing
// are settled by the unique constraint (INSERT ... ON CONFLICT DO NOTHING):
// the second waits for the first to commit and returns its message. A nil
// body is an empty one.
//
// Without route, a body of one chunk is stored in a single statement; with
// route (or an MDN to keep: in.MDN), in a transaction of two round trips
// (the insert, whose received_at route sees, then the routing, the MDN
// and the COMMIT). in.MDN is called once body is read: before that
// transaction for a body of one chunk, inside it for a longer one, whose
// chunks are stored as they are read.
func (b *Box) ReceiveRouted(ctx context.Context, in msgbox.Incoming, body io.Reader, route msgbox.Router) (msgbox.Message, bool, error) {
	msg, dup, err := b.receive(ctx, in.NormalizeKey(), body, route)
	if err != nil {
		return msgbox.Message{}, false, b.wrap(err, "receive from %s", msgbox.CleanText(in.ReceiveLocation))
	}
	return msg, dup, nil
}

// messageColumns are the columns scanMessage reads, in its order.
const messageColumns = "id, receive_location, file_name, content_type, properties, size, received_at, status, reason, party, decoding"

func scanMessage(row msgbox.Scanner) (*msgbox.Message, error) {
	var m msgbox.Message
	var props, status, decoding string
	var receivedAt time.Time
	if err := row.Scan(&m.ID, &m.ReceiveLocation, &m.FileName, &m.ContentType, &props, &m.Size, &receivedAt,
		&status, &m.Reason, &m.Party, &decoding); err != nil {
		return nil, err
	}
	m.Decoding = msgbox.Decoding(decoding)
	p, sensitive, err := msgbox.DecodeProperties(props)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", m.ID, err)
	}
	m.Properties, m.SensitiveProperties = p, sensitive
	m.ReceivedAt = ts(receivedAt)
	m.Status = msgbox.Status(status)
	return &m, nil
}

// bySourceKey returns the message stored with key, or nil.
func (b *Box) bySourceKey(ctx context.Context, key []byte) (*msgbox.Message, error) {
	var m *msgbox.Message
	err := b.retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = scanMessage(b.pool.QueryRow(ctx, "SELECT "+messageColumns+" FROM messages WHERE source_key = $1", key))
		if errors.Is(err, pgx.ErrNoRows) {
			m, err = nil, nil
		}
		return err
	})
	return m, err
}

// stored returns message id as it is stored, or nil when it is not: after
// a commit whose acknowledgement was lost, what a routed Receive returns
// (its status included).
func (b *Box) stored(ctx context.Context, id string) (*msgbox.Message, error) {
	var m *msgbox.Message
	err := b.retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = scanMessage(b.pool.QueryRow(ctx, "SELECT "+messageColumns+" FROM messages WHERE id = $1", id))
		if errors.Is(err, pgx.ErrNoRows) {
			m, err = nil, nil
		}
		return err
	})
	return m, err
}

// storedAt returns when the message id was stored, and whether it was: the
// way to tell whether a commit whose acknowledgement was lost happened.
func (b *Box) storedAt(ctx context.Context, id string) (time.Time, bool, error) {
	var at time.Time
	var found bool
	err := b.retry(ctx, func(ctx context.Context) error {
		err := b.pool.QueryRow(ctx, "SELECT received_at FROM messages WHERE id = $1", id).Scan(&at)
		found = err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
		return err
	})
	return ts(at), found, err
}

// insertOne stores a message whose body fits in one chunk, in one statement:
// atomic by itself, and one round trip. It returns no row when SourceKey is
// already stored. A copy of another message (Incoming.ResubmitOf) is not
// stored so: see store.
const insertOne = `WITH m AS (
	INSERT INTO messages (id, receive_location, file_name, content_type, properties, source_key, size, sha256,
		received_at, status, party, decoding)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp(), 'received', $11, $12)
	ON CONFLICT (source_key) DO NOTHING
	RETURNING seq, id, received_at
), c AS (
	INSERT INTO body_chunks (message_seq, seq, data) SELECT seq, 0, $9::bytea FROM m WHERE $7 > 0
), e AS (
	INSERT INTO events (message_id, at, port, status, detail) SELECT id, received_at, '', 'received', $10 FROM m
)
SELECT received_at FROM m`

// insertFirst inserts the message row of a body larger than one chunk; size
// and checksum follow once the body has been read.
const insertFirst = `INSERT INTO messages (id, receive_location, file_name, content_type, properties, source_key,
		size, sha256, received_at, status, party, decoding)
	VALUES ($1, $2, $3, $4, $5, $6, 0, '\x', clock_timestamp(), 'received', $7, $8)
	ON CONFLICT (source_key) DO NOTHING
	RETURNING seq`

func (b *Box) receive(ctx context.Context, in msgbox.Incoming, body io.Reader, route msgbox.Router) (msgbox.Message, bool, error) {
	var key []byte // NULL: no de-duplication
	if in.SourceKey != "" {
		key = []byte(in.SourceKey)
		// A duplicate is answered without reading body: the common case
		// after a crash between the commit and the deletion of the source.
		if m, err := b.bySourceKey(ctx, key); m != nil || err != nil {
			if err != nil {
				return msgbox.Message{}, false, err
			}
			return *m, true, nil
		}
		if b.keyMissed != nil {
			b.keyMissed()
		}
	}
	if body == nil {
		body = strings.NewReader("") // as http.NoBody: an empty body, not a panic
	}
	msg, props, err := msgbox.NewMessage(in)
	if err != nil {
		return msgbox.Message{}, false, err
	}
	// The id's time prefix is only an ordering hint; the Go clock serves,
	// as it is read before the database's.
	msg.ID = msgbox.NewID(time.Now(), b.rand)

	bufp := b.bufs.Get().(*[]byte)
	defer b.bufs.Put(bufp)
	buf := *bufp

	sum := sha256.New()
	n, last, err := msgbox.ReadChunk(body, buf)
	if err != nil {
		return msgbox.Message{}, false, fmt.Errorf("reading body: %w", err)
	}
	sum.Write(buf[:n])
	msg.Size = int64(n)

	var mdn func() (*msgbox.SentMDN, error)
	if in.MDN != nil {
		// Once, whichever try of the loop below reads the body to its end.
		mdn = sync.OnceValues(in.ReceivedMDN)
	}
	for {
		stored, inserted, err := b.store(ctx, msg, in, key, props, sum, body, buf, n, last, route, mdn)
		if err != nil || inserted {
			return stored, false, err
		}
		// SourceKey is stored: another Receive of the source stored it
		// meanwhile.
		if b.keyConflict != nil {
			b.keyConflict()
		}
		m, err := b.bySourceKey(ctx, key)
		if err != nil || m != nil {
			if err != nil {
				return msgbox.Message{}, false, err
			}
			return *m, true, nil
		}
		// And its message was purged since the insert met it: the key is
		// forgotten (see msgbox.Box.Purge), and this message is new after
		// all. The body is not consumed: a conflict is met before any
		// chunk but the first is read.
	}
}

// store stores msg, whose body's first chunk is buf[:n] (last when it is
// the whole body; sum has hashed it), reading the rest of body, and routes
// it with route when that is not nil; mdn, when not nil, makes the MDN
// stored with it (Incoming.MDN), called once body is read. inserted is
// false when key was stored already (nothing is stored then, and body is
// read no further).
func (b *Box) store(ctx context.Context, msg msgbox.Message, in msgbox.Incoming, key []byte, props string, sum hash.Hash, body io.Reader,
	buf []byte, n int, last bool, route msgbox.Router, mdn func() (*msgbox.SentMDN, error)) (msgbox.Message, bool, error) {
	asReceived := in.AsReceived
	detail := func() string {
		return msgbox.ArrivalDetail(in.Origin, msg.ReceiveLocation, msg.FileName, msg.Size)
	}
	// A message with its bytes as received apart takes the transaction of
	// several chunks, which stores those too, whatever its body's size; so
	// does a copy of another message, which that transaction checks and
	// notes in that message's history (checkResubmit).
	alone := asReceived == nil && in.ResubmitOf == ""
	if last && (route != nil || mdn != nil) && alone {
		var rec *msgbox.SentMDN
		if mdn != nil {
			var err error
			if rec, err = mdn(); err != nil {
				return msgbox.Message{}, false, err
			}
		}
		return b.receiveOneRouted(ctx, msg, key, props, sum.Sum(nil), buf[:n], detail(), route, rec)
	}
	if last && alone {
		// The whole body is in buf: the statement can run again after a
		// lost connection, so it is retried like a read.
		var inserted bool
		err := b.retry(ctx, func(ctx context.Context) error {
			var at time.Time
			err := b.pool.QueryRow(ctx, insertOne, msg.ID, msg.ReceiveLocation, msg.FileName, msg.ContentType,
				props, key, msg.Size, sum.Sum(nil), buf[:n], detail(), msg.Party, string(msg.Decoding)).Scan(&at)
			switch {
			case err == nil:
				inserted, msg.ReceivedAt = true, ts(at)
				return nil
			case errors.Is(err, pgx.ErrNoRows):
				inserted = false // SourceKey stored meanwhile
				return nil
			case isDuplicateID(err):
				// A retry, and the try whose answer was lost did commit
				// after all (its server side outlived the connection):
				// the id is ours.
				at, found, lookErr := b.storedAt(ctx, msg.ID)
				if lookErr != nil || !found {
					return err
				}
				inserted, msg.ReceivedAt = true, at
				return nil
			case isConnErr(err) && !neverSent(err):
				// Sent, and the answer lost (or followed by the server
				// ending the session): the statement may have committed.
				// The id it inserted says.
				at, found, lookErr := b.storedAt(ctx, msg.ID)
				if lookErr != nil {
					return &uncertainError{err: err}
				}
				if found {
					inserted, msg.ReceivedAt = true, at
					return nil
				}
				return err // not stored: retryable
			}
			return err
		})
		if err != nil || !inserted {
			return msgbox.Message{}, false, err
		}
		return msg, true, nil
	}

	// A body of several chunks: one transaction, the message row first so
	// that a concurrent Receive of the same SourceKey waits on it rather
	// than reading its own body, then the chunks as they are read.
	consumed := false // buf no longer holds the first chunk: no retry
	dup := false
	err := b.retryWhile(ctx, func() bool { return !consumed }, func(ctx context.Context) error {
		dup = false
		msg.Status, msg.Reason = msgbox.StatusReceived, "" // a retry routes afresh
		err := b.withTx(ctx, func(tx pgx.Tx) error {
			var seq int64
			err := tx.QueryRow(ctx, insertFirst, msg.ID, msg.ReceiveLocation, msg.FileName, msg.ContentType,
				props, key, msg.Party, string(msg.Decoding)).Scan(&seq)
			if errors.Is(err, pgx.ErrNoRows) {
				dup = true
				return nil
			}
			if err != nil {
				return fmt.Errorf("storing message: %w", err)
			}
			if err := insertChunk(ctx, tx, seq, 0, buf[:n]); err != nil {
				return err
			}
			for chunk := int32(1); !last; chunk++ {
				consumed = true
				n, last, err = msgbox.ReadChunk(body, buf)
				if err != nil {
					return fmt.Errorf("reading body after %d bytes: %w", msg.Size, err)
				}
				if n == 0 {
					break
				}
				sum.Write(buf[:n])
				msg.Size += int64(n)
				if err := insertChunk(ctx, tx, seq, chunk, buf[:n]); err != nil {
					return err
				}
			}
			if asReceived != nil {
				consumed = true
				if err := storeAsReceived(ctx, tx, seq, asReceived, buf); err != nil {
					return err
				}
			}
			// Locked and checked once the body is stored, so that a slow
			// body does not hold the original's lock.
			if err := checkResubmit(ctx, tx, in); err != nil {
				return err
			}
			var at time.Time
			batch := &pgx.Batch{}
			batch.Queue(`UPDATE messages SET size = $2, sha256 = $3, received_at = clock_timestamp() WHERE seq = $1
				RETURNING received_at`, seq, msg.Size, sum.Sum(nil)).QueryRow(func(r pgx.Row) error { return r.Scan(&at) })
			batch.Queue(`INSERT INTO events (message_id, at, port, status, detail)
				SELECT id, received_at, '', 'received', $2 FROM messages WHERE seq = $1`,
				seq, detail())
			batch.Queue(`INSERT INTO events (message_id, at, port, status, detail)
				SELECT o.id, m.received_at, '', $3, $4 FROM messages m, messages o WHERE m.seq = $1 AND o.id = $2`,
				seq, in.ResubmitOf, msgbox.ResubmittedStatus, msgbox.ResubmittedAsDetail(msg.ID))
			if err := sendBatch(ctx, tx, batch); err != nil {
				return fmt.Errorf("storing message: %w", err)
			}
			msg.ReceivedAt = ts(at)
			var rec *msgbox.SentMDN
			if mdn != nil {
				if rec, err = mdn(); err != nil {
					return err
				}
			}
			if route == nil && rec == nil {
				return nil
			}
			// Routed at the time it was stored: the message row is
			// this transaction's, so no one else can lock or route it.
			batch = &pgx.Batch{}
			if route != nil {
				var rs routings
				if _, err := routeNew(&rs, &msg, route, msg.ReceivedAt, nil); err != nil {
					return err
				}
				rs.queue(batch)
			}
			queueSentMDN(batch, msg.ID, rec)
			if err := sendBatch(ctx, tx, batch); err != nil {
				return fmt.Errorf("routing message or keeping its MDN: %w", err)
			}
			return nil
		})
		if isUncertain(err) {
			// Stored (and routed, with route) or not at all: the id it
			// inserted says which, once its transaction is over (the
			// look locks nothing, and a body read cannot run again).
			b.awaitLostTx(ctx, err)
			m, lookErr := b.stored(ctx, msg.ID)
			if lookErr == nil && m != nil {
				if route != nil {
					msg = *m // as routed, its status included
				} else {
					msg.ReceivedAt = m.ReceivedAt
				}
				return nil
			}
			if lookErr == nil && !consumed {
				return lostConn(err) // not stored: retryable
			}
			if lookErr == nil {
				// Not stored, and the body is gone: the source keeps the
				// message, to be received again.
				return fmt.Errorf("connection lost while storing the message; it was not stored: %w",
					lostConn(err))
			}
		}
		return err
	})
	if err != nil || dup {
		return msgbox.Message{}, false, err
	}
	return msg, true, nil
}

// receiveOneRouted stores msg, whose body fits in one chunk (data), routes
// it by route (when not nil) and stores mdn (when not nil) as the MDN kept
// for it, in one transaction: the insert first (insertOne), then, for a
// new message, route's answer and mdn with the COMMIT. A duplicate
// SourceKey commits nothing and returns inserted false without calling
// route.
//
// A try whose connection is lost before the COMMIT was sent is retried, and
// calls route again; one lost during the COMMIT looks for the message id
// it inserted, which is stored with its routing or not at all.
func (b *Box) receiveOneRouted(ctx context.Context, msg msgbox.Message, key []byte, props string, sum, data []byte,
	detail string, route msgbox.Router, mdn *msgbox.SentMDN) (out msgbox.Message, inserted bool, err error) {
	// found looks for the message a try may have committed.
	found := func(ctx context.Context) (bool, error) {
		m, err := b.stored(ctx, msg.ID)
		if m != nil {
			out, inserted = *m, true
		}
		return m != nil, err
	}
	err = b.retry(ctx, func(ctx context.Context) error {
		inserted = false
		try := msg
		isNew := false
		err := b.inTx(ctx, beginReadCommitted, func(t *pipeTx) (*pgx.Batch, error) {
			var at time.Time
			batch := &pgx.Batch{}
			batch.Queue(insertOne, try.ID, try.ReceiveLocation, try.FileName, try.ContentType, props, key, try.Size,
				sum, data, detail, try.Party, string(try.Decoding)).QueryRow(func(r pgx.Row) error {
				err := r.Scan(&at)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil // SourceKey stored meanwhile
				}
				isNew = err == nil
				return err
			})
			if err := t.send(ctx, batch); err != nil {
				return nil, err
			}
			if !isNew {
				return nil, nil
			}
			// Routed at the time it was stored: the message row is this
			// transaction's, so no one else can lock or route it.
			try.ReceivedAt = ts(at)
			batch = &pgx.Batch{}
			if route != nil {
				var rs routings
				if _, err := routeNew(&rs, &try, route, try.ReceivedAt, nil); err != nil {
					return nil, err
				}
				rs.queue(batch)
			}
			queueSentMDN(batch, try.ID, mdn)
			return batch, nil
		})
		switch {
		case err == nil:
			if isNew {
				out, inserted = try, true
			}
			return nil
		case isDuplicateID(err):
			// A retry, and the try whose answer was lost did commit after
			// all (its server side outlived the connection): the id is
			// ours, stored and routed.
			ok, lookErr := found(ctx)
			if lookErr != nil {
				// Stored, but not found again: in doubt for the caller,
				// who must not send it under a new key.
				return &uncertainError{err: err}
			}
			if !ok {
				return err
			}
			return nil
		case isUncertain(err):
			ok, lookErr := found(ctx)
			if lookErr != nil {
				return err
			}
			if ok {
				return nil
			}
			return lostConn(err) // not stored: retryable
		}
		return err
	})
	if err != nil || !inserted {
		return msgbox.Message{}, false, err
	}
	return out, true, nil
}

// routeNew calls route for msg, which the transaction has just stored, and
// adds to rs the writes that route it as Route does (queueRouting),
// claiming per h (nil: nothing), and store its status; msg's Status and
// Reason are set to match. It returns what h claims (see routings.add).
func routeNew(rs *routings, msg *msgbox.Message, route msgbox.Router, now time.Time, h *msgbox.Handoff) ([]*msgbox.Delivery, error) {
	r, err := decideRouting(msg, route)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	return rs.add(msg.ID, r, r.Status, now, h), nil
}

// decideRouting returns msg's routing by route, and sets msg's status and
// reason to match: a claimed delivery is in progress, which leaves the
// status the routing's.
func decideRouting(msg *msgbox.Message, route msgbox.Router) (msgbox.Routing, error) {
	r, err := msgbox.NewRouting(route(*msg))
	if err != nil {
		return msgbox.Routing{}, err
	}
	msg.Status, msg.Reason = r.Status, r.Reason
	return r, nil
}

// isDuplicateID reports whether err is the violation of the message id's
// uniqueness: ids are random (80 bits), so only a retry of our own insert
// can violate it.
func isDuplicateID(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "messages_id_key"
}

func isPgError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

func insertChunk(ctx context.Context, tx pgx.Tx, msgSeq int64, seq int32, data []byte) error {
	_, err := tx.Exec(ctx, "INSERT INTO body_chunks (message_seq, seq, data) VALUES ($1, $2, $3)", msgSeq, seq, data)
	if err != nil {
		return fmt.Errorf("storing body chunk %d: %w", seq, err)
	}
	return nil
}

// storeAsReceived stores the message numbered seq as received, read from r
// chunk by chunk into received_chunks with buf, and records its size and
// checksum.
func storeAsReceived(ctx context.Context, tx pgx.Tx, seq int64, r io.Reader, buf []byte) error {
	sum := sha256.New()
	var size int64
	for chunk := int32(0); ; chunk++ {
		n, last, err := msgbox.ReadChunk(r, buf)
		if err != nil {
			return fmt.Errorf("reading the message as received after %d bytes: %w", size, err)
		}
		if n > 0 {
			sum.Write(buf[:n])
			size += int64(n)
			_, err := tx.Exec(ctx, "INSERT INTO received_chunks (message_seq, seq, data) VALUES ($1, $2, $3)", seq, chunk, buf[:n])
			if err != nil {
				return fmt.Errorf("storing chunk %d of the message as received: %w", chunk, err)
			}
		}
		if last || n == 0 {
			break
		}
	}
	_, err := tx.Exec(ctx, "UPDATE messages SET received_size = $2, received_sha256 = $3 WHERE seq = $1", seq, size, sum.Sum(nil))
	if err != nil {
		return fmt.Errorf("storing the message as received: %w", err)
	}
	return nil
}

// AsReceived opens the bytes of message id as received: those stored apart
// (see Incoming.AsReceived), streamed as Body streams, or its body when
// none were.
func (b *Box) AsReceived(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := msgbox.CheckID(id); err != nil {
		return nil, b.wrap(err, "as received")
	}
	var msgSeq int64
	var size *int64
	var sum []byte
	err := b.retry(ctx, func(ctx context.Context) error {
		return b.pool.QueryRow(ctx, "SELECT seq, received_size, received_sha256 FROM messages WHERE id = $1", id).
			Scan(&msgSeq, &size, &sum)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = msgbox.ErrNotFound
	}
	if err != nil {
		return nil, b.wrap(err, "message %s as received", id)
	}
	if size == nil {
		return b.Body(ctx, id)
	}
	fetch := func(seq int64, buf []byte) ([]byte, error) {
		err := b.retry(ctx, func(ctx context.Context) error {
			var err error
			buf, err = b.fetchChunkOf(ctx, "received_chunks", msgSeq, seq, buf)
			return err
		})
		return buf, err
	}
	return msgbox.NewChunkReader(*size, sum, fetch, func(err error) error { return b.wrap(err, "message %s as received", id) }), nil
}

// Body opens a message's body. The reader fetches one chunk at a time, each
// in its own short query (retried after a lost connection), so a slow
// consumer neither holds a large body in memory nor a connection or a
// transaction. ctx governs the reads too. At the end the reader checks the
// size and SHA-256 recorded at Receive, and fails rather than hand over a
// body that is not byte for byte the one received.
func (b *Box) Body(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := msgbox.CheckID(id); err != nil {
		return nil, b.wrap(err, "body")
	}
	var msgSeq, size int64
	var sum []byte
	err := b.retry(ctx, func(ctx context.Context) error {
		return b.pool.QueryRow(ctx, "SELECT seq, size, sha256 FROM messages WHERE id = $1", id).
			Scan(&msgSeq, &size, &sum)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = msgbox.ErrNotFound
	}
	if err != nil {
		return nil, b.wrap(err, "body of %s", id)
	}
	fetch := func(seq int64, buf []byte) ([]byte, error) {
		err := b.retry(ctx, func(ctx context.Context) error {
			var err error
			buf, err = b.fetchChunk(ctx, msgSeq, seq, buf)
			return err
		})
		return buf, err
	}
	return msgbox.NewChunkReader(size, sum, fetch, func(err error) error { return b.wrap(err, "body of %s", id) }), nil
}

// fetchChunk appends chunk seq of the body of the message numbered msgSeq
// to buf[:0]; empty when the chunk does not exist, ErrNotFound when the
// message does not (it was purged since Body): one statement tells which.
// It copies the value's bytes from the wire (a bytea in binary format is the
// bytes themselves) rather than have pgx allocate a slice per chunk.
func (b *Box) fetchChunk(ctx context.Context, msgSeq, seq int64, buf []byte) ([]byte, error) {
	return b.fetchChunkOf(ctx, "body_chunks", msgSeq, seq, buf)
}

// fetchChunkOf is fetchChunk from table, body_chunks or received_chunks.
func (b *Box) fetchChunkOf(ctx context.Context, table string, msgSeq, seq int64, buf []byte) ([]byte, error) {
	rows, err := b.pool.Query(ctx, `SELECT c.data FROM messages m
		LEFT JOIN `+table+` c ON c.message_seq = m.seq AND c.seq = $2 WHERE m.seq = $1`, msgSeq, seq)
	if err != nil {
		return buf[:0], err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return buf[:0], err
		}
		return buf[:0], msgbox.ErrNotFound
	}
	if rows.FieldDescriptions()[0].Format == pgx.BinaryFormatCode {
		buf = append(buf[:0], rows.RawValues()[0]...)
	} else {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return buf[:0], err
		}
		buf = append(buf[:0], data...)
	}
	rows.Close()
	return buf, rows.Err()
}
