package msgboxtest

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// ctl are control characters: every box keeps them as they are (displays
// escape them, see safetext).
const ctl = "\x01\x1b[2J\t\r\n\x7f"

// clean is valid UTF-8 without NUL: what every box stores as free text.
func clean(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }

// testText: every box stores and returns the same thing for the same
// strings (see msgbox.CleanText). The body and the source key are kept byte
// for byte; property names and values exactly, NUL included, but for
// invalid UTF-8, each byte of which becomes U+FFFD; every other string is
// kept but for NUL and invalid UTF-8, each byte of which becomes U+FFFD.
// Control characters are kept everywhere. What Receive returns, what route
// sees and what every reading method returns is what was stored.
func testText(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	in := msgbox.Incoming{
		ReceiveLocation: "in\x00" + ctl + "\xff",
		FileName:        "bad\x00name\xff\xfe" + ctl + ".xml",
		ContentType:     "text/\xfeplain; " + ctl,
		Properties: map[string]string{
			"nul\x00key" + ctl: "v\x00al" + ctl,
			"bad":              "x\xffy\xc3",
			"ok":               "é\uFFFD",
			// Two names that differ only by an invalid byte become one
			// property: the last in byte order, sensitive as either was.
			"k\xfe": "first",
			"k\xff": "second",
		},
		SensitiveProperties: []string{"k\xfe"},
		SourceKey:           "/in/bad\x00name\xff.xml|12",
	}
	want := msgbox.Message{
		ReceiveLocation: "in\uFFFD" + ctl + "\uFFFD",
		FileName:        "bad\uFFFDname\uFFFD\uFFFD" + ctl + ".xml",
		ContentType:     "text/\uFFFDplain; " + ctl,
		Properties: map[string]string{
			"nul\x00key" + ctl: "v\x00al" + ctl,
			"bad":              "x\uFFFDy\uFFFD",
			"ok":               "é\uFFFD",
			"k\uFFFD":          "second",
		},
		SensitiveProperties: []string{"k\uFFFD"},
		Status:              msgbox.StatusReceived,
	}
	body := "\x00\xff\xfe a body is bytes\x00\r\n"
	want.Size = int64(len(body))

	var seen msgbox.Message
	m, dup, err := b.ReceiveRouted(ctx, in, strings.NewReader(body), func(m msgbox.Message) ([]string, string) {
		seen = m
		return nil, "no filter matches " + ctl + "\x00\xff"
	})
	if err != nil || dup {
		t.Fatalf("ReceiveRouted: dup=%v, %v", dup, err)
	}
	want.ID, want.ReceivedAt = m.ID, m.ReceivedAt
	wantSeen := want
	want.Status = msgbox.StatusSuspended
	want.Reason = "routing failure: no filter matches " + ctl + "\uFFFD\uFFFD"
	sameMessage(t, "ReceiveRouted", m, want)
	sameMessage(t, "what route saw", seen, wantSeen)
	sameMessage(t, "Get", get(t, b, m.ID).Message, want)
	if got, err := b.Message(ctx, m.ID); err != nil {
		t.Errorf("Message: %v", err)
	} else {
		sameMessage(t, "Message", got, want)
	}
	if l, err := msgbox.Collect(ctx, b, msgbox.Filter{}); err != nil || len(l) != 1 {
		t.Errorf("List = %v, %v; want the message", l, err)
	} else {
		sameMessage(t, "List", l[0], want)
	}
	if got := string(readBody(t, b, m.ID)); got != body {
		t.Errorf("body = %q, want %q", got, body)
	}
	h := get(t, b, m.ID).History
	wantHistory := []string{
		fmt.Sprintf("received from %s, file %s (%d bytes)", want.ReceiveLocation, want.FileName, len(body)),
		want.Reason,
	}
	if len(h) != len(wantHistory) || h[0].Detail != wantHistory[0] || h[1].Detail != wantHistory[1] {
		t.Errorf("history = %#v, want details %q", h, wantHistory)
	}

	// The source key is matched byte for byte: the same bytes are a
	// duplicate; others are not, even those that clean up the same, or
	// agree up to the NUL.
	if again, dup, err := b.ReceiveRouted(ctx, in, strings.NewReader("x"), nil); err != nil || !dup || again.ID != m.ID {
		t.Errorf("the same SourceKey again: %s, dup=%v, %v; want %s", again.ID, dup, err, m.ID)
	}
	for _, key := range []string{"/in/bad\x00name\xfe.xml|12", "/in/bad\uFFFDname\uFFFD.xml|12", "/in/bad"} {
		other := inc("other.xml")
		other.SourceKey = key
		first, dup, err := b.ReceiveRouted(ctx, other, strings.NewReader("x"), nil)
		if err != nil || dup {
			t.Errorf("SourceKey %q: dup=%v, %v; want a new message", key, dup, err)
			continue
		}
		if again, dup, err := b.ReceiveRouted(ctx, other, strings.NewReader("x"), nil); err != nil || !dup || again.ID != first.ID {
			t.Errorf("SourceKey %q again: %s, dup=%v, %v; want %s", key, again.ID, dup, err, first.ID)
		}
	}

	// Send port names and lease owners: one cleaned name whatever form
	// a caller uses.
	port, cleanPort := "p\x00"+ctl+"\xff", "p\uFFFD"+ctl+"\uFFFD"
	owner, cleanOwner := "srv\x00", "srv\uFFFD"
	worker, cleanWorker := owner+"/w\xff", cleanOwner+"/w\uFFFD"
	r := receive(t, b, inc("routed.xml"), "x")
	if err := b.Route(ctx, r.ID, []string{port, cleanPort}, ""); err != nil {
		t.Fatalf("Route to %q: %v", port, err)
	}
	dl := get(t, b, r.ID).Deliveries
	if len(dl) != 1 || dl[0].Port != cleanPort {
		t.Fatalf("deliveries = %#v, want one to %q", dl, cleanPort)
	}
	if _, ok, err := b.NextDue(ctx, []string{port}); err != nil || !ok {
		t.Errorf("NextDue(%q) = %v, %v; want the delivery", port, ok, err)
	}
	d := claim(t, b, worker, longLease, port)
	if d.Port != cleanPort || d.LeaseOwner != cleanWorker {
		t.Errorf("claimed %#v, want port %q, lease owner %q", d, cleanPort, cleanWorker)
	}
	if err := msgbox.RenewOne(ctx, b, d.ID, worker, longLease); err != nil {
		t.Errorf("Renew as %q: %v", worker, err)
	}
	if err := msgbox.RenewOne(ctx, b, d.ID, cleanWorker, longLease); err != nil {
		t.Errorf("Renew as %q: %v", cleanWorker, err)
	}
	fail := "HTTP 500: \x00\xff" + ctl
	cleanFail := "HTTP 500: \uFFFD\uFFFD" + ctl
	if err := b.Finish(ctx, d.ID, worker, msgbox.Outcome{State: msgbox.DeliverySuspended, Error: fail}); err != nil {
		t.Fatalf("Finish as %q with error %q: %v", worker, fail, err)
	}
	g := get(t, b, r.ID)
	if g.Message.Reason != fmt.Sprintf("send port %q: %s", cleanPort, cleanFail) {
		t.Errorf("Reason = %q, want the port and the error cleaned", g.Message.Reason)
	}
	if len(g.Attempts) != 1 || g.Attempts[0].Owner != cleanWorker || g.Attempts[0].Error != cleanFail ||
		g.Attempts[0].Port != cleanPort {
		t.Errorf("attempts = %#v, want one by %q failing with %q", g.Attempts, cleanWorker, cleanFail)
	}
	if len(g.Deliveries) != 1 || g.Deliveries[0].LastError != cleanFail {
		t.Errorf("deliveries = %#v, want last error %q", g.Deliveries, cleanFail)
	}
	wantDetail := fmt.Sprintf("attempt 1 by %s failed, suspended: %s", cleanWorker, cleanFail)
	if last := g.History[len(g.History)-1]; last.Detail != wantDetail || last.Port != cleanPort {
		t.Errorf("last history entry = %#v, want %q for %q", last, wantDetail, cleanPort)
	}

	// Recover finds the deliveries of an owner's workers by the cleaned
	// names too. (Resume reset the attempt count.)
	if err := b.Resume(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	claim(t, b, worker, longLease, cleanPort)
	if n, err := b.Recover(ctx, owner); err != nil || n != 1 {
		t.Errorf("Recover(%q) = %d, %v; want the delivery %q held", owner, n, err, cleanWorker)
	}
	wantDetail = fmt.Sprintf("attempt 1: %s; recovered at the restart of %s, due again",
		msgbox.InterruptedError(cleanWorker), cleanOwner)
	if h := get(t, b, r.ID).History; h[len(h)-1].Detail != wantDetail {
		t.Errorf("last history entry = %#v, want %q", h[len(h)-1], wantDetail)
	}

	// A routing failure's reason given to Route.
	f := receive(t, b, inc("failure.xml"), "x")
	if err := b.Route(ctx, f.ID, nil, "nobody\x00 wants\xfe "+ctl); err != nil {
		t.Fatal(err)
	}
	if got := get(t, b, f.ID).Message.Reason; got != "routing failure: nobody\uFFFD wants\uFFFD "+ctl {
		t.Errorf("Reason = %q, want the reason cleaned", got)
	}

	// Whatever was stored reads back as clean text.
	msgs, err := msgbox.Collect(ctx, b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		d := get(t, b, m.ID)
		texts := []string{d.Message.ReceiveLocation, d.Message.FileName, d.Message.ContentType, d.Message.Reason}
		for _, dl := range d.Deliveries {
			texts = append(texts, dl.Port, dl.LeaseOwner, dl.LastError)
		}
		for _, a := range d.Attempts {
			texts = append(texts, a.Port, a.Owner, a.Error)
		}
		for _, e := range d.History {
			texts = append(texts, e.Port, e.Status, e.Detail)
		}
		for _, s := range texts {
			if !clean(s) {
				t.Errorf("message %s: %q read back: not valid UTF-8 without NUL", m.ID, s)
			}
		}
	}
}

// testLookupText: the strings a caller looks things up by (an AS2
// Message-ID, a receive location, send port names, a message resubmitted)
// are cleaned as the stored ones were (msgbox.CleanText), in every box:
// text that is not valid UTF-8, or holds a NUL, finds what the same text
// stored finds, and otherwise nothing, as any text that names nothing
// does; never an error (PostgreSQL's text refuses such bytes). An AS2
// Message-ID comes from a partner's MDN (its Original-Message-ID), bytes
// the box must not fail on.
func testLookupText(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	ab := awaiter(t, b)
	ob, ok := b.(msgbox.MDNOutbox)
	if !ok {
		t.Fatalf("%T does not keep sent MDNs (msgbox.MDNOutbox)", b)
	}
	port := "as2\xff"

	// A delivery being sent, and then awaiting its MDN under an AS2
	// Message-ID that held an invalid byte.
	m := routed(t, b, "sent.edi", port)
	d := claim(t, b, "w", longLease, port)
	if ids, err := ab.SendingDeliveries(ctx, []string{port}); err != nil || len(ids) != 1 || ids[0] != d.ID {
		t.Errorf("SendingDeliveries(%q) = %v, %v; want delivery %d", port, ids, err, d.ID)
	}
	if ids, err := ab.SendingDeliveries(ctx, []string{"nobody\x00\xfe"}); err != nil || len(ids) != 0 {
		t.Errorf("SendingDeliveries of a port with a NUL = %v, %v; want none, no error", ids, err)
	}
	as2ID := "<sent\xff@bizpipe>"
	if err := ab.AwaitMDN(ctx, d.LeaseOwner, msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: m.ID, Port: port,
		AS2MessageID: as2ID, MIC: "sha-256:abc", Deadline: now().Add(longLease)}); err != nil {
		t.Fatal(err)
	}
	if a, err := ab.AwaitedMDN(ctx, as2ID); err != nil || a.DeliveryID != d.ID {
		t.Errorf("AwaitedMDN(%q) = %+v, %v; want delivery %d, as stored", as2ID, a, err, d.ID)
	}
	for _, id := range []string{"<nobody\xff@partner>", "<nobody\x00@partner>"} {
		_, err := ab.AwaitedMDN(ctx, id)
		wantErr(t, fmt.Sprintf("AwaitedMDN(%q)", id), err, msgbox.ErrNotFound)
	}

	// An MDN to POST for a message received by a location whose name
	// held an invalid byte.
	loc := "as2_in\xff"
	in := receive(t, b, inc("in.edi"), "x")
	if err := ob.PutMDN(ctx, msgbox.SentMDN{MessageID: in.ID, Location: loc, Data: mdnEntity("processed"),
		URL: "http://127.0.0.1:1/mdn", State: msgbox.MDNPending, NextAttemptAt: now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"nobody\x00", "nobody\xfe"} {
		if _, ok, err := ob.NextMDNDue(ctx, l, true); err != nil || ok {
			t.Errorf("NextMDNDue(%q) = %v, %v; want none, no error", l, ok, err)
		}
		if ms, err := ob.ClaimMDNs(ctx, l, longLease, 10, 10); err != nil || len(ms) != 0 {
			t.Errorf("ClaimMDNs(%q) = %d, %v; want none, no error", l, len(ms), err)
		}
	}
	if _, ok, err := ob.NextMDNDue(ctx, loc, true); err != nil || !ok {
		t.Errorf("NextMDNDue(%q) = %v, %v; want the MDN, as stored", loc, ok, err)
	}
	if ms, err := ob.ClaimMDNs(ctx, loc, longLease, 10, 10); err != nil || len(ms) != 1 {
		t.Errorf("ClaimMDNs(%q) = %d, %v; want the MDN, as stored", loc, len(ms), err)
	}

	// A copy to a port whose delivery is still pending, of a message
	// suspended elsewhere: refused whichever form of the port's name it
	// is given.
	pending := "q\xfe"
	mixed := routed(t, b, "mixed.edi", "s", pending)
	finish(t, b, claim(t, b, "w", longLease, "s"), suspended("refused"))
	_, _, err := b.ReceiveRouted(ctx, copyOf(mixed.ID, pending), strings.NewReader("<copy/>"), toPort(pending))
	wantErr(t, fmt.Sprintf("a copy to %q, the delivery there pending", pending), err, msgbox.ErrInvalidState)
	// A copy of a message no id names is a copy of a message gone.
	for _, of := range []string{"01m9865jvg88h90kn4axwe7kv\xff", "01m9865jvg88h90kn4axwe7kv\x00"} {
		c := copyOf(of, "")
		if _, _, err := b.ReceiveRouted(ctx, c, strings.NewReader("<copy/>"), nil); err != nil {
			t.Errorf("a copy of %q: %v; want it stored, as a copy of a message purged", of, err)
		}
	}
}
