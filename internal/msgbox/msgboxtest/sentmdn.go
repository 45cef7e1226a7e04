package msgboxtest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testSentMDNs: a box that keeps the MDNs sent for received messages
// (msgbox.MDNOutbox) stores one per message, data byte for byte, a later
// PutMDN replacing it; only due pending MDNs of the location asked for are
// claimed, each once per lease and counted; a claim whose lease passed
// (a process killed mid-POST) is claimed again; FinishMDN settles or
// reschedules; an unrequested one is kept and never claimed; Purge deletes
// the MDN with its message.
func testSentMDNs(t *testing.T, b msgbox.Box) {
	ob, ok := b.(msgbox.MDNOutbox)
	if !ok {
		t.Fatalf("%T does not keep sent MDNs (msgbox.MDNOutbox)", b)
	}
	ctx := t.Context()
	data := mdnEntity("processed")
	put := func(m msgbox.SentMDN) {
		t.Helper()
		if err := ob.PutMDN(ctx, m); err != nil {
			t.Fatalf("PutMDN(%s): %v", m.MessageID, err)
		}
	}
	claimMDNs := func(loc string, lease time.Duration) []string {
		t.Helper()
		ms, err := ob.ClaimMDNs(ctx, loc, lease, 10, 10)
		if err != nil {
			t.Fatalf("ClaimMDNs(%s): %v", loc, err)
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.MessageID)
		}
		return ids
	}

	syncMsg := receive(t, b, inc("sync.edi"), "x")
	put(msgbox.SentMDN{MessageID: syncMsg.ID, Location: "as2_in", Data: data, State: msgbox.MDNSent})
	got, err := ob.SentMDN(ctx, syncMsg.ID)
	if err != nil {
		t.Fatalf("SentMDN: %v", err)
	}
	if !bytes.Equal(got.Data, data) || got.State != msgbox.MDNSent || got.URL != "" || got.Location != "as2_in" {
		t.Errorf("SentMDN = %+v, want the sync MDN stored", got)
	}

	// The record kept for a message whose sender asked for no MDN: stored
	// as such, and never claimed for a POST (the claims below find only
	// the async one), however due.
	unrequested := receive(t, b, inc("unrequested.edi"), "x")
	put(msgbox.SentMDN{MessageID: unrequested.ID, Location: "as2_in", Data: data, State: msgbox.MDNUnrequested, NextAttemptAt: now().Add(-time.Hour)})
	if got, err := ob.SentMDN(ctx, unrequested.ID); err != nil || got.State != msgbox.MDNUnrequested || !bytes.Equal(got.Data, data) {
		t.Errorf("SentMDN of an unrequested one = %+v, %v; want it stored, unrequested", got, err)
	}
	// An unrequested one never replaces an MDN stored (a repeat's, sent
	// or pending, that came first).
	put(msgbox.SentMDN{MessageID: syncMsg.ID, Location: "as2_in", Data: mdnEntity("other"), State: msgbox.MDNUnrequested})
	if got, err := ob.SentMDN(ctx, syncMsg.ID); err != nil || got.State != msgbox.MDNSent || !bytes.Equal(got.Data, data) {
		t.Errorf("after an unrequested PutMDN over a sent one: %+v, %v; want the sent one", got, err)
	}

	// Errors: no MDN, no message, too large, a bad state.
	other := receive(t, b, inc("other.edi"), "x")
	if _, err := ob.SentMDN(ctx, other.ID); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("SentMDN of a message without one: %v, want ErrNotFound", err)
	}
	if err := ob.PutMDN(ctx, msgbox.SentMDN{MessageID: "01J0000000000000000000000Z", Location: "as2_in", State: msgbox.MDNSent}); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("PutMDN for no message: %v, want ErrNotFound", err)
	}
	if err := ob.PutMDN(ctx, msgbox.SentMDN{MessageID: other.ID, State: msgbox.MDNSent,
		Data: bytes.Repeat([]byte("x"), msgbox.MaxReceiptSize+1)}); !errors.Is(err, msgbox.ErrInvalidOutcome) {
		t.Errorf("PutMDN too large: %v, want ErrInvalidOutcome", err)
	}
	if err := ob.PutMDN(ctx, msgbox.SentMDN{MessageID: other.ID, State: "lost"}); !errors.Is(err, msgbox.ErrInvalidOutcome) {
		t.Errorf("PutMDN with a bad state: %v, want ErrInvalidOutcome", err)
	}
	if err := ob.FinishMDN(ctx, msgbox.SentMDN{MessageID: other.ID}, msgbox.MDNSent, time.Time{}, ""); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("FinishMDN without an MDN: %v, want ErrNotFound", err)
	}

	// Async: due now, claimed once per lease, only by its location.
	async := receive(t, b, inc("async.edi"), "x")
	later := receive(t, b, inc("later.edi"), "x")
	due := now()
	put(msgbox.SentMDN{MessageID: async.ID, Location: "as2_in", Data: data, URL: "http://127.0.0.1:1/mdn",
		State: msgbox.MDNPending, NextAttemptAt: due})
	put(msgbox.SentMDN{MessageID: later.ID, Location: "as2_in", Data: data, URL: "http://127.0.0.1:1/mdn",
		State: msgbox.MDNPending, NextAttemptAt: now().Add(time.Hour)})
	if at, ok, err := ob.NextMDNDue(ctx, "as2_in", true); err != nil || !ok || at.Sub(due).Abs() > time.Millisecond {
		t.Errorf("NextMDNDue = %v, %v, %v; want the async MDN's, due %v", at, ok, err, due)
	}
	if at, ok, err := ob.NextMDNDue(ctx, "elsewhere", true); err != nil || ok {
		t.Errorf("NextMDNDue of a location with nothing pending = %v, %v, %v; want none", at, ok, err)
	}
	if ids := claimMDNs("elsewhere", longLease); len(ids) != 0 {
		t.Errorf("another location claimed %v", ids)
	}
	if ids := claimMDNs("as2_in", shortLease); len(ids) != 1 || ids[0] != async.ID {
		t.Fatalf("ClaimMDNs = %v, want [%s] (the other is not due)", ids, async.ID)
	}
	// A live lease holds: one no test outlives, as shortLease may be
	// outlived on a loaded machine before the second claim.
	held := receive(t, b, inc("held.edi"), "x")
	put(msgbox.SentMDN{MessageID: held.ID, Location: "as2_held", Data: data, URL: "http://127.0.0.1:1/mdn",
		State: msgbox.MDNPending, NextAttemptAt: due})
	if ids := claimMDNs("as2_held", longLease); len(ids) != 1 || ids[0] != held.ID {
		t.Fatalf("ClaimMDNs = %v, want [%s]", ids, held.ID)
	}
	if ids := claimMDNs("as2_held", longLease); len(ids) != 0 {
		t.Errorf("claimed again under a live lease: %v", ids)
	}
	sleepPast(now().Add(shortLease))
	again, err := ob.ClaimMDNs(ctx, "as2_in", longLease, 10, 10)
	if err != nil || len(again) != 1 || again[0].MessageID != async.ID || again[0].Attempts != 2 {
		t.Fatalf("ClaimMDNs after the lease = %+v, %v; want %s, attempt 2", again, err, async.ID)
	}
	if !bytes.Equal(again[0].Data, data) || again[0].URL != "http://127.0.0.1:1/mdn" {
		t.Errorf("claimed %+v, want the data and URL stored", again[0])
	}
	retryAt := now()
	if err := ob.FinishMDN(ctx, again[0], msgbox.MDNPending, retryAt, "connection refused"); err != nil {
		t.Fatalf("FinishMDN: %v", err)
	}
	third, err := ob.ClaimMDNs(ctx, "as2_in", longLease, 10, 10)
	if err != nil || len(third) != 1 {
		t.Fatalf("a retry due now was not claimed: %+v, %v", third, err)
	}
	if err := ob.FinishMDN(ctx, again[0], msgbox.MDNSent, time.Time{}, ""); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("FinishMDN of an earlier claim: %v, want ErrLeaseLost", err)
	}
	if err := ob.FinishMDN(ctx, third[0], msgbox.MDNSent, time.Time{}, ""); err != nil {
		t.Fatalf("FinishMDN sent: %v", err)
	}
	if got, err := ob.SentMDN(ctx, async.ID); err != nil || got.State != msgbox.MDNSent || got.Attempts != 3 {
		t.Errorf("after FinishMDN: %+v, %v; want sent after 3 attempts", got, err)
	}
	// A repeat makes it pending again, attempts reset, also while a POST
	// of it is under way: that POST's outcome no longer counts.
	put(msgbox.SentMDN{MessageID: async.ID, Location: "as2_in", Data: data, URL: "http://127.0.0.1:2/mdn",
		State: msgbox.MDNPending, NextAttemptAt: now()})
	inFlight, err := ob.ClaimMDNs(ctx, "as2_in", longLease, 10, 10)
	if err != nil || len(inFlight) != 1 || inFlight[0].Attempts != 1 || inFlight[0].URL != "http://127.0.0.1:2/mdn" {
		t.Fatalf("ClaimMDNs after a new PutMDN = %+v, %v; want attempt 1 to the new URL", inFlight, err)
	}
	put(msgbox.SentMDN{MessageID: async.ID, Location: "as2_in", Data: data, URL: "http://127.0.0.1:3/mdn",
		State: msgbox.MDNPending, NextAttemptAt: now()})
	if err := ob.FinishMDN(ctx, inFlight[0], msgbox.MDNSent, time.Time{}, ""); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("FinishMDN of a claim a PutMDN replaced: %v, want ErrLeaseLost", err)
	}
	if got, err := ob.SentMDN(ctx, async.ID); err != nil || got.State != msgbox.MDNPending || got.URL != "http://127.0.0.1:3/mdn" {
		t.Errorf("after the replaced claim's FinishMDN: %+v, %v; want the repeat's MDN still pending", got, err)
	}

	// Several due at once: one claim takes them all, oldest first, each
	// attempt counted and leased in the box, not only in what it returns.
	var batch []string
	for i, name := range []string{"b1.edi", "b2.edi", "b3.edi"} {
		m := receive(t, b, inc(name), "x")
		put(msgbox.SentMDN{MessageID: m.ID, Location: "as2_batch", Data: data, URL: "http://127.0.0.1:1/mdn",
			State: msgbox.MDNPending, NextAttemptAt: due.Add(time.Duration(i) * time.Millisecond)})
		batch = append(batch, m.ID)
	}
	claimed, err := ob.ClaimMDNs(ctx, "as2_batch", longLease, 2, 2)
	if err != nil || len(claimed) != 2 || claimed[0].MessageID != batch[0] || claimed[1].MessageID != batch[1] {
		t.Fatalf("ClaimMDNs(max 2) = %+v, %v; want %v", claimed, err, batch[:2])
	}
	for _, c := range claimed {
		got, err := ob.SentMDN(ctx, c.MessageID)
		if err != nil || got.Attempts != 1 || !got.NextAttemptAt.Equal(c.NextAttemptAt) || c.Attempts != 1 {
			t.Errorf("stored after the claim: %+v, %v; want attempt 1 leased until %v", got, err, c.NextAttemptAt)
		}
	}
	if ids := claimMDNs("as2_batch", longLease); len(ids) != 1 || ids[0] != batch[2] {
		t.Errorf("the next claim = %v, want only [%s]: the others are leased", ids, batch[2])
	}

	// Authenticated MDNs are claimed first, however much later due, and
	// the others only up to maxUnauthenticated; NextMDNDue looks at the
	// others only when asked to. A repeat's PutMDN sets the kind anew.
	var authn, unauthn []string
	for i := range 3 {
		m := receive(t, b, inc(fmt.Sprintf("u%d.edi", i)), "x")
		put(msgbox.SentMDN{MessageID: m.ID, Location: "as2_lanes", Data: data, URL: "http://127.0.0.1:1/mdn",
			State: msgbox.MDNPending, NextAttemptAt: due.Add(time.Duration(i) * time.Millisecond)})
		unauthn = append(unauthn, m.ID)
	}
	for i := range 2 {
		m := receive(t, b, inc(fmt.Sprintf("a%d.edi", i)), "x")
		put(msgbox.SentMDN{MessageID: m.ID, Location: "as2_lanes", Data: data, URL: "http://127.0.0.1:1/mdn", Authenticated: true,
			State: msgbox.MDNPending, NextAttemptAt: due.Add(time.Duration(10+i) * time.Millisecond)})
		authn = append(authn, m.ID)
	}
	if got, err := ob.SentMDN(ctx, authn[0]); err != nil || !got.Authenticated {
		t.Errorf("SentMDN of an authenticated one = %+v, %v; want it authenticated", got, err)
	}
	if at, ok, err := ob.NextMDNDue(ctx, "as2_lanes", false); err != nil || !ok || at.Sub(due.Add(10*time.Millisecond)).Abs() > time.Millisecond {
		t.Errorf("NextMDNDue of the authenticated = %v, %v, %v; want the first authenticated one's, due %v", at, ok, err, due.Add(10*time.Millisecond))
	}
	if at, ok, err := ob.NextMDNDue(ctx, "as2_lanes", true); err != nil || !ok || at.Sub(due).Abs() > time.Millisecond {
		t.Errorf("NextMDNDue of all = %v, %v, %v; want the first unauthenticated one's, due %v", at, ok, err, due)
	}
	sleepPast(due.Add(20 * time.Millisecond))
	lanes, err := ob.ClaimMDNs(ctx, "as2_lanes", longLease, 4, 1)
	var laneIDs []string
	for _, m := range lanes {
		laneIDs = append(laneIDs, m.MessageID)
	}
	if want := []string{authn[0], authn[1], unauthn[0]}; err != nil || !slices.Equal(laneIDs, want) {
		t.Errorf("ClaimMDNs(max 4, 1 unauthenticated) = %v, %v; want %v: the authenticated first", laneIDs, err, want)
	}
	if ids, err := ob.ClaimMDNs(ctx, "as2_lanes", longLease, 4, 0); err != nil || len(ids) != 0 {
		t.Errorf("ClaimMDNs(max 4, none unauthenticated) = %+v, %v; want nothing: only unauthenticated ones are due", ids, err)
	}
	if ids, err := ob.ClaimMDNs(ctx, "as2_lanes", longLease, 1, 5); err != nil || len(ids) != 1 || ids[0].MessageID != unauthn[1] {
		t.Errorf("ClaimMDNs(max 1) = %+v, %v; want only %s", ids, err, unauthn[1])
	}
	put(msgbox.SentMDN{MessageID: unauthn[2], Location: "as2_lanes", Data: data, URL: "http://127.0.0.1:1/mdn", Authenticated: true,
		State: msgbox.MDNPending, NextAttemptAt: due})
	if ids, err := ob.ClaimMDNs(ctx, "as2_lanes", longLease, 4, 0); err != nil || len(ids) != 1 || ids[0].MessageID != unauthn[2] || !ids[0].Authenticated {
		t.Errorf("ClaimMDNs after PutMDN made one authenticated = %+v, %v; want %s, authenticated", ids, err, unauthn[2])
	}

	// Purge keeps a delivered message whose asynchronous MDN still waits
	// to be POSTed, however long ago it was delivered (the sender is owed
	// it); once the MDN is sent, the message goes, MDN and all.
	owed := routed(t, b, "owed.edi", "as2_out")
	put(msgbox.SentMDN{MessageID: owed.ID, Location: "as2_owed", Data: data, URL: "http://127.0.0.1:1/mdn",
		State: msgbox.MDNPending, NextAttemptAt: now()})
	finish(t, b, claim(t, b, "w1", longLease, "as2_out"), delivered)
	sleepPast(now().Add(time.Millisecond))
	if n, err := b.Purgeable(ctx, now()); err != nil || n != 0 {
		t.Errorf("Purgeable with an MDN owed = %d, %v; want 0", n, err)
	}
	if n, err := b.Purge(ctx, now()); err != nil || n != 0 {
		t.Errorf("Purge with an MDN owed = %d, %v; want 0", n, err)
	}
	if got, err := ob.SentMDN(ctx, owed.ID); err != nil || got.State != msgbox.MDNPending {
		t.Fatalf("the owed MDN after Purge: %+v, %v; want it pending", got, err)
	}
	sending, err := ob.ClaimMDNs(ctx, "as2_owed", longLease, 10, 10)
	if err != nil || len(sending) != 1 {
		t.Fatalf("ClaimMDNs of the owed MDN = %+v, %v", sending, err)
	}
	if err := ob.FinishMDN(ctx, sending[0], msgbox.MDNSent, time.Time{}, ""); err != nil {
		t.Fatalf("FinishMDN of the owed MDN: %v", err)
	}
	if n, err := b.Purge(ctx, now()); err != nil || n != 1 {
		t.Errorf("Purge once the MDN is sent = %d, %v; want 1", n, err)
	}

	// Purge deletes the MDN with its message.
	m := routed(t, b, "purged.edi", "as2_out")
	put(msgbox.SentMDN{MessageID: m.ID, Location: "as2_in", Data: data, State: msgbox.MDNSent})
	finish(t, b, claim(t, b, "w1", longLease, "as2_out"), delivered)
	sleepPast(now().Add(time.Millisecond))
	if _, err := b.Purge(ctx, now()); err != nil {
		t.Fatalf("Purge of a message with an MDN: %v", err)
	}
	if _, err := ob.SentMDN(ctx, m.ID); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("SentMDN of a purged message: %v, want ErrNotFound", err)
	}
}
