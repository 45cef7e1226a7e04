package msgboxtest

import (
	"cmp"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// copyOf is the Incoming of a copy of message id (messages resubmit),
// routed to port alone when not "".
func copyOf(id, port string) msgbox.Incoming {
	in := inc("copy.xml")
	in.Origin, in.ResubmitOf, in.ResubmitPort = msgbox.ResubmittedFromDetail(id), id, port
	return in
}

// toPort routes to port, or nothing (unrouted, nil) when port is "".
func toPort(port string) msgbox.Router {
	if port == "" {
		return nil
	}
	return func(msgbox.Message) ([]string, string) { return []string{port}, "" }
}

// storeCopy stores a copy of message id routed to port (or unrouted) and
// fails the test if that fails.
func storeCopy(t *testing.T, b msgbox.Box, id, port string) msgbox.Message {
	t.Helper()
	m, _, err := b.ReceiveRouted(t.Context(), copyOf(id, port), strings.NewReader("<copy/>"), toPort(port))
	if err != nil {
		t.Fatalf("storing a copy of %s to %q: %v", id, port, err)
	}
	return m
}

// testResubmitUnderWay: a copy of a message (Incoming.ResubmitOf) is
// refused, in the transaction that would store it, when that message is
// not delivered, suspended or terminated, or (with ResubmitPort, that
// port's) a delivery of it is under way: the copy would make that delivery
// a second time. The error is ErrInvalidState naming the message and its
// state; nothing is stored, and the message's history is unchanged.
// Whichever way the box stores the copy: one chunk or several, routed or
// not, with the bytes as received apart.
func testResubmitUnderWay(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	pending := routed(t, b, "pending.xml", "p")
	retryingMsg := routed(t, b, "retrying.xml", "r")
	finish(t, b, claim(t, b, "w", longLease, "r"), retrying(time.Now().Add(time.Hour), "down"))
	// Suspended as shown, its delivery to q still pending.
	mixed := routed(t, b, "mixed.xml", "s", "q")
	finish(t, b, claim(t, b, "w", longLease, "s"), suspended("refused"))
	wantStatus(t, b, mixed.ID, msgbox.StatusSuspended)
	unrouted := receive(t, b, inc("received.xml"), "x")

	for _, tc := range []struct {
		name, id, port string
		want           string
	}{
		{"routed", pending.ID, "", "message " + pending.ID + " is routed: its deliveries are still under way"},
		{"routed, to its port", pending.ID, "p", "message " + pending.ID + " is routed"},
		{"retrying", retryingMsg.ID, "", "message " + retryingMsg.ID + " is retrying"},
		{"received", unrouted.ID, "", "message " + unrouted.ID + " is received"},
		{"suspended, another delivery pending", mixed.ID, "", "message " + mixed.ID + ": its delivery to send port q is still pending"},
		{"suspended, to the pending port", mixed.ID, "q", "its delivery to send port q is still pending"},
	} {
		for _, body := range []struct {
			name       string
			body       func() io.Reader
			asReceived bool
		}{
			{"one chunk", func() io.Reader { return strings.NewReader("<copy/>") }, false},
			{"several chunks", func() io.Reader { return pattern(5, 3<<20+11) }, false},
			{"as received apart", func() io.Reader { return strings.NewReader("<copy/>") }, true},
		} {
			for _, routedCopy := range []bool{false, true} {
				route := toPort("")
				if routedCopy {
					route = toPort(cmp.Or(tc.port, "p"))
				}
				in := copyOf(tc.id, tc.port)
				if body.asReceived {
					in.Decoding, in.AsReceived = msgbox.Decoded, strings.NewReader("signed bytes")
				}
				before := get(t, b, tc.id)
				listed := countMessages(t, b)
				_, _, err := b.ReceiveRouted(ctx, in, body.body(), route)
				what := tc.name + ", " + body.name
				if routedCopy {
					what += ", routed"
				}
				wantErr(t, what, err, msgbox.ErrInvalidState)
				if err != nil && !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: error %q; want it to say %q", what, err, tc.want)
				}
				if n := countMessages(t, b); n != listed {
					t.Errorf("%s: the refused copy was stored (%d messages, were %d)", what, n, listed)
				}
				if after := get(t, b, tc.id); len(after.History) != len(before.History) {
					t.Errorf("%s: the refused copy added to the original's history: %v", what, historyStatuses(after))
				}
			}
		}
	}

	// With ResubmitPort, only that port's delivery counts: s is done.
	if c := storeCopy(t, b, mixed.ID, "s"); c.Status != msgbox.StatusRouted {
		t.Errorf("a copy of %s to its suspended port s: status %q; want routed", mixed.ID, c.Status)
	}
	// A delivery awaiting its asynchronous MDN is under way too.
	awaiting := routed(t, b, "awaiting.xml", "as2")
	d := claim(t, b, "w", longLease, "as2")
	ab := awaiter(t, b)
	if err := ab.AwaitMDN(ctx, d.LeaseOwner, msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: awaiting.ID, Port: "as2",
		AS2MessageID: "<resubmit@contoso>", MIC: "sha-256:abc", Deadline: now().Add(longLease)}); err != nil {
		t.Fatal(err)
	}
	_, _, err := b.ReceiveRouted(ctx, copyOf(awaiting.ID, ""), strings.NewReader("<copy/>"), nil)
	wantErr(t, "a copy of a message awaiting its MDN", err, msgbox.ErrInvalidState)
	if err != nil && !strings.Contains(err.Error(), "is awaiting_mdn") {
		t.Errorf("a copy of a message awaiting its MDN: error %q; want it to say it is awaiting_mdn", err)
	}
}

// countMessages counts the messages of b.
func countMessages(t *testing.T, b msgbox.Box) int {
	t.Helper()
	ms, err := msgbox.Collect(t.Context(), b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// testResumeCopies: Resume refuses (ErrInvalidState, naming the copy and
// the port) a suspended message a copy of which (a copy of a copy too) was
// or may still be sent where the resumed delivery would go: delivered
// there, under way or suspended there, or not routed yet. It changes
// nothing then. A copy routed elsewhere, or whose delivery there is
// terminated, does not count; nor does a terminated copy not routed.
func testResumeCopies(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	// suspendedTo makes a message routed to ports whose delivery to the
	// first is suspended and to the others delivered.
	suspendedTo := func(name string, ports ...string) msgbox.Message {
		m := routed(t, b, name, ports...)
		finish(t, b, claim(t, b, "w", longLease, ports[0]), suspended("partner down"))
		for _, p := range ports[1:] {
			finish(t, b, claim(t, b, "w", longLease, p), delivered)
		}
		return m
	}
	refused := func(what string, m msgbox.Message, copyID, port string) {
		t.Helper()
		before := get(t, b, m.ID)
		err := b.Resume(ctx, m.ID)
		wantErr(t, what, err, msgbox.ErrInvalidState)
		if err != nil && (!strings.Contains(err.Error(), "message "+m.ID+" cannot be resumed: message "+copyID+", a copy of it") ||
			!strings.Contains(err.Error(), "send port "+port)) {
			t.Errorf("%s: error %q; want it to name %s, its copy %s and send port %s", what, err, m.ID, copyID, port)
		}
		after := get(t, b, m.ID)
		if after.Message.Status != msgbox.StatusSuspended || len(after.History) != len(before.History) {
			t.Errorf("%s: the refused Resume changed %s: status %q, history %v", what, m.ID, after.Message.Status, historyStatuses(after))
		}
	}
	resumed := func(what string, m msgbox.Message) {
		t.Helper()
		if err := b.Resume(ctx, m.ID); err != nil {
			t.Errorf("%s: Resume: %v", what, err)
		}
	}

	// A copy routed to the port, pending there: refused until the copy's
	// delivery is terminated.
	m := suspendedTo("pending-copy.xml", "p1", "other1")
	c := storeCopy(t, b, m.ID, "p1")
	refused("a copy pending to the port", m, c.ID, "p1")
	if err := b.Terminate(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	resumed("a copy whose delivery there is terminated", m)

	// A copy delivered there: refused, and the error says how to send it
	// again on purpose.
	m = suspendedTo("delivered-copy.xml", "p2")
	c = storeCopy(t, b, m.ID, "p2")
	finish(t, b, claim(t, b, "w", longLease, "p2"), delivered)
	refused("a copy delivered to the port", m, c.ID, "p2")
	if err := b.Resume(ctx, m.ID); err != nil && !strings.Contains(err.Error(), "bizpipe messages resubmit "+m.ID+" --port p2") {
		t.Errorf("the refusal %q does not say how to send it there again on purpose", err)
	}

	// A copy suspended there too: resuming either is the operator's
	// choice, not both.
	m = suspendedTo("suspended-copy.xml", "p3")
	c = storeCopy(t, b, m.ID, "p3")
	finish(t, b, claim(t, b, "w", longLease, "p3"), suspended("still down"))
	refused("a copy suspended at the port", m, c.ID, "p3")

	// A copy not routed yet (resubmitted without --port): the filters may
	// route it there.
	m = suspendedTo("unrouted-copy.xml", "p4")
	c = storeCopy(t, b, m.ID, "")
	refused("a copy not routed yet", m, c.ID, "p4")
	if err := b.Terminate(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	resumed("a copy terminated before it was routed", m)

	// A copy of a copy counts, the copy between them being done there.
	m = suspendedTo("chain.xml", "p5")
	c = storeCopy(t, b, m.ID, "p5")
	finish(t, b, claim(t, b, "w", longLease, "p5"), suspended("down"))
	if err := b.Terminate(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	cc := storeCopy(t, b, c.ID, "p5")
	refused("a copy of a copy pending to the port", m, cc.ID, "p5")

	// A copy routed to another port only: no second sending.
	m = suspendedTo("elsewhere.xml", "p6", "other6")
	storeCopy(t, b, m.ID, "other6")
	resumed("a copy routed to another port", m)

	// A routing failure is routed again by the filters, anywhere: any copy
	// not terminated counts.
	m = receive(t, b, inc("orphan.xml"), "x")
	if err := b.Route(ctx, m.ID, nil, "nobody subscribes"); err != nil {
		t.Fatal(err)
	}
	c = storeCopy(t, b, m.ID, "p7")
	err := b.Resume(ctx, m.ID)
	wantErr(t, "a routing failure with a copy pending", err, msgbox.ErrInvalidState)
	if err != nil && !strings.Contains(err.Error(), "message "+c.ID+", a copy of it") {
		t.Errorf("error %q does not name the copy %s", err, c.ID)
	}
	if err := b.Terminate(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	resumed("a routing failure whose copy is terminated", m)
}

// testResumePurgedCopy: a copy that is gone (purged once it was delivered
// or terminated) may have been delivered where the resumed delivery would
// go, and the copies made of it in turn can no longer be found (its
// history went with it): Resume refuses (ErrInvalidState, naming the copy)
// rather than send the message a second time, and PreviewResume (resume
// --all-suspended --dry-run) says the same.
func testResumePurgedCopy(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	purge := func(want int) {
		t.Helper()
		if n, err := b.Purge(ctx, now().Add(time.Hour)); err != nil || n != want {
			t.Fatalf("Purge = %d, %v; want %d", n, err, want)
		}
	}
	refused := func(what string, m msgbox.Message, copyID string) {
		t.Helper()
		before := get(t, b, m.ID)
		if err := msgbox.PreviewResume(ctx, b, before); !errors.Is(err, msgbox.ErrInvalidState) {
			t.Errorf("%s: PreviewResume = %v; want ErrInvalidState", what, err)
		}
		err := b.Resume(ctx, m.ID)
		wantErr(t, what, err, msgbox.ErrInvalidState)
		if err != nil && !strings.Contains(err.Error(), "message "+m.ID+" cannot be resumed: message "+copyID+", a copy of it") {
			t.Errorf("%s: error %q; want it to name %s and its copy %s", what, err, m.ID, copyID)
		}
		if after := get(t, b, m.ID); after.Message.Status != msgbox.StatusSuspended || len(after.History) != len(before.History) {
			t.Errorf("%s: the refused Resume changed %s: status %q, history %v", what, m.ID, after.Message.Status, historyStatuses(after))
		}
	}

	// The partner is down: the message is suspended, and the operator
	// resubmits it; the copy is delivered there, and later purged.
	m := routed(t, b, "purged-copy.xml", "p")
	finish(t, b, claim(t, b, "w", longLease, "p"), suspended("partner down"))
	c := storeCopy(t, b, m.ID, "p")
	finish(t, b, claim(t, b, "w", longLease, "p"), delivered)
	refused("a copy delivered to the port", m, c.ID)
	purge(1)
	refused("a copy delivered to the port, since purged", m, c.ID)

	// A copy of a copy still pending there, behind a copy terminated and
	// purged: the purged copy's history named it.
	m = routed(t, b, "purged-link.xml", "q")
	finish(t, b, claim(t, b, "w", longLease, "q"), suspended("partner down"))
	c = storeCopy(t, b, m.ID, "q")
	finish(t, b, claim(t, b, "w", longLease, "q"), suspended("still down"))
	cc := storeCopy(t, b, c.ID, "q")
	if err := b.Terminate(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	refused("a copy of a copy pending to the port", m, cc.ID)
	purge(1) // c, terminated; cc is still pending
	refused("a copy of a copy pending to the port, behind a purged copy", m, c.ID)
	wantStatus(t, b, cc.ID, msgbox.StatusRouted)
}

// testOriginTouches: the entry a copy adds to the history of the message
// it copies touches that message: Purge keeps it for as long as for any
// other entry.
func testOriginTouches(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "noted.xml", "p")
	finish(t, b, claim(t, b, "w", longLease, "p"), delivered)
	c := storeCopy(t, b, m.ID, "")
	h := get(t, b, m.ID).History
	last := h[len(h)-1]
	if last.Detail != msgbox.ResubmittedAsDetail(c.ID) {
		t.Fatalf("the original's last entry %+v; want the copy's", last)
	}
	if n, err := b.Purgeable(ctx, last.At); err != nil || n != 0 {
		t.Errorf("Purgeable(the entry's time) = %d, %v; want 0: the entry touched the message", n, err)
	}
}

// ResumeWhileResubmitted checks that a Resume and a copy of the same
// message (Incoming.ResubmitOf) stored at the same time, through two
// handles on one box (b and other), do not both go ahead: the copy,
// stored while b's Resume is between its checks and its changes, waits for
// it and is then refused (ErrInvalidState, naming the message), and only
// the resumed delivery is left to send. setHook makes b's Resume call its
// argument there, in its transaction; waiting returns once the copy's
// store waits for that transaction, or has ended (done closed).
func ResumeWhileResubmitted(t *testing.T, b, other msgbox.Box, setHook func(func()), waiting func(done <-chan struct{})) {
	ctx := context.Background()
	m := routed(t, b, "raced.xml", "p")
	finish(t, b, claim(t, b, "w", longLease, "p"), suspended("partner down"))

	done := make(chan struct{})
	var copyErr error
	var stored msgbox.Message
	setHook(func() {
		setHook(nil)
		go func() {
			defer close(done)
			stored, _, copyErr = other.ReceiveRouted(ctx, copyOf(m.ID, "p"), strings.NewReader("<copy/>"), toPort("p"))
		}()
		waiting(done)
	})
	resumeErr := b.Resume(ctx, m.ID)
	select {
	case <-done:
	case <-time.After(time.Minute): // a safety net, not a timing
		t.Fatal("the copy never ended")
	}
	if resumeErr != nil {
		t.Fatalf("Resume: %v", resumeErr)
	}
	if copyErr == nil {
		t.Fatalf("a copy stored (%s) while the message was resumed: both would be sent", stored.ID)
	}
	if !errors.Is(copyErr, msgbox.ErrInvalidState) || !strings.Contains(copyErr.Error(), "message "+m.ID+" is routed") {
		t.Errorf("the copy's error %v; want ErrInvalidState saying %s is routed", copyErr, m.ID)
	}
	if n := countMessages(t, b); n != 1 {
		t.Errorf("%d messages; want the original alone", n)
	}
	if d := deliveryTo(t, b, m.ID, "p"); d.State != msgbox.DeliveryPending {
		t.Errorf("the resumed delivery is %s; want pending", d.State)
	}
}
