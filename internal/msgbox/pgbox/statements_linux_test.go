package pgbox

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// stmtCounter counts the statements a pool sends and the round trips they
// take: a statement alone is one, a batch (a pipeline) one however many
// statements it holds. It also counts the UPDATE statements among them:
// a row written twice in one transaction.
type stmtCounter struct {
	mu                              sync.Mutex
	statements, roundTrips, updates int
}

// updateSQL finds an UPDATE of a table in a statement, alone or in one of
// its WITH clauses; not a row lock (FOR UPDATE).
var updateSQL = regexp.MustCompile(`(?i)\bUPDATE\s+\w+\s+(AS\s+\w+\s+)?SET\b`)

func (c *stmtCounter) count(sql string) {
	c.statements++
	if updateSQL.MatchString(sql) {
		c.updates++
	}
}

func (c *stmtCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count(data.SQL)
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

func (c *stmtCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count(data.SQL)
}

func (c *stmtCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// take returns the counts since the last take, and zeroes them.
func (c *stmtCounter) take() (statements, roundTrips, updates int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	statements, roundTrips, updates = c.statements, c.roundTrips, c.updates
	c.statements, c.roundTrips, c.updates = 0, 0, 0
	return statements, roundTrips, updates
}

// openCounted opens a box on a new database, its statements counted by
// counter, and returns them and the database's url.
func openCounted(t *testing.T) (b *Box, counter *stmtCounter, url string) {
	t.Helper()
	url = pg.NewDatabase(t)
	counter = &stmtCounter{}
	return openURL(t, url, Options{tracer: counter}), counter, url
}

// TestReceiveBatchStatements: a full batch of new keyed messages, each
// routed to two ports, is stored and routed in a constant number of
// statements and three round trips, none of them an UPDATE (the messages
// are inserted routed), with or without a handoff claiming one of the
// ports, with or without a port left pending to notify; and each message
// ends stored and routed as said, received when its answer and its
// history say.
func TestReceiveBatchStatements(t *testing.T) {
	t.Parallel()
	b, counter, _ := openCounted(t)
	ctx := t.Context()
	h := &msgbox.Handoff{Owner: "srv1/receive", Ports: []string{"a"}, Lease: time.Minute}
	for _, tc := range []struct {
		name  string
		ports []string
		h     *msgbox.Handoff
		want  int // statements
	}{
		// The clock read and the keys looked up; BEGIN and the inserts;
		// the deliveries, the history, the notification and COMMIT.
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
		statements, roundTrips, updates := counter.take()
		t.Logf("%s: %d messages in %d statements, %d round trips", tc.name, len(items), statements, roundTrips)
		if statements != tc.want || roundTrips != 3 || updates != 0 {
			t.Errorf("%s: %d statements (%d UPDATE) in %d round trips, want %d in 3, no UPDATE", tc.name, statements, updates,
				roundTrips, tc.want)
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
				d.Message.Reason != r.Message.Reason || !d.Message.ReceivedAt.Equal(r.Message.ReceivedAt) ||
				len(d.Deliveries) != len(tc.ports) {
				t.Errorf("%s: item %d stored as %+v, answered %+v", tc.name, i, d, r.Message)
			}
			if len(d.History) == 0 || d.History[0].Status != string(msgbox.StatusReceived) ||
				!d.History[0].At.Equal(r.Message.ReceivedAt) {
				t.Errorf("%s: item %d: history %+v, want it to start received at %v", tc.name, i, d.History, r.Message.ReceivedAt)
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

// TestFinishBatchStatements: a full FinishBatch of deliveries of 32
// messages routed to two ports each, delivered (with a receipt), retrying
// or suspended, takes a constant number of statements and three round
// trips, and records each outcome as Finish would: the delivery's state
// and attempt, the message's derived status, a suspension's reason.
func TestFinishBatchStatements(t *testing.T) {
	t.Parallel()
	b, counter, url := openCounted(t)
	ctx := t.Context()
	items := make([]msgbox.Receipt, msgbox.MaxBatch/2)
	for i := range items {
		items[i] = msgbox.Receipt{In: incoming(fmt.Sprint(i)), Body: strings.NewReader("<order/>")}
	}
	for i, r := range b.ReceiveBatch(ctx, items, func(msgbox.Message) ([]string, string) { return []string{"a", "b"}, "" }) {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	ds, err := b.ClaimBatch(ctx, "w1", []string{"a", "b"}, time.Minute, msgbox.MaxBatch, nil)
	if err != nil || len(ds) != msgbox.MaxBatch {
		t.Fatalf("claimed %d, %v; want %d", len(ds), err, msgbox.MaxBatch)
	}
	retryAt := time.Now().Add(time.Hour)
	outcomes := []msgbox.Outcome{
		{State: msgbox.DeliveryDelivered, Receipt: &msgbox.DeliveryReceipt{ContentType: "text/plain", Summary: "ok", Data: []byte("mdn")}},
		{State: msgbox.DeliveryRetrying, RetryAt: retryAt, Error: "busy"},
		{State: msgbox.DeliverySuspended, Error: "gone"},
		{State: msgbox.DeliveryDelivered},
	}
	fins := make([]msgbox.Finishing, len(ds))
	want := map[int64]msgbox.Outcome{}
	for i, d := range ds {
		o := outcomes[i%len(outcomes)]
		fins[i] = msgbox.Finishing{DeliveryID: d.ID, Owner: "w1", Outcome: o}
		want[d.ID] = o
	}
	counter.take()
	for i, err := range b.FinishBatch(ctx, fins) {
		if err != nil {
			t.Fatalf("finishing item %d: %v", i, err)
		}
	}
	statements, roundTrips, _ := counter.take()
	t.Logf("%d outcomes in %d statements, %d round trips", len(fins), statements, roundTrips)
	// BEGIN and the deliveries' lock; the messages' lock, the clock and
	// their deliveries; the attempts, the deliveries, the receipts, the
	// history, the messages, the notification and COMMIT.
	if statements != 12 || roundTrips != 3 {
		t.Errorf("%d statements in %d round trips, want 12 in 3", statements, roundTrips)
	}
	list, err := msgbox.Collect(ctx, b, msgbox.Filter{})
	if err != nil || len(list) != len(items) {
		t.Fatalf("List: %d messages, %v; want %d", len(list), err, len(items))
	}
	for _, m := range list {
		d, err := b.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var states []msgbox.DeliveryState
		reason := ""
		for _, dl := range d.Deliveries {
			states = append(states, dl.State)
			o, ok := want[dl.ID]
			if !ok {
				continue
			}
			if dl.State != o.State || dl.Attempts != 1 || dl.LastError != o.Error {
				t.Errorf("delivery %d = %+v, want %+v after one attempt", dl.ID, dl, o)
			}
			if o.State == msgbox.DeliverySuspended {
				reason = msgbox.SuspendedReason(dl.Port, o.Error)
			}
		}
		if st := msgbox.DeriveStatus(true, false, states); d.Message.Status != st || d.Message.Reason != reason {
			t.Errorf("message %s: status %s, reason %q; want %s, %q", m.ID, d.Message.Status, d.Message.Reason, st, reason)
		}
		if len(d.Attempts) != len(d.Deliveries) {
			t.Errorf("message %s: %d attempts recorded, want %d", m.ID, len(d.Attempts), len(d.Deliveries))
		}
	}
	checkInvariants(t, url)
}
