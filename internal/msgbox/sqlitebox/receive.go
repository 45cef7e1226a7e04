package sqlitebox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// ReceiveRouted stores a new message and its body and, when route is not
// nil, routes it in the same transaction (see msgbox.Box): one commit
// instead of two, and no window in which a crash leaves the message
// unrouted. A duplicate is returned as it is stored, without calling route.
//
// A duplicate SourceKey is detected before body is read, and body is then
// not read at all. A nil body is an empty one.
//
// A body that fits in one chunk is stored, with the message, in one
// transaction. A larger one is written to a body file first (see
// bodyfile.go), without holding the write lock while waiting for body (an
// HTTP client may be slow), and the message row that names it is inserted
// in one last transaction. Until that commit the message does not exist;
// if body fails, ctx ends or the process dies, the file is removed (at
// once, or by a later Open) and no partial message is ever seen.
//
// in.MDN is called once body is read, before the write transaction (an
// MDN may be signed: not under the write lock, which every writer waits
// for), and what it makes is inserted in that transaction.
func (b *Box) ReceiveRouted(ctx context.Context, in msgbox.Incoming, body io.Reader, route msgbox.Router) (msgbox.Message, bool, error) {
	msg, dup, err := b.receive(ctx, in.NormalizeKey(), body, route)
	if err != nil {
		return msgbox.Message{}, false, b.wrap(err, "receive from %s", msgbox.CleanText(in.ReceiveLocation))
	}
	return msg, dup, nil
}

func (b *Box) receive(ctx context.Context, in msgbox.Incoming, body io.Reader, route msgbox.Router) (msgbox.Message, bool, error) {
	// A duplicate is answered without reading body: the common case after
	// a crash between the commit and the deletion of the source. The
	// answer comes from a write, though: a read may see a commit whose log
	// is not synced yet (see withWrite), and the caller deletes the source
	// on this answer, so it must wait for that sync like any write.
	if m, err := existingSource(ctx, b.q, in.SourceKey); m != nil || err != nil {
		if err != nil {
			return msgbox.Message{}, false, err
		}
		if b.sourceSeen != nil {
			b.sourceSeen()
		}
		var msg msgbox.Message
		var dup bool
		err := b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
			msg, dup = msgbox.Message{}, false // a rerun starts afresh (writeFunc)
			m, err := existingSource(ctx, tx, in.SourceKey)
			if m != nil {
				msg, dup = *m, true
			}
			return err
		})
		if err != nil || dup {
			return msg, dup, err
		}
		// Purged since the look above: its source key is forgotten (see
		// msgbox.Box.Purge), and this is a new message, stored below.
	}
	if body == nil {
		body = strings.NewReader("") // as http.NoBody: an empty body, not a panic
	}
	stored, props, err := msgbox.NewMessage(in)
	if err != nil {
		return msgbox.Message{}, false, err
	}

	bufp := b.bufs.Get().(*[]byte)
	defer b.bufs.Put(bufp)
	buf := *bufp

	if in.AsReceived != nil {
		// Written first, to a body file of its own, so that the message
		// row can name it in the one transaction that stores the message.
		rsum := msgbox.NewChecksum()
		name, size, err := b.writeFile(ctx, nil, nil, in.AsReceived, rsum, buf)
		if err != nil {
			return msgbox.Message{}, false, fmt.Errorf("storing the message as received: %w", err)
		}
		rec := &receivedFile{name: name, size: size, sum: rsum.Sum(nil)}
		msg, dup, err := b.receiveBody(ctx, in, body, route, stored, props, buf, rec)
		// The file is the message's once its row committed; otherwise
		// it is removed, unless a failed log sync leaves that unknown
		// (then Open's sweep removes it if no row names it).
		if (err != nil && b.syncFailed.Load() == nil) || (err == nil && dup) {
			b.removeFiles([]string{name})
		}
		return msg, dup, err
	}
	return b.receiveBody(ctx, in, body, route, stored, props, buf, nil)
}

// receivedFile is the body file of a message as received (see
// Incoming.AsReceived), synced, which insertMessage links to the message.
type receivedFile struct {
	name string
	size int64
	sum  []byte
}

// receiveBody stores the body and the message (see receive), and links
// rec, when not nil, to it as the message as received; buf is a ChunkSize
// scratch buffer.
func (b *Box) receiveBody(ctx context.Context, in msgbox.Incoming, body io.Reader, route msgbox.Router,
	stored msgbox.Message, props string, buf []byte, rec *receivedFile) (msgbox.Message, bool, error) {
	sum := msgbox.NewChecksum()
	if fb, ok := body.(msgbox.FileBody); ok && fb.Size() > ChunkSize {
		// A large file input: kept as the body file itself when it can
		// be (see msgbox.FileBody), else copied below.
		name, size, linked, err := b.linkFile(ctx, fb, sum, buf)
		if err != nil {
			return msgbox.Message{}, false, fmt.Errorf("storing body: %w", err)
		}
		if linked {
			msg, dup, err := b.storeFile(ctx, in, stored, props, name, size, sum, route, rec)
			if err == nil && !dup {
				// Private like the box's other files, once it is the
				// box's alone: a failed store gives the input back to
				// its directory as it was.
				_ = os.Chmod(b.bodyFile(name), 0o600)
			}
			return msg, dup, err
		}
	}
	n, last, err := msgbox.ReadChunk(body, buf)
	if err != nil {
		return msgbox.Message{}, false, fmt.Errorf("reading body: %w", err)
	}
	sum.Write(buf[:n])
	size := int64(n)
	// A body of exactly one chunk fills buf without ending: one byte more
	// tells it from a larger one.
	var more [1]byte
	var extra []byte
	if !last {
		k, err := io.ReadFull(body, more[:])
		switch {
		case k == 1:
			extra = more[:]
		case errors.Is(err, io.EOF):
			last = true
		default:
			return msgbox.Message{}, false, fmt.Errorf("reading body: %w", err)
		}
	}

	if last {
		// The common case: the whole body is in buf. One transaction, one
		// sync.
		mdn, err := in.ReceivedMDN()
		if err != nil {
			return msgbox.Message{}, false, err
		}
		var msg msgbox.Message
		var dup bool
		err = b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
			msg, dup = msgbox.Message{}, false // a rerun starts afresh (writeFunc)
			// Checked again under the write lock: another Receive of the
			// same source may have committed since the check above. Then
			// nothing is written.
			if m, err := existingSource(ctx, tx, in.SourceKey); m != nil || err != nil {
				if m != nil {
					msg, dup = *m, true
				}
				return err
			}
			now := b.clock()
			bodyID, err := insertBody(ctx, tx, buf[:n])
			if err != nil {
				return err
			}
			msg, err = b.insertMessage(ctx, tx, stored, in, props, bodyID, size, sum, now, rec, mdn)
			if err != nil {
				return err
			}
			return routeNew(ctx, tx, &msg, route, now)
		})
		return msg, dup, err
	}

	// Larger than one chunk: a body file (see bodyfile.go), written and
	// synced before the one transaction that stores the message naming it.
	sum.Write(extra)
	name, size, err := b.writeFile(ctx, buf[:n], extra, body, sum, buf)
	if err != nil {
		return msgbox.Message{}, false, fmt.Errorf("storing body: %w", err)
	}
	return b.storeFile(ctx, in, stored, props, name, size, sum, route, rec)
}

// storeFile stores the message whose body is the body file name, synced
// already, in one transaction; on failure (or a duplicate) the file is
// removed unless a row may name it.
func (b *Box) storeFile(ctx context.Context, in msgbox.Incoming, stored msgbox.Message, props, name string, size int64,
	sum hash.Hash, route msgbox.Router, rec *receivedFile) (msgbox.Message, bool, error) {
	mdn, err := in.ReceivedMDN()
	if err != nil {
		b.removeFiles([]string{name}) // nothing of it committed
		return msgbox.Message{}, false, err
	}
	var msg msgbox.Message
	var dup bool
	err = b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		msg, dup = msgbox.Message{}, false // a rerun starts afresh (writeFunc)
		m, err := existingSource(ctx, tx, in.SourceKey)
		if err != nil {
			return err
		}
		if m != nil {
			// Another Receive of the same source committed while this one
			// was writing its file: keep the first, drop the file below.
			msg, dup = *m, true
			return nil
		}
		if err := b.checkFile(name); err != nil {
			return err
		}
		now := b.clock()
		res, err := tx.ExecContext(ctx, "INSERT INTO bodies (touched_at, file) VALUES (NULL, ?)", name)
		if err != nil {
			return fmt.Errorf("storing body: %w", err)
		}
		bodyID, err := res.LastInsertId()
		if err != nil {
			return err
		}
		msg, err = b.insertMessage(ctx, tx, stored, in, props, bodyID, size, sum, now, rec, mdn)
		if err != nil {
			return err
		}
		return routeNew(ctx, tx, &msg, route, now)
	})
	switch {
	case err != nil && b.syncFailed.Load() != nil:
		// The row may be committed (a failed log sync answers writes
		// that committed): keep the file; if no row names it, the next
		// Open's sweep removes it.
		return msgbox.Message{}, false, err
	case err != nil:
		b.removeFiles([]string{name}) // nothing of the write committed
		return msgbox.Message{}, false, err
	case dup:
		b.removeFiles([]string{name})
	}
	return msg, dup, nil
}

// routeNew routes the message just inserted by route's decision, if route
// is not nil, and updates msg's status to match.
func routeNew(ctx context.Context, tx *cachedTx, msg *msgbox.Message, route msgbox.Router, now time.Time) error {
	if route == nil {
		return nil
	}
	r, err := msgbox.NewRouting(route(*msg))
	if err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	if err := routeTx(ctx, tx, msg.ID, r, now, true); err != nil {
		return err
	}
	msg.Status, msg.Reason = r.Status, r.Reason
	return nil
}

// insertBody stores a body of at most one chunk (none for an empty one)
// and returns its id.
func insertBody(ctx context.Context, tx *cachedTx, data []byte) (int64, error) {
	res, err := tx.ExecContext(ctx, "INSERT INTO bodies (touched_at) VALUES (NULL)")
	if err != nil {
		return 0, fmt.Errorf("storing body: %w", err)
	}
	bodyID, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	if len(data) > 0 {
		if err := insertChunk(ctx, tx, bodyID, 0, data); err != nil {
			return 0, err
		}
	}
	return bodyID, nil
}

func insertChunk(ctx context.Context, tx *cachedTx, bodyID, seq int64, data []byte) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO body_chunks (body_id, seq, data) VALUES (?, ?, ?)", bodyID, seq, data)
	if err != nil {
		return fmt.Errorf("storing body chunk %d: %w", seq, err)
	}
	return nil
}

// existingSource returns the message stored with SourceKey key, or nil when
// there is none or key is empty.
func existingSource(ctx context.Context, q querier, key string) (*msgbox.Message, error) {
	if key == "" {
		return nil, nil
	}
	m, err := messageBySourceKey(ctx, q, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return m, err
}

// insertMessage inserts the message row that publishes a stored body, the
// entry of in.ResubmitOf's history (once that message passed
// checkResubmit), and mdn, when not nil, as the MDN kept for it
// (Incoming.MDN). The caller has checked, in the same transaction, that
// in.SourceKey is new. msg is the
// message as stored (msgbox.NewMessage), props its properties' text; the
// returned Message is msg with its ID, Size and ReceivedAt.
func (b *Box) insertMessage(ctx context.Context, tx *cachedTx, msg msgbox.Message, in msgbox.Incoming, props string,
	bodyID, size int64, sum hash.Hash, now time.Time, rec *receivedFile, mdn *msgbox.SentMDN) (msgbox.Message, error) {
	if err := checkResubmit(ctx, tx, in); err != nil {
		return msgbox.Message{}, err
	}
	var key any // NULL: no de-duplication
	if in.SourceKey != "" {
		key = in.SourceKey
	}
	msg.ID = msgbox.NewID(now, b.rand)
	msg.Size = size
	msg.ReceivedAt = now
	var recID, recSize any // NULL: the body is the message as received
	var recSum []byte
	if rec != nil {
		if err := b.checkFile(rec.name); err != nil {
			return msgbox.Message{}, err
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO bodies (touched_at, file) VALUES (NULL, ?)", rec.name)
		if err != nil {
			return msgbox.Message{}, fmt.Errorf("storing the message as received: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return msgbox.Message{}, err
		}
		recID, recSize, recSum = id, rec.size, rec.sum
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO messages
		(id, receive_location, file_name, content_type, properties, source_key, body_id, size, checksum, received_at, status,
		party, decoding, received_body_id, received_size, received_checksum)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		msg.ID, msg.ReceiveLocation, msg.FileName, msg.ContentType, props, key, bodyID, size, sum.Sum(nil),
		toDB(now), string(msg.Status), msg.Party, string(msg.Decoding), recID, recSize, recSum)
	if err != nil {
		return msgbox.Message{}, fmt.Errorf("storing message: %w", err)
	}
	if err := addEvent(ctx, tx, msg.ID, now, "", string(msgbox.StatusReceived),
		msgbox.ArrivalDetail(in.Origin, msg.ReceiveLocation, msg.FileName, size)); err != nil {
		return msgbox.Message{}, err
	}
	if in.ResubmitOf != "" {
		// No entry when the original is purged: the copy stands alone.
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (message_id, at, port, status, detail)
			SELECT id, ?, '', ?, ? FROM messages WHERE id = ?`, toDB(now), msgbox.ResubmittedStatus,
			msgbox.ResubmittedAsDetail(msg.ID), in.ResubmitOf); err != nil {
			return msgbox.Message{}, fmt.Errorf("recording the resubmission in %s's history: %w", in.ResubmitOf, err)
		}
	}
	if mdn != nil {
		m := *mdn
		m.MessageID = msg.ID
		if err := insertSentMDN(ctx, tx, m); err != nil {
			return msgbox.Message{}, err
		}
	}
	return msg, nil
}

// Body opens a message's body. The reader of a body in chunk rows fetches
// one chunk at a time, each in its own short read, so a slow consumer
// neither holds a large body in memory nor keeps a read transaction open
// (which would stop the WAL from being checkpointed); that of a body file
// reads the file a chunk at a time. ctx governs the reads too. At the end
// the reader checks the size and SHA-256 recorded at Receive, and fails
// rather than hand over a body that is not byte for byte the one received.
func (b *Box) Body(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := msgbox.CheckID(id); err != nil {
		return nil, b.wrap(err, "body")
	}
	// The first chunk comes with the size and checksum: a body of one
	// chunk, the common case, is read in one statement.
	var size int64
	var sum, first []byte
	var file sql.NullString
	err := b.q.QueryRowContext(ctx, `SELECT m.size, m.checksum, b.file, c.data FROM messages m
		JOIN bodies b ON b.id = m.body_id
		LEFT JOIN body_chunks c ON c.body_id = m.body_id AND c.seq = 0 WHERE m.id = ?`, id).Scan(&size, &sum, &file, &first)
	if errors.Is(err, sql.ErrNoRows) {
		err = msgbox.ErrNotFound
	}
	if err != nil {
		return nil, b.wrap(err, "body of %s", id)
	}
	wrap := func(err error) error { return b.wrap(err, "body of %s", id) }
	if file.Valid {
		return b.openFile(ctx, id, file.String, size, sum, wrap)
	}
	fetch := func(seq int64, buf []byte) ([]byte, error) {
		if seq == 0 && first != nil {
			// Handed over: the reader reuses it as its buffer.
			data := first
			first = nil
			return data, nil
		}
		return b.fetchChunk(ctx, id, seq, buf)
	}
	return msgbox.NewChunkReader(size, sum, fetch, wrap), nil
}

// AsReceived opens the bytes of message id as received: its body file of
// those (see Incoming.AsReceived), or its body when it has none.
func (b *Box) AsReceived(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := msgbox.CheckID(id); err != nil {
		return nil, b.wrap(err, "as received")
	}
	var size sql.NullInt64
	var sum []byte
	var file sql.NullString
	err := b.q.QueryRowContext(ctx, `SELECT m.received_size, m.received_checksum, b.file FROM messages m
		LEFT JOIN bodies b ON b.id = m.received_body_id WHERE m.id = ?`, id).Scan(&size, &sum, &file)
	if errors.Is(err, sql.ErrNoRows) {
		err = msgbox.ErrNotFound
	}
	if err != nil {
		return nil, b.wrap(err, "message %s as received", id)
	}
	if !file.Valid {
		return b.Body(ctx, id)
	}
	wrap := func(err error) error { return b.wrap(err, "message %s as received", id) }
	return b.openFile(ctx, id, file.String, size.Int64, sum, wrap)
}

// openFile opens message id's body file name. A file that cannot be opened
// is an error naming the message and the file, or ErrNotFound if the
// message was purged meanwhile (which removes its file).
func (b *Box) openFile(ctx context.Context, id, name string, size int64, sum []byte, wrap func(error) error) (io.ReadCloser, error) {
	path := b.bodyFile(name)
	// Opened without waiting, and read only if a regular file: a FIFO
	// put in its place would block a delivery's worker (and so run's
	// stop), or a bizpipe messages command, for ever.
	f, err := fsop.OpenNoWait(path)
	if err == nil {
		if fi, serr := f.Stat(); serr != nil || !fi.Mode().IsRegular() {
			f.Close()
			if serr != nil {
				return nil, wrap(fmt.Errorf("opening the body file: %w", serr))
			}
			return nil, wrap(fmt.Errorf("the body file %s is a %s, not a regular file", path, fsop.TypeName(fi.Mode())))
		}
	}
	if err != nil {
		var exists bool
		if qerr := b.q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?)", id).Scan(&exists); qerr == nil && !exists {
			return nil, wrap(msgbox.ErrNotFound)
		}
		return nil, wrap(fmt.Errorf("opening the body file: %w", err))
	}
	return &fileReader{ChunkReader: msgbox.NewChunkReader(size, sum, b.fileFetcher(ctx, id, path, f), wrap), f: f}, nil
}

// fetchChunk appends chunk seq of message id's body to buf[:0]; empty when
// the chunk does not exist, ErrNotFound when the message does not (it was
// purged since Body): one query tells which, from one snapshot. It scans
// into sql.RawBytes and copies into the reader's buffer rather than into a
// new []byte per chunk (database/sql would clone the driver's copy again):
// one chunk-sized allocation per reader instead of two per chunk.
func (b *Box) fetchChunk(ctx context.Context, id string, seq int64, buf []byte) ([]byte, error) {
	rows, err := b.q.QueryContext(ctx, `SELECT c.data FROM messages m
		LEFT JOIN body_chunks c ON c.body_id = m.body_id AND c.seq = ? WHERE m.id = ?`, seq, id)
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
	var raw sql.RawBytes // nil when the chunk does not exist
	if err := rows.Scan(&raw); err != nil {
		return buf[:0], err
	}
	buf = append(buf[:0], raw...)
	return buf, rows.Close()
}
