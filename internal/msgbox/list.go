package msgbox

import (
	"context"
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
