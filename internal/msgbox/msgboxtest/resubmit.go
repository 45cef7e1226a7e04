package msgboxtest

import (
	"cmp"
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
	ab, ok := b.(msgbox.MDNAwaiter)
	if !ok {
		t.Fatalf("%T does not keep deliveries awaiting MDNs (msgbox.MDNAwaiter)", b)
	}
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
