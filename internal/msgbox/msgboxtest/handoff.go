package msgboxtest

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testReceiveHandoff: a box whose ReceiveBatch can claim (a
// msgbox.HandoffReceiver) stores each item as ReceiveBatch would, and
// leases the deliveries to the handoff's ports to its owner, as ClaimBatch
// would have right after: in progress, with the claim in the history and
// the message (and a body in one chunk) at hand. Deliveries to other ports
// stay pending; duplicates and large bodies claim nothing; an invalid
// handoff stores nothing.
func testReceiveHandoff(t *testing.T, b msgbox.Box) {
	hb, ok := b.(msgbox.HandoffReceiver)
	if !ok {
		t.Skip("this box has no ReceiveHandoff: the runner claims what it receives with ClaimBatch")
	}
	ctx := t.Context()
	stored := receive(t, b, keyed("stored.xml", "k-stored"), "<stored/>")
	const large = 3<<20 + 5
	items := []msgbox.Receipt{
		{In: keyed("a.xml", "k-a"), Body: strings.NewReader("<a/>")},
		{In: keyed("b.xml", "k-b"), Body: strings.NewReader("<b/>")},
		{In: keyed("again.xml", "k-stored"), Body: strings.NewReader("<never read/>")},
		{In: keyed("empty.xml", "k-empty")},
		{In: keyed("large.xml", "k-large"), Body: pattern(7, large)},
		{In: keyed("nobody.xml", "k-nobody"), Body: strings.NewReader("<nobody/>")},
	}
	route := func(m msgbox.Message) ([]string, string) {
		if m.FileName == "nobody.xml" {
			return nil, "nobody subscribes"
		}
		return []string{"here", "elsewhere"}, ""
	}
	h := msgbox.Handoff{Owner: "srv1/r", Ports: []string{"here"}, Lease: longLease}
	before := now()
	res := hb.ReceiveHandoff(ctx, items, route, h)
	after := now()
	if len(res) != len(items) {
		t.Fatalf("%d results for %d items", len(res), len(items))
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	if !res[2].Dup || res[2].Message.ID != stored.ID || res[2].Claimed != nil {
		t.Errorf("duplicate: %+v, want the stored message, nothing claimed", res[2])
	}
	if res[5].Claimed != nil {
		t.Errorf("routing failure claimed %+v", res[5].Claimed)
	}
	bodies := map[int]string{0: "<a/>", 1: "<b/>", 3: ""}
	for i, body := range bodies {
		r := res[i]
		if len(r.Claimed) != 1 {
			t.Fatalf("item %d: claimed %d deliveries, want 1 (the one to here)", i, len(r.Claimed))
		}
		d := r.Claimed[0]
		if d.MessageID != r.Message.ID || d.Port != "here" || d.State != msgbox.DeliveryInProgress ||
			d.LeaseOwner != "srv1/r" || d.Attempts != 0 {
			t.Errorf("item %d: claimed %+v, want message %s to here, in progress, owned by srv1/r, no attempt yet",
				i, d, r.Message.ID)
		}
		inWindow(t, "LeaseUntil", d.LeaseUntil, before.Add(longLease), after.Add(longLease))
		want, err := b.Message(ctx, d.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Message == nil || !reflect.DeepEqual(*d.Message, want) {
			t.Errorf("item %d: message %+v, want it as stored: %+v", i, d.Message, want)
		}
		if d.Body == nil || string(d.Body) != body {
			t.Errorf("item %d: body %q, want %q", i, d.Body, body)
		}
		got := deliveryTo(t, b, d.MessageID, "here")
		if got.ID != d.ID || got.State != d.State || got.LeaseOwner != d.LeaseOwner || !got.LeaseUntil.Equal(d.LeaseUntil) {
			t.Errorf("item %d: stored delivery %+v, want it as claimed: %+v", i, got, d)
		}
		if other := deliveryTo(t, b, d.MessageID, "elsewhere"); other.State != msgbox.DeliveryPending {
			t.Errorf("item %d: the delivery to elsewhere is %s, want pending", i, other.State)
		}
		wantStatus(t, b, d.MessageID, msgbox.StatusRouted)
		hist := historyStatuses(get(t, b, d.MessageID))
		if want := []string{"received", "here:pending", "elsewhere:pending", "here:in_progress"}; !slices.Equal(hist, want) {
			t.Errorf("item %d: history %v, want %v", i, hist, want)
		}
		if e := get(t, b, d.MessageID).History[3]; e.Detail != msgbox.ClaimedDetail(1, "srv1/r") {
			t.Errorf("item %d: claim entry %q, want %q", i, e.Detail, msgbox.ClaimedDetail(1, "srv1/r"))
		}
	}
	// The large message was stored on its own: its deliveries are pending.
	if res[4].Claimed != nil {
		t.Errorf("large message claimed %+v, want its deliveries left to a claim", res[4].Claimed)
	}
	if d := claim(t, b, "w1", longLease, "here"); d.MessageID != res[4].Message.ID {
		t.Errorf("claim on here = %s, want the large message %s (the others are held)", d.MessageID, res[4].Message.ID)
	}
	claimNone(t, b, "w1", "here")

	// The owner finishes what it was handed; a restart recovers the rest.
	finish(t, b, res[0].Claimed[0], msgbox.Outcome{State: msgbox.DeliveryDelivered})
	if got := deliveryTo(t, b, res[0].Message.ID, "here"); got.State != msgbox.DeliveryDelivered {
		t.Errorf("finished handed delivery is %s, want delivered", got.State)
	}
	n, err := b.Recover(ctx, "srv1")
	if err != nil || n != 2 {
		t.Errorf("Recover(srv1) = %d, %v, want the two handed deliveries still held", n, err)
	}
	if got := deliveryTo(t, b, res[3].Message.ID, "here"); got.State != msgbox.DeliveryPending {
		t.Errorf("recovered handed delivery is %s, want pending", got.State)
	}

	// An invalid handoff stores nothing.
	bad := hb.ReceiveHandoff(ctx, []msgbox.Receipt{{In: keyed("bad.xml", "k-bad"), Body: strings.NewReader("x")}},
		route, msgbox.Handoff{Ports: []string{"here"}, Lease: longLease})
	if bad[0].Err == nil {
		t.Fatal("a handoff without an owner succeeded")
	}
	l, err := msgbox.Collect(ctx, b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range l {
		if m.FileName == "bad.xml" {
			t.Errorf("a refused handoff stored %s", m.ID)
		}
	}
}
