package msgboxtest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// receiveRouted calls ReceiveRouted, counting route's calls and checking it
// sees the message being stored.
func receiveRouted(t *testing.T, b msgbox.Box, in msgbox.Incoming, body string, ports []string, reason string) (msgbox.Message, bool, int) {
	t.Helper()
	calls := 0
	var seen msgbox.Message
	m, dup, err := b.ReceiveRouted(t.Context(), in, strings.NewReader(body),
		func(m msgbox.Message) ([]string, string) {
			calls++
			seen = m
			return ports, reason
		})
	if err != nil {
		t.Fatalf("ReceiveRouted: %v", err)
	}
	if calls > 0 && (seen.ID != m.ID || seen.ReceiveLocation != in.ReceiveLocation || seen.FileName != in.FileName ||
		seen.Size != int64(len(body)) || seen.Properties["partner"] != in.Properties["partner"]) {
		t.Errorf("route saw %+v, want the stored message %+v", seen, m)
	}
	return m, dup, calls
}

func testReceiveRouted(t *testing.T, b msgbox.Box) {
	m, dup, calls := receiveRouted(t, b, inc("a.xml"), "<order/>", []string{"fabrikam", "tailspin", "fabrikam"}, "")
	if dup || calls < 1 {
		t.Fatalf("dup = %v, route called %d times; want a new message routed", dup, calls)
	}
	if m.Status != msgbox.StatusRouted {
		t.Errorf("returned status = %q, want routed", m.Status)
	}
	wantStatus(t, b, m.ID, msgbox.StatusRouted)
	d := get(t, b, m.ID)
	if len(d.Deliveries) != 2 {
		t.Fatalf("deliveries = %+v, want one each to fabrikam and tailspin", d.Deliveries)
	}
	for _, dl := range d.Deliveries {
		if dl.State != msgbox.DeliveryPending {
			t.Errorf("delivery to %s is %s, want pending", dl.Port, dl.State)
		}
	}
	if got := readBody(t, b, m.ID); string(got) != "<order/>" {
		t.Errorf("body = %q", got)
	}
	unrouted, err := b.Unrouted(t.Context(), 0)
	if err != nil || len(unrouted) != 0 {
		t.Errorf("Unrouted = %v, %v; want none", unrouted, err)
	}
	if err := b.Route(t.Context(), m.ID, []string{"fabrikam"}, ""); !errors.Is(err, msgbox.ErrInvalidState) {
		t.Errorf("Route after ReceiveRouted: %v, want ErrInvalidState", err)
	}
	got := claim(t, b, "w1", longLease, "tailspin")
	if got.MessageID != m.ID {
		t.Errorf("claimed %+v, want the delivery of %s", got, m.ID)
	}
}

func testReceiveRoutedNoPorts(t *testing.T, b msgbox.Box) {
	for _, reason := range []string{"no filter matched", ""} {
		m, _, _ := receiveRouted(t, b, inc("r"+reason+".xml"), "<order/>", nil, reason)
		want := "routing failure: " + reason
		if reason == "" {
			want = "routing failure: " + msgbox.DefaultRoutingFailure
		}
		if m.Status != msgbox.StatusSuspended || m.Reason != want {
			t.Errorf("returned status %q reason %q, want suspended with %q", m.Status, m.Reason, want)
		}
		d := get(t, b, m.ID)
		if d.Message.Status != msgbox.StatusSuspended || d.Message.Reason != want || len(d.Deliveries) != 0 {
			t.Errorf("stored %+v with deliveries %v, want suspended with %q and none", d.Message, d.Deliveries, want)
		}
	}
}

func testReceiveRoutedDuplicate(t *testing.T, b msgbox.Box) {
	in := inc("dup.xml")
	in.SourceKey = "orders_in/dup.xml"
	first, _, _ := receiveRouted(t, b, in, "<order/>", []string{"fabrikam"}, "")
	again, dup, calls := receiveRouted(t, b, in, "<order/>", []string{"tailspin"}, "")
	if !dup || calls != 0 || again.ID != first.ID {
		t.Fatalf("second ReceiveRouted: dup %v, route called %d times, id %s; want the first message %s, route not called",
			dup, calls, again.ID, first.ID)
	}
	if d := get(t, b, first.ID); len(d.Deliveries) != 1 || d.Deliveries[0].Port != "fabrikam" {
		t.Errorf("deliveries = %+v, want only the first routing's", d.Deliveries)
	}
	// A message stored unrouted (by Receive) comes back unrouted, for the
	// caller to route.
	in2 := inc("plain.xml")
	in2.SourceKey = "orders_in/plain.xml"
	plain := receive(t, b, in2, "<order/>")
	got, dup, calls := receiveRouted(t, b, in2, "<order/>", []string{"fabrikam"}, "")
	if !dup || calls != 0 || got.ID != plain.ID || got.Status != msgbox.StatusReceived {
		t.Errorf("ReceiveRouted of a stored unrouted source: dup %v, calls %d, %+v; want it as stored", dup, calls, got)
	}
}

func testReceiveRoutedLargeBody(t *testing.T, b msgbox.Box) {
	const size = 3<<20 + 17 // several chunks in every box
	calls := 0
	m, _, err := b.ReceiveRouted(t.Context(), inc("big.bin"), pattern(7, size),
		func(m msgbox.Message) ([]string, string) { calls++; return []string{"fabrikam"}, "" })
	if err != nil {
		t.Fatalf("ReceiveRouted: %v", err)
	}
	if calls < 1 || m.Size != size || m.Status != msgbox.StatusRouted {
		t.Fatalf("route called %d times, message %+v; want routed, %d bytes", calls, m, size)
	}
	rc, err := b.Body(t.Context(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := sameStream(rc, pattern(7, size)); err != nil {
		t.Errorf("body: %v", err)
	}
	if d := claim(t, b, "w1", longLease, "fabrikam"); d.MessageID != m.ID {
		t.Errorf("claimed %+v", d)
	}
}

func claimBatch(t *testing.T, b msgbox.Box, owner string, lease time.Duration, max int, ports ...string) []*msgbox.Delivery {
	t.Helper()
	ds, err := b.ClaimBatch(t.Context(), owner, ports, lease, max, nil)
	if err != nil {
		t.Fatalf("ClaimBatch(%s, %d): %v", owner, max, err)
	}
	return ds
}

func testClaimBatch(t *testing.T, b msgbox.Box) {
	var ids []string
	for i := range 5 {
		ids = append(ids, routed(t, b, "m"+string(rune('a'+i)), "fabrikam").ID)
	}
	routed(t, b, "other", "tailspin")
	first := claimBatch(t, b, "w1", longLease, 3, "fabrikam")
	second := claimBatch(t, b, "w2", longLease, 3, "fabrikam")
	if len(first) != 3 || len(second) != 2 {
		t.Fatalf("claimed %d then %d, want 3 then the remaining 2", len(first), len(second))
	}
	for i, d := range append(first, second...) {
		if d.MessageID != ids[i] {
			t.Errorf("claim %d is of %s, want %s (oldest due first)", i, d.MessageID, ids[i])
		}
		owner := "w1"
		if i >= 3 {
			owner = "w2"
		}
		if d.State != msgbox.DeliveryInProgress || d.LeaseOwner != owner || d.Port != "fabrikam" {
			t.Errorf("claim %d = %+v, want in progress for %s", i, d, owner)
		}
		if got := deliveryTo(t, b, d.MessageID, "fabrikam"); got.LeaseOwner != owner || got.State != msgbox.DeliveryInProgress {
			t.Errorf("stored delivery %+v, want in progress for %s", got, owner)
		}
	}
	if ds := claimBatch(t, b, "w3", longLease, 3, "fabrikam"); len(ds) != 0 {
		t.Errorf("ClaimBatch with nothing due = %d deliveries", len(ds))
	}
	finish(t, b, first[0], msgbox.Outcome{State: msgbox.DeliveryDelivered})
	wantStatus(t, b, first[0].MessageID, msgbox.StatusDelivered)
	if _, err := b.ClaimBatch(t.Context(), "w1", []string{"fabrikam"}, longLease, 0, nil); err == nil {
		t.Error("ClaimBatch with max 0: no error")
	}
}

func testClaimBatchTakeover(t *testing.T, b msgbox.Box) {
	m := routed(t, b, "x.xml", "fabrikam")
	claim(t, b, "dead", 50*time.Millisecond, "fabrikam")
	sleepPast(now().Add(60 * time.Millisecond))
	ds := claimBatch(t, b, "w1", longLease, 4, "fabrikam")
	if len(ds) != 1 || ds[0].MessageID != m.ID || ds[0].Attempts != 1 || ds[0].LeaseOwner != "w1" {
		t.Fatalf("takeover claimed %+v, want the expired delivery with its abandoned attempt counted", ds)
	}
	if ds[0].LastError != msgbox.LeaseExpiredError("dead") {
		t.Errorf("last error %q, want %q", ds[0].LastError, msgbox.LeaseExpiredError("dead"))
	}
	if err := b.Finish(t.Context(), ds[0].ID, "dead", msgbox.Outcome{State: msgbox.DeliveryDelivered}); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("Finish by the previous owner: %v, want ErrLeaseLost", err)
	}
}

// testClaimBatchExcept: a claim passes over the deliveries in except, even
// those whose lease expired, and takes the other due ones; the workers
// holding the passed-over ones still hold them (a pause past the lease in
// one process must not make a sibling worker take over work in flight).
func testClaimBatchExcept(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	var ids []string
	for i := range 3 {
		ids = append(ids, routed(t, b, "e"+string(rune('a'+i)), "fabrikam").ID)
	}
	held := claimBatch(t, b, "srv1/w1", shortLease, 2, "fabrikam")
	if len(held) != 2 {
		t.Fatalf("claimed %d, want 2", len(held))
	}
	sleepPast(held[1].LeaseUntil)
	// 0 and a delivery of another box: ids that match nothing are harmless.
	except := []int64{held[0].ID, held[1].ID, 0, 1 << 40}
	ds, err := b.ClaimBatch(ctx, "srv1/w2", []string{"fabrikam"}, longLease, 4, except)
	if err != nil {
		t.Fatalf("ClaimBatch with except: %v", err)
	}
	if len(ds) != 1 || ds[0].MessageID != ids[2] || ds[0].Attempts != 0 {
		t.Fatalf("ClaimBatch with except claimed %+v, want only the delivery not in except, no attempt counted", ds)
	}
	if ds, err := b.ClaimBatch(ctx, "srv1/w3", []string{"fabrikam"}, longLease, 4, except); err != nil || len(ds) != 0 {
		t.Fatalf("ClaimBatch with only expired leases in except due = %+v, %v; want none", ds, err)
	}
	for _, d := range held {
		got := deliveryTo(t, b, d.MessageID, "fabrikam")
		if got.State != msgbox.DeliveryInProgress || got.LeaseOwner != "srv1/w1" || got.Attempts != 0 {
			t.Errorf("passed-over delivery = %+v, want still in progress for srv1/w1, no attempt counted", got)
		}
	}
	if err := msgbox.RenewOne(ctx, b, held[0].ID, "srv1/w1", longLease); err != nil {
		t.Errorf("Renew by the holder of an expired lease a claim passed over: %v", err)
	}
	finish(t, b, held[1], delivered)
	if d := get(t, b, held[1].MessageID); d.Message.Status != msgbox.StatusDelivered || len(d.Attempts) != 1 {
		t.Errorf("after Finish by its holder: status %q, %d attempts recorded; want delivered after 1", d.Message.Status, len(d.Attempts))
	}
	if ds := claimBatch(t, b, "srv2/w1", longLease, 4, "fabrikam"); len(ds) != 0 {
		t.Errorf("claim after the holder renewed = %+v, want none", ds)
	}
}

// testClaimBatchPreload: a claim comes with each delivery's message and its
// body when the body is whole in one chunk (msgbox.Delivery), exactly what
// Message and Body give, for every delivery of a message claimed together;
// a body that spans chunks is left to Body.
func testClaimBatchPreload(t *testing.T, b msgbox.Box) {
	small := receive(t, b, inc("small"), "<order>1</order>")
	if err := b.Route(t.Context(), small.ID, []string{"fabrikam", "tailspin"}, ""); err != nil {
		t.Fatal(err)
	}
	empty := receive(t, b, inc("empty"), "")
	if err := b.Route(t.Context(), empty.ID, []string{"fabrikam"}, ""); err != nil {
		t.Fatal(err)
	}
	large := strings.Repeat("0123456789abcdef", 5<<20/16)
	big, _, err := b.ReceiveRouted(t.Context(), inc("large"), strings.NewReader(large),
		func(msgbox.Message) ([]string, string) { return []string{"fabrikam"}, "" })
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{small.ID: "<order>1</order>", empty.ID: "", big.ID: large}
	ds := claimBatch(t, b, "w1", longLease, 10, "fabrikam", "tailspin")
	if len(ds) != 4 {
		t.Fatalf("claimed %d deliveries, want 4", len(ds))
	}
	for _, d := range ds {
		want, err := b.Message(t.Context(), d.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Message == nil || !reflect.DeepEqual(*d.Message, want) {
			t.Errorf("delivery %d (%s): message %+v, want %+v", d.ID, d.Port, d.Message, want)
		}
		switch {
		case d.MessageID == big.ID:
			if d.Body != nil {
				t.Errorf("delivery %d: a body of several chunks preloaded (%d bytes), want it left to Body", d.ID, len(d.Body))
			}
		case d.Body == nil || string(d.Body) != bodies[d.MessageID]:
			t.Errorf("delivery %d (%s): body %q, want %q", d.ID, d.Port, d.Body, bodies[d.MessageID])
		}
	}
}
