package msgbox

import (
	"context"
	"math"
	"strings"
	"time"
)

// A Lister lists messages: a Box is one.
type Lister interface {
	List(ctx context.Context, f Filter, fn func(Message) error) error
}

// ListPage is how many messages a box's List reads at a time: it hands a
// page on once it has ended the read, so that a reader who is slow to take
// them (a terminal's pager) holds no read open on the box, which would keep
// SQLite from checkpointing its log and PostgreSQL from vacuuming, and
// memory holds one page.
const ListPage = 500

// Listed is a message a box's List read, with its seq (messages.seq: the
// order the box received it in).
type Listed struct {
	Message Message
	Seq     int64
}

// Rows are the rows of a query: database/sql's *sql.Rows and pgx's Rows
// both are.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// ReadListed reads the rows of a page of List, each a message's columns,
// which scan reads, and then its seq. It leaves rows to the caller to
// close.
func ReadListed(rows Rows, scan func(Scanner) (*Message, error)) ([]Listed, error) {
	var page []Listed
	for rows.Next() {
		var seq int64
		m, err := scan(ScanThen(rows, &seq))
		if err != nil {
			return nil, err
		}
		page = append(page, Listed{Message: *m, Seq: seq})
	}
	return page, rows.Err()
}

// ListPages is a box's List, page by page: readPage reads the next page,
// at most size messages received before seq after (math.MaxInt64 for the
// first), newest first, or with f.OldestFirst after it (math.MinInt64 for
// the first), oldest first, and ends its read (its errors are the box's to
// wrap); ListPages hands them to fn, each page once read, until the last
// page or f.Limit. A filter on status shows that status on every message
// (what the filter kept, as ShownStatus has it). An error from fn
// is returned as it is. The next page starts after the last seq handed
// on, so that retrying a page lists nothing twice.
func ListPages(f Filter, pageSize int, readPage func(size int, after int64) ([]Listed, error), fn func(Message) error) error {
	after, left := int64(math.MaxInt64), f.Limit
	if f.OldestFirst {
		after = math.MinInt64
	}
	for {
		size := pageSize
		if left > 0 {
			size = min(size, left)
		}
		page, err := readPage(size, after)
		if err != nil {
			return err
		}
		for _, r := range page {
			if f.Status != "" {
				r.Message.Status = f.Status
			}
			if err := fn(r.Message); err != nil {
				return err
			}
			after = r.Seq
		}
		if len(page) < size {
			return nil // the last page
		}
		if left > 0 {
			if left -= size; left == 0 {
				return nil
			}
		}
	}
}

// Collect returns the messages l lists for f, newest first: for a caller
// that needs them all at once, and a bounded f.Limit, or a box known small.
func Collect(ctx context.Context, l Lister, f Filter) ([]Message, error) {
	var msgs []Message
	err := l.List(ctx, f, func(m Message) error {
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return msgs, nil
}

// ListConditions are the SQL conditions on a row of messages, ANDed,
// that select what f asks for besides its status (ListWhere), with their
// arguments in order: next returns each argument's placeholder in turn,
// and at converts f.Since to the box's time column. A box's List adds them
// to its query.
func ListConditions(f Filter, next func() string, at func(time.Time) any) (conds []string, args []any) {
	// The box cleans every name it stores (CleanText); a name given
	// otherwise (invalid UTF-8) would match nothing, or fail in a box that
	// checks its text encoding.
	add := func(cond string, arg any) {
		if s, ok := arg.(string); ok {
			arg = CleanText(s)
		}
		conds = append(conds, strings.Replace(cond, "?", next(), 1))
		args = append(args, arg)
	}
	if f.Location != "" {
		add("receive_location = ?", f.Location)
	}
	if f.Party != "" {
		add("party = ?", f.Party)
	}
	if !f.Since.IsZero() {
		add("received_at >= ?", at(f.Since))
	}
	if f.Port != "" {
		add("EXISTS (SELECT 1 FROM deliveries lp WHERE lp.message_id = messages.id AND lp.port = ?)", f.Port)
	}
	return conds, args
}
