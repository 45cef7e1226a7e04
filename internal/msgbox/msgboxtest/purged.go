package msgboxtest

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testPurged: Purge deletes, so what a caller read before it may be gone
// after it, and the box says so (see msgbox.Box.Purge): a message listed
// before is ErrNotFound to every method; a body being read fails with
// ErrNotFound, not as corrupt; a delivery still in flight is
// msgbox.DeliveryNotFound (ErrNotFound and ErrLeaseLost) to Renew and
// Finish, absent from DeliveryStates, and not counted by Recover; and the
// source key is forgotten.
func testPurged(t *testing.T, b msgbox.Box) {
	ctx := t.Context()

	// A delivery in flight whose message an operator terminated once its
	// lease expired.
	in := inc("inflight.xml")
	in.SourceKey = "/in/inflight.xml|1"
	inflight := receive(t, b, in, "<order/>")
	if err := b.Route(ctx, inflight.ID, []string{"p"}, ""); err != nil {
		t.Fatal(err)
	}
	d := claim(t, b, "srv/w0", shortLease, "p")
	sleepPast(d.LeaseUntil)
	if err := b.Terminate(ctx, inflight.ID); err != nil {
		t.Fatalf("Terminate with an expired lease: %v", err)
	}

	// A delivered message whose body is being read: more than one chunk,
	// the first read already.
	const size = 2<<20 + 1
	big, _, err := b.ReceiveRouted(ctx, inc("big.bin"), pattern(5, size),
		func(msgbox.Message) ([]string, string) { return []string{"q"}, "" })
	if err != nil {
		t.Fatal(err)
	}
	bigDelivery := claim(t, b, "srv/w1", longLease, "q")
	finish(t, b, bigDelivery, delivered)
	rc, err := b.Body(ctx, big.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 10)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatalf("reading the start of the body: %v", err)
	}

	listed, err := msgbox.Collect(ctx, b, msgbox.Filter{})
	if err != nil || len(listed) != 2 {
		t.Fatalf("List = %v, %v; want both messages", listed, err)
	}
	kept := receive(t, b, inc("kept.xml"), "x") // not finished: never purged

	// Every activity is older than an hour from now.
	if n, err := b.Purge(ctx, now().Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want the terminated and the delivered message", n, err)
	}

	_, err = io.ReadAll(rc)
	wantErr(t, "reading a body purged meanwhile", err, msgbox.ErrNotFound)
	if err != nil && strings.Contains(err.Error(), "corrupt") {
		t.Errorf("reading a body purged meanwhile: %v; want it said purged, not corrupt", err)
	}

	for what, err := range map[string]error{
		"Renew":  msgbox.RenewOne(ctx, b, d.ID, d.LeaseOwner, longLease),
		"Finish": b.Finish(ctx, d.ID, d.LeaseOwner, delivered),
	} {
		wantErr(t, what+" of a purged delivery", err, msgbox.ErrNotFound)
		wantErr(t, what+" of a purged delivery", err, msgbox.ErrLeaseLost)
	}
	if states, err := b.DeliveryStates(ctx, []int64{d.ID, bigDelivery.ID}); err != nil || len(states) != 0 {
		t.Errorf("DeliveryStates of purged deliveries = %v, %v; want none", states, err)
	}
	if n, err := b.Recover(ctx, "srv"); err != nil || n != 0 {
		t.Errorf("Recover after the purge = %d, %v; want 0", n, err)
	}
	if _, ok, err := b.NextDue(ctx, []string{"p", "q"}); err != nil || ok {
		t.Errorf("NextDue after the purge = %v, %v; want nothing due", ok, err)
	}

	for _, m := range listed {
		_, err := b.Get(ctx, m.ID)
		wantErr(t, "Get of a listed message purged since", err, msgbox.ErrNotFound)
		_, err = b.Message(ctx, m.ID)
		wantErr(t, "Message of a listed message purged since", err, msgbox.ErrNotFound)
		_, err = b.Body(ctx, m.ID)
		wantErr(t, "Body of a listed message purged since", err, msgbox.ErrNotFound)
		wantErr(t, "Route of a listed message purged since", b.Route(ctx, m.ID, []string{"p"}, ""), msgbox.ErrNotFound)
		wantErr(t, "Resume of a listed message purged since", b.Resume(ctx, m.ID), msgbox.ErrNotFound)
		wantErr(t, "Terminate of a listed message purged since", b.Terminate(ctx, m.ID), msgbox.ErrNotFound)
	}
	wantStatus(t, b, kept.ID, msgbox.StatusReceived)

	// The purged message's source key is forgotten.
	again, dup, err := b.ReceiveRouted(ctx, in, strings.NewReader("<order/>"), nil)
	if err != nil || dup || again.ID == inflight.ID {
		t.Errorf("Receive of a purged message's source: %s, dup=%v, %v; want a new message", again.ID, dup, err)
	}
}
