package pgbox

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// stmtCounter counts the statements a pool sends and the round trips they
// take: a statement alone is one, a batch (a pipeline) one however many
// statements it holds.
type stmtCounter struct {
	mu                     sync.Mutex
	statements, roundTrips int
}

func (c *stmtCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statements++
	c.roundTrips++
	return ctx
}

func (c *stmtCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *stmtCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roundTrips++
	return ctx
}

func (c *stmtCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statements++
}

func (c *stmtCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// take returns the counts since the last take, and zeroes them.
func (c *stmtCounter) take() (statements, roundTrips int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	statements, roundTrips = c.statements, c.roundTrips
	c.statements, c.roundTrips = 0, 0
	return statements, roundTrips
}

// TestReceiveBatchStatements: a full batch of new keyed messages, each
// routed to two ports, is stored and routed in a constant number of
// statements and three round trips, with or without a handoff claiming
// one of the ports, with or without a port left pending to notify; and
// each message ends stored and routed as said.
func TestReceiveBatchStatements(t *testing.T) {
	t.Parallel()
	url := pg.NewDatabase(t)
	counter := &stmtCounter{}
	b := openURL(t, url, Options{tracer: counter})
	ctx := t.Context()
	h := &msgbox.Handoff{Owner: "srv1/receive", Ports: []string{"a"}, Lease: time.Minute}
	for _, tc := range []struct {
		name  string
		ports []string
		h     *msgbox.Handoff
		want  int // statements
	}{
		// The keys looked up; BEGIN and the inserts; the messages'
		// update, the deliveries, the history, the notification and
		// COMMIT.
		{"pending", []string{"a", "b"}, nil, 8},
		{"one claimed, one pending", []string{"a", "b"}, h, 8},
		{"all claimed: no notification", []string{"a"}, h, 7},
		{"routing failure: no deliveries", nil, nil, 6},
	} {
		items := make([]msgbox.Receipt, msgbox.MaxBatch)
		for i := range items {
			in := incoming(fmt.Sprintf("%s %d", tc.name, i))
			in.SourceKey = in.FileName
			items[i] = msgbox.Receipt{In: in, Body: strings.NewReader(in.FileName)}
		}
		route := func(msgbox.Message) ([]string, string) { return tc.ports, "" }
		counter.take()
		var res []msgbox.ReceiveResult
		if tc.h != nil {
			res = b.ReceiveHandoff(ctx, items, route, *tc.h)
		} else {
			res = b.ReceiveBatch(ctx, items, route)
		}
		statements, roundTrips := counter.take()
		t.Logf("%s: %d messages in %d statements, %d round trips", tc.name, len(items), statements, roundTrips)
		if statements != tc.want || roundTrips != 3 {
			t.Errorf("%s: %d statements in %d round trips, want %d in 3", tc.name, statements, roundTrips, tc.want)
		}
		for i, r := range res {
			if r.Err != nil || r.Dup {
				t.Fatalf("%s: item %d: %+v", tc.name, i, r)
			}
			d, err := b.Get(ctx, r.Message.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.Message.FileName != items[i].In.FileName || d.Message.Status != r.Message.Status ||
				len(d.Deliveries) != len(tc.ports) {
				t.Errorf("%s: item %d stored as %+v, answered %+v", tc.name, i, d, r.Message)
			}
			wantClaimed := 0
			if tc.h != nil {
				wantClaimed = 1
			}
			if len(r.Claimed) != wantClaimed || wantClaimed == 1 && (r.Claimed[0].ID == 0 || r.Claimed[0].MessageID != r.Message.ID) {
				t.Errorf("%s: item %d claimed %+v, want %d delivery of its own", tc.name, i, r.Claimed, wantClaimed)
			}
		}
	}
}
