package msgboxtest

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// keyed is inc with a source key.
func keyed(name, key string) msgbox.Incoming {
	in := inc(name)
	in.SourceKey = key
	return in
}

// testReceiveBatch: each item of a batch ends as ReceiveRouted would have
// ended it alone: new messages stored and routed with their history,
// duplicates (of a stored key, or of an earlier item of the same batch)
// answered without their bodies being read, a body that fails to read
// failing its item alone with nothing of it stored, a body larger than a
// chunk stored whole.
func testReceiveBatch(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	stored := receive(t, b, keyed("stored.xml", "k-stored"), "<stored/>")
	readErr := errors.New("disk on fire")
	const large = 3<<20 + 17
	dupBody := &countingReader{r: strings.NewReader("<never read/>")}
	type item struct {
		in      msgbox.Incoming
		body    io.Reader
		want    string // the body stored; "" with wantErr or wantDup
		wantDup string // the id the duplicate answers with
		wantErr error
	}
	items := []item{
		{in: keyed("a.xml", "k-a"), body: strings.NewReader("<a/>"), want: "<a/>"},
		{in: keyed("stored-again.xml", "k-stored"), body: dupBody, wantDup: stored.ID},
		{in: keyed("broken.xml", "k-broken"), body: failingReader(100, readErr), wantErr: readErr},
		{in: inc("nokey.xml"), body: strings.NewReader("<nokey/>"), want: "<nokey/>"},
		{in: keyed("empty.xml", "k-empty"), body: nil, want: ""},
		{in: keyed("a-again.xml", "k-a"), body: strings.NewReader("<a again/>"), wantDup: "first item"},
		{in: keyed("large.xml", "k-large"), body: pattern(3, large), want: "large"},
		{in: keyed("b.xml", "k-b"), body: strings.NewReader("<b/>"), want: "<b/>"},
	}
	receipts := make([]msgbox.Receipt, len(items))
	for i, it := range items {
		receipts[i] = msgbox.Receipt{In: it.in, Body: it.body}
	}
	calls := map[string]int{}
	res := b.ReceiveBatch(ctx, receipts, func(m msgbox.Message) ([]string, string) {
		calls[m.FileName]++
		if m.FileName == "nokey.xml" {
			return nil, "nobody wants it"
		}
		return []string{"fabrikam", "tailspin"}, ""
	})
	if len(res) != len(items) {
		t.Fatalf("ReceiveBatch returned %d results for %d items", len(res), len(items))
	}
	for i, it := range items {
		r := res[i]
		name := it.in.FileName
		switch {
		case it.wantErr != nil:
			if !errors.Is(r.Err, it.wantErr) {
				t.Errorf("%s: error = %v, want the body's read error", name, r.Err)
			}
			if calls[name] != 0 {
				t.Errorf("%s: routed although its body failed", name)
			}
			continue
		case r.Err != nil:
			t.Errorf("%s: %v", name, r.Err)
			continue
		case it.wantDup != "":
			want := it.wantDup
			if want == "first item" {
				want = res[0].Message.ID
			}
			if !r.Dup || r.Message.ID != want {
				t.Errorf("%s: dup = %v, id %s; want a duplicate of %s", name, r.Dup, r.Message.ID, want)
			}
			continue
		}
		if r.Dup {
			t.Errorf("%s: dup for a new source", name)
			continue
		}
		d := get(t, b, r.Message.ID)
		sameMessage(t, name, r.Message, d.Message)
		if it.want == "large" {
			rc, err := b.Body(ctx, r.Message.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameStream(rc, pattern(3, large)); err != nil {
				t.Errorf("%s: body: %v", name, err)
			}
			rc.Close()
		} else if got := string(readBody(t, b, r.Message.ID)); got != it.want {
			t.Errorf("%s: body = %q, want %q", name, got, it.want)
		}
		var wantHistory []string
		if name == "nokey.xml" {
			wantHistory = []string{"received", "suspended"}
			if d.Message.Status != msgbox.StatusSuspended || d.Message.Reason != msgbox.RoutingFailureReason("nobody wants it") {
				t.Errorf("%s: status %s, reason %q; want a routing failure", name, d.Message.Status, d.Message.Reason)
			}
		} else {
			wantHistory = []string{"received", "fabrikam:pending", "tailspin:pending"}
			if d.Message.Status != msgbox.StatusRouted || len(d.Deliveries) != 2 {
				t.Errorf("%s: status %s with %d deliveries; want routed to 2 ports", name, d.Message.Status, len(d.Deliveries))
			}
		}
		if got := historyStatuses(d); !slices.Equal(got, wantHistory) {
			t.Errorf("%s: history %v, want %v", name, got, wantHistory)
		}
	}
	if dupBody.n != 0 {
		t.Errorf("the duplicate's body was read (%d bytes)", dupBody.n)
	}
	// Exactly the new ones are stored: the stored one, 5 new, none of the
	// broken one.
	if msgs, err := msgbox.Collect(ctx, b, msgbox.Filter{}); err != nil || len(msgs) != 6 {
		t.Errorf("List = %d messages, %v; want 6", len(msgs), err)
	}
	// What a batch stored is claimed like any message.
	ds := claimBatch(t, b, "w1", longLease, 10, "fabrikam")
	if len(ds) != 4 {
		t.Errorf("claimed %d deliveries to fabrikam, want 4 (a, empty, large, b)", len(ds))
	}
}

// testReceiveBatchUnrouted: without a router, a batch stores its messages
// unrouted, for Route.
func testReceiveBatchUnrouted(t *testing.T, b msgbox.Box) {
	res := b.ReceiveBatch(t.Context(), []msgbox.Receipt{
		{In: inc("x.xml"), Body: strings.NewReader("x")},
		{In: inc("y.xml"), Body: strings.NewReader("y")},
	}, nil)
	unrouted, err := b.Unrouted(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(unrouted) != 2 {
		t.Fatalf("Unrouted = %d messages, want 2", len(unrouted))
	}
	for i, r := range res {
		if r.Err != nil || r.Message.Status != msgbox.StatusReceived || unrouted[i].ID != r.Message.ID {
			t.Errorf("item %d: %+v; want received, unrouted, in order", i, r)
		}
		if got := historyStatuses(get(t, b, r.Message.ID)); !slices.Equal(got, []string{"received"}) {
			t.Errorf("item %d: history %v", i, got)
		}
	}
}

// testReceiveBatchManyPorts: a full batch whose messages each go to
// hundreds of ports is stored whole (more deliveries and history entries
// than one statement of a database takes parameters for).
func testReceiveBatchManyPorts(t *testing.T, b msgbox.Box) {
	const messages, ports = msgbox.MaxBatch, 130
	var names []string
	for i := range ports {
		names = append(names, fmt.Sprintf("port%03d", i))
	}
	items := make([]msgbox.Receipt, messages)
	for i := range items {
		items[i] = msgbox.Receipt{In: inc(fmt.Sprintf("m%d.xml", i)), Body: strings.NewReader("x")}
	}
	res := b.ReceiveBatch(t.Context(), items, func(msgbox.Message) ([]string, string) { return names, "" })
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	d := get(t, b, res[messages-1].Message.ID)
	if len(d.Deliveries) != ports || len(d.History) != ports+1 || d.Deliveries[ports-1].Port != names[ports-1] {
		t.Errorf("last message: %d deliveries, %d history entries; want %d and %d, in port order",
			len(d.Deliveries), len(d.History), ports, ports+1)
	}
}

// testReceiveBatchInvalid: failures of the batch's other kinds stay with
// their item (an invalid routing), or fail every item with nothing stored
// (a cancelled context).
func testReceiveBatchInvalid(t *testing.T, b msgbox.Box) {
	res := b.ReceiveBatch(t.Context(), []msgbox.Receipt{
		{In: inc("good.xml"), Body: strings.NewReader("g")},
		{In: inc("bad-route.xml"), Body: strings.NewReader("b")},
	}, func(m msgbox.Message) ([]string, string) {
		if m.FileName == "bad-route.xml" {
			return []string{""}, "" // an empty port name is invalid
		}
		return []string{"fabrikam"}, ""
	})
	if res[0].Err != nil || res[1].Err == nil {
		t.Fatalf("results %+v; want the good one stored and the invalid routing refused", res)
	}
	res = b.ReceiveBatch(ctxCanceled(t), []msgbox.Receipt{
		{In: keyed("c1.xml", "c1"), Body: strings.NewReader("c")},
		{In: inc("c2.xml"), Body: strings.NewReader("c")},
	}, nil)
	for i, r := range res {
		if r.Err == nil {
			t.Errorf("cancelled batch, item %d stored: %+v", i, r)
		}
	}
	if msgs, err := msgbox.Collect(t.Context(), b, msgbox.Filter{}); err != nil || len(msgs) != 1 {
		t.Errorf("List = %d messages, %v; want only good.xml", len(msgs), err)
	}
}

// testReceiveBatchPurged: a purged message's key is forgotten, in a batch
// too: the source is a new message again.
func testReceiveBatchPurged(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m, _, err := b.ReceiveRouted(ctx, keyed("p.xml", "k-p"), strings.NewReader("p"),
		func(msgbox.Message) ([]string, string) { return []string{"fabrikam"}, "" })
	if err != nil {
		t.Fatal(err)
	}
	finish(t, b, claim(t, b, "w1", longLease, "fabrikam"), delivered)
	sleepPast(now().Add(time.Millisecond))
	if n, err := b.Purge(ctx, now()); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	res := b.ReceiveBatch(ctx, []msgbox.Receipt{{In: keyed("p.xml", "k-p"), Body: strings.NewReader("p2")}}, nil)
	if r := res[0]; r.Err != nil || r.Dup || r.Message.ID == m.ID {
		t.Fatalf("after purge: %+v; want a new message", r)
	}
	if got := string(readBody(t, b, res[0].Message.ID)); got != "p2" {
		t.Errorf("body = %q", got)
	}
}

// testFinishBatch: each outcome of a batch is recorded as Finish records it
// alone, and an item the box refuses (a lease lost, a delivery purged or
// unknown, an invalid outcome) is refused alone, changing nothing of it.
func testFinishBatch(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	both := routed(t, b, "both.xml", "fabrikam", "tailspin")
	retry := routed(t, b, "retry.xml", "contoso")
	susp := routed(t, b, "susp.xml", "northwind")
	lost := routed(t, b, "lost.xml", "adatum")
	invalid := routed(t, b, "invalid.xml", "litware")
	ports := []string{"fabrikam", "tailspin", "contoso", "northwind", "adatum", "litware"}
	ds := claimBatch(t, b, "w1", longLease, 10, ports...)
	if len(ds) != 6 {
		t.Fatalf("claimed %d deliveries, want 6", len(ds))
	}
	byPort := map[string]*msgbox.Delivery{}
	for _, d := range ds {
		byPort[d.Port] = d
	}
	retryAt := now().Add(time.Hour)
	tests := []struct {
		port    string // "" for a delivery that does not exist
		owner   string
		o       msgbox.Outcome
		wantErr error
	}{
		{"fabrikam", "w1", delivered, nil},
		{"", "w1", delivered, msgbox.ErrNotFound},
		{"tailspin", "w1", delivered, nil},
		{"contoso", "w1", retrying(retryAt, "partner busy"), nil},
		{"adatum", "w2", delivered, msgbox.ErrLeaseLost},
		{"northwind", "w1", suspended("partner gone"), nil},
		{"litware", "w1", msgbox.Outcome{State: msgbox.DeliveryPending}, msgbox.ErrInvalidOutcome},
		// The same delivery again, after the first settled it: the
		// lease is gone, and nothing more is recorded.
		{"fabrikam", "w1", suspended("again"), msgbox.ErrLeaseLost},
	}
	items := make([]msgbox.Finishing, len(tests))
	for i, tc := range tests {
		id := int64(1) << 40
		if tc.port != "" {
			id = byPort[tc.port].ID
		}
		items[i] = msgbox.Finishing{DeliveryID: id, Owner: tc.owner, Outcome: tc.o}
	}
	errs := b.FinishBatch(ctx, items)
	if len(errs) != len(items) {
		t.Fatalf("FinishBatch returned %d errors for %d items", len(errs), len(items))
	}
	for i, tc := range tests {
		if tc.wantErr == nil && errs[i] != nil || tc.wantErr != nil && !errors.Is(errs[i], tc.wantErr) {
			t.Errorf("item %d (%s): error %v, want %v", i, tc.port, errs[i], tc.wantErr)
		}
	}
	wantStatus(t, b, both.ID, msgbox.StatusDelivered)
	wantStatus(t, b, retry.ID, msgbox.StatusRetrying)
	wantStatus(t, b, susp.ID, msgbox.StatusSuspended)
	wantStatus(t, b, lost.ID, msgbox.StatusRouted)
	wantStatus(t, b, invalid.ID, msgbox.StatusRouted)
	r := deliveryTo(t, b, retry.ID, "contoso")
	if r.State != msgbox.DeliveryRetrying || r.Attempts != 1 || !r.NextAttemptAt.Equal(msgbox.Timestamp(retryAt)) ||
		r.LastError != "partner busy" {
		t.Errorf("retrying delivery = %+v", r)
	}
	if got := get(t, b, susp.ID).Message.Reason; got != msgbox.SuspendedReason("northwind", "partner gone") {
		t.Errorf("suspended reason = %q", got)
	}
	for _, m := range []msgbox.Message{lost, invalid} {
		d := get(t, b, m.ID)
		if dl := d.Deliveries[0]; dl.State != msgbox.DeliveryInProgress || dl.LeaseOwner != "w1" || dl.Attempts != 0 ||
			len(d.Attempts) != 0 {
			t.Errorf("%s: refused item changed its delivery: %+v, attempts %+v", m.FileName, dl, d.Attempts)
		}
	}
	d := get(t, b, both.ID)
	if len(d.Attempts) != 2 {
		t.Errorf("both.xml: %d attempts recorded, want 2", len(d.Attempts))
	}
	want := []string{"received", "fabrikam:pending", "tailspin:pending", "fabrikam:in_progress", "tailspin:in_progress",
		"fabrikam:delivered", "tailspin:delivered"}
	if got := historyStatuses(d); !slices.Equal(got, want) {
		t.Errorf("both.xml history %v, want %v", got, want)
	}
	// The refused ones are still held by w1, who can finish them.
	for i := range items {
		if i == 4 || i == 6 {
			items[i].Owner, items[i].Outcome = "w1", delivered
		}
	}
	errs = b.FinishBatch(ctx, []msgbox.Finishing{items[4], items[6]})
	for i, err := range errs {
		if err != nil {
			t.Errorf("finishing refused item %d again: %v", i, err)
		}
	}
	wantStatus(t, b, lost.ID, msgbox.StatusDelivered)
	wantStatus(t, b, invalid.ID, msgbox.StatusDelivered)
	// A delivery purged with its message: DeliveryNotFound, the rest of
	// the batch recorded.
	gone := routed(t, b, "gone.xml", "fabrikam")
	keep := routed(t, b, "keep.xml", "tailspin")
	dg := claim(t, b, "w1", longLease, "fabrikam")
	finish(t, b, dg, delivered)
	dk := claim(t, b, "w1", longLease, "tailspin")
	sleepPast(now().Add(time.Millisecond))
	if _, err := b.Purge(ctx, now()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, gone.ID); !errors.Is(err, msgbox.ErrNotFound) {
		t.Fatalf("gone.xml not purged: %v", err)
	}
	errs = b.FinishBatch(ctx, []msgbox.Finishing{
		{DeliveryID: dg.ID, Owner: "w1", Outcome: delivered}, {DeliveryID: dk.ID, Owner: "w1", Outcome: delivered}})
	wantErr(t, "finishing a purged delivery", errs[0], msgbox.ErrNotFound)
	if errs[1] != nil {
		t.Errorf("finishing the other: %v", errs[1])
	}
	wantStatus(t, b, keep.ID, msgbox.StatusDelivered)
}

// renewCase is one item of a Renew and the error it should get: nil,
// ErrLeaseLost (and not ErrNotFound) or ErrNotFound.
type renewCase struct {
	id      int64
	owner   string
	wantErr error
}

// renewAndCheck renews cases' items in one Renew, checks each one's error
// and returns the times just before and just after.
func renewAndCheck(t *testing.T, b msgbox.Box, cases []renewCase) (before, after time.Time) {
	t.Helper()
	items := make([]msgbox.Renewal, len(cases))
	for i, tc := range cases {
		items[i] = msgbox.Renewal{DeliveryID: tc.id, Owner: tc.owner}
	}
	before = now()
	errs := b.Renew(t.Context(), longLease, items...)
	after = now()
	if len(errs) != len(items) {
		t.Fatalf("Renew returned %d errors for %d items", len(errs), len(items))
	}
	for i, tc := range cases {
		switch {
		case tc.wantErr == nil && errs[i] != nil,
			tc.wantErr != nil && !errors.Is(errs[i], tc.wantErr),
			tc.wantErr == msgbox.ErrLeaseLost && errors.Is(errs[i], msgbox.ErrNotFound):
			t.Errorf("item %d (delivery %d, %q): error %v, want %v", i, tc.id, tc.owner, errs[i], tc.wantErr)
		}
	}
	return before, after
}

// testRenewBatch: each lease of a Renew is renewed, or refused for itself
// alone, as one Renew of it would be: a batch with leases held, lost to
// another owner, of a delivery that does not exist, and the same lease
// twice; longer than a transaction's batch (msgbox.MaxBatch); an invalid
// lease renews none.
func testRenewBatch(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	mine := routed(t, b, "mine.xml", "fabrikam", "tailspin")
	theirs := routed(t, b, "theirs.xml", "contoso")
	ds := claimBatch(t, b, "w1", shortLease, 10, "fabrikam", "tailspin")
	other := claim(t, b, "w2", shortLease, "contoso")
	if len(ds) != 2 || other == nil {
		t.Fatalf("claimed %d deliveries and %v, want 2 and 1", len(ds), other)
	}
	unknown := int64(1) << 40
	if errs := b.Renew(ctx, 0, msgbox.Renewal{DeliveryID: ds[0].ID, Owner: "w1"}); len(errs) != 1 || errs[0] == nil {
		t.Errorf("Renew with lease 0 = %v, want an error", errs)
	}
	if got := deliveryTo(t, b, mine.ID, ds[0].Port); !got.LeaseUntil.Equal(ds[0].LeaseUntil) {
		t.Errorf("a refused lease changed LeaseUntil: %s, was %s", got.LeaseUntil, ds[0].LeaseUntil)
	}
	if errs := b.Renew(ctx, longLease); len(errs) != 0 {
		t.Errorf("Renew of nothing = %v", errs)
	}
	tests := []renewCase{
		{ds[0].ID, "w1", nil},
		{other.ID, "w1", msgbox.ErrLeaseLost},
		{unknown, "w1", msgbox.ErrNotFound},
		{ds[1].ID, "w1", nil},
		{ds[0].ID, "w1", nil},
	}
	// Past a transaction's batch: the last items come in a second one.
	for len(tests) <= msgbox.MaxBatch {
		tests = append([]renewCase{{other.ID, "w3", msgbox.ErrLeaseLost}}, tests...)
	}
	before, after := renewAndCheck(t, b, tests)
	for _, d := range ds {
		got := deliveryTo(t, b, mine.ID, d.Port)
		inWindow(t, d.Port+" LeaseUntil after Renew", got.LeaseUntil, before.Add(longLease), after.Add(longLease))
		if got.LeaseOwner != "w1" || got.State != msgbox.DeliveryInProgress {
			t.Errorf("%s after Renew: %+v", d.Port, got)
		}
	}
	if got := deliveryTo(t, b, theirs.ID, "contoso"); got.LeaseOwner != "w2" || !got.LeaseUntil.Equal(other.LeaseUntil) {
		t.Errorf("the lease refused changed: %+v, was until %s", got, other.LeaseUntil)
	}
	// The renewed leases outlast the claims' short ones; w2's does not.
	sleepPast(other.LeaseUntil)
	if d := claim(t, b, "w4", longLease, "fabrikam", "tailspin", "contoso"); d == nil || d.ID != other.ID {
		t.Errorf("a claim after the short leases took %+v, want only the unrenewed delivery %d", d, other.ID)
	}
	claimNone(t, b, "w4", "fabrikam", "tailspin", "contoso")
}

// testRenewMixed: in one batch, each item is judged for its own delivery
// and owner: two owners each renewing its own lease (one of them expired,
// nobody having claimed it since), the same lease twice, each delivery
// asked for by the other owner, an owner that needs cleaning (as Claim
// cleans it) and a delivery that does not exist.
func testRenewMixed(t *testing.T, b msgbox.Box) {
	m1 := routed(t, b, "m1.xml", "p1")
	m2 := routed(t, b, "m2.xml", "p2")
	d1 := claim(t, b, "w1", shortLease, "p1")
	d2 := claim(t, b, "w\x00two", shortLease, "p2")
	sleepPast(d2.LeaseUntil) // expired, nobody took them: still theirs
	tests := []renewCase{
		{d1.ID, "w1", nil},
		{d2.ID, "w\x00two", nil},
		{d1.ID, "w1", nil},
		{d1.ID, "w\x00two", msgbox.ErrLeaseLost},
		{d2.ID, "w1", msgbox.ErrLeaseLost},
		{d2.ID, "w\ufffdtwo", nil}, // "w\x00two" cleaned
		{1 << 41, "w1", msgbox.ErrNotFound},
	}
	before, after := renewAndCheck(t, b, tests)
	for _, x := range []struct{ m, port string }{{m1.ID, "p1"}, {m2.ID, "p2"}} {
		got := deliveryTo(t, b, x.m, x.port)
		inWindow(t, x.port+" LeaseUntil after Renew", got.LeaseUntil, before.Add(longLease), after.Add(longLease))
	}
}
