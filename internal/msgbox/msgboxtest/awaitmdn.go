package msgboxtest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testAwaitMDN: a box that keeps deliveries waiting for an asynchronous
// MDN (msgbox.MDNAwaiter) hands the lease to msgbox.AwaitOwner until the
// deadline: nobody claims the delivery meanwhile, Recover leaves it, it
// is found by its AS2 Message-ID and settled by Finish as AwaitOwner; the
// operator may terminate it, after which the MDN settles nothing;
// once the deadline passes a worker takes it over, the wait counted as a
// failed attempt, and the wait can no longer settle it; Purge deletes
// what was kept with the message.
func testAwaitMDN(t *testing.T, b msgbox.Box) {
	ab := awaiter(t, b)
	ctx := t.Context()
	awaiting := func() []msgbox.AwaitedMDN {
		t.Helper()
		as, err := ab.AwaitingMDNs(ctx)
		if err != nil {
			t.Fatalf("AwaitingMDNs: %v", err)
		}
		return as
	}

	m := routed(t, b, "async.edi", "as2_out")
	d := claim(t, b, "srv1/w1", longLease, "as2_out")
	a := msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: m.ID, Port: "as2_out", AS2MessageID: "<a1@contoso>",
		MIC: "sha-256:abc", Deadline: now().Add(longLease)}
	if err := ab.AwaitMDN(ctx, "srv1/w2", a); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("AwaitMDN by a non-holder: %v, want ErrLeaseLost", err)
	}
	if err := ab.AwaitMDN(ctx, d.LeaseOwner, a); err != nil {
		t.Fatalf("AwaitMDN: %v", err)
	}
	if err := ab.AwaitMDN(ctx, d.LeaseOwner, a); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("AwaitMDN twice: %v, want ErrLeaseLost (the wait holds the lease)", err)
	}
	if !slices.ContainsFunc(get(t, b, m.ID).History, func(e msgbox.Event) bool {
		return e.Port == "as2_out" && e.Status == string(msgbox.StatusAwaitingMDN) && e.Detail == msgbox.AwaitingMDNDetail(a)
	}) {
		t.Errorf("history has no entry %q for the wait", msgbox.AwaitingMDNDetail(a))
	}
	if got := awaiting(); len(got) != 1 || got[0].DeliveryID != d.ID || got[0].MIC != "sha-256:abc" || got[0].MessageID != m.ID ||
		got[0].State != msgbox.DeliveryInProgress || got[0].LeaseOwner != msgbox.AwaitOwner {
		t.Errorf("AwaitingMDNs = %+v, want delivery %d in progress under %s", got, d.ID, msgbox.AwaitOwner)
	}
	if got, err := ab.AwaitedMDN(ctx, "<a1@contoso>"); err != nil || got.DeliveryID != d.ID || !got.Deadline.Equal(a.Deadline) ||
		got.State != msgbox.DeliveryInProgress || got.LeaseOwner != msgbox.AwaitOwner {
		t.Errorf("AwaitedMDN = %+v, %v; want delivery %d until %s, in progress under %s", got, err, d.ID, a.Deadline, msgbox.AwaitOwner)
	}
	if _, err := ab.AwaitedMDN(ctx, "<unknown@contoso>"); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("AwaitedMDN of an unknown Message-ID: %v, want ErrNotFound", err)
	}
	if ds, err := b.ClaimBatch(ctx, "srv1/w3", []string{"as2_out"}, longLease, 10, nil); err != nil || len(ds) != 0 {
		t.Errorf("claimed %d awaiting deliveries (%v), want none", len(ds), err)
	}
	if n, err := b.Recover(ctx, "srv1"); err != nil || n != 0 {
		t.Errorf("Recover(srv1) = %d, %v; want 0: an awaited MDN is not resent at a restart", n, err)
	}
	if got := deliveryTo(t, b, m.ID, "as2_out"); got.State != msgbox.DeliveryInProgress || got.LeaseOwner != msgbox.AwaitOwner {
		t.Errorf("awaiting delivery: %s by %q", got.State, got.LeaseOwner)
	}
	finish(t, b, &msgbox.Delivery{ID: d.ID, LeaseOwner: msgbox.AwaitOwner}, delivered)
	if got := get(t, b, m.ID); got.Message.Status != msgbox.StatusDelivered {
		t.Errorf("settled: status %s, want delivered", got.Message.Status)
	}
	if got := awaiting(); len(got) != 0 {
		t.Errorf("AwaitingMDNs after settling = %+v, want none", got)
	}
	// What was kept stays, with the delivery's state now.
	if got, err := ab.AwaitedMDN(ctx, "<a1@contoso>"); err != nil || got.DeliveryID != d.ID || got.State != msgbox.DeliveryDelivered {
		t.Errorf("AwaitedMDN after settling = %+v, %v; want delivery %d delivered", got, err, d.ID)
	}

	// The operator terminates a message awaiting its MDN: the wait is
	// abandoned, and a late MDN settles nothing.
	dropped := routed(t, b, "dropped.edi", "as2_dropped")
	d = claim(t, b, "srv1/w1", longLease, "as2_dropped")
	if err := ab.AwaitMDN(ctx, d.LeaseOwner, msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: dropped.ID, Port: "as2_dropped",
		AS2MessageID: "<a3@contoso>", Deadline: now().Add(time.Hour)}); err != nil {
		t.Fatalf("AwaitMDN: %v", err)
	}
	if err := b.Terminate(ctx, dropped.ID); err != nil {
		t.Fatalf("Terminate of a message awaiting its MDN: %v", err)
	}
	if got := get(t, b, dropped.ID); got.Message.Status != msgbox.StatusTerminated {
		t.Errorf("terminated while awaiting: status %s", got.Message.Status)
	}
	if err := b.Finish(ctx, d.ID, msgbox.AwaitOwner, delivered); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("Finish as the wait after Terminate: %v, want ErrLeaseLost", err)
	}
	if got := awaiting(); len(got) != 0 {
		t.Errorf("AwaitingMDNs after Terminate = %+v, want none", got)
	}

	// The deadline passes: a worker takes the delivery over, counting the
	// wait as a failed attempt; the late MDN cannot settle it.
	late := routed(t, b, "late.edi", "as2_late")
	d = claim(t, b, "srv1/w1", longLease, "as2_late")
	if err := ab.AwaitMDN(ctx, d.LeaseOwner, msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: late.ID, Port: "as2_late",
		AS2MessageID: "<a2@contoso>", Deadline: now().Add(shortLease)}); err != nil {
		t.Fatalf("AwaitMDN: %v", err)
	}
	sleepPast(now().Add(shortLease))
	taken := claim(t, b, "srv1/w2", longLease, "as2_late")
	if taken.ID != d.ID || taken.Attempts != 1 || taken.LastError != msgbox.LeaseExpiredError(msgbox.AwaitOwner) {
		t.Errorf("taken over: delivery %d, attempts %d, last error %q", taken.ID, taken.Attempts, taken.LastError)
	}
	if err := b.Finish(ctx, d.ID, msgbox.AwaitOwner, delivered); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("Finish as the wait after the takeover: %v, want ErrLeaseLost", err)
	}
	// Sent again, its new wait not recorded yet: AwaitedMDN tells.
	if got, err := ab.AwaitedMDN(ctx, "<a2@contoso>"); err != nil || got.DeliveryID != d.ID ||
		got.State != msgbox.DeliveryInProgress || got.LeaseOwner != taken.LeaseOwner {
		t.Errorf("AwaitedMDN after the takeover = %+v, %v; want delivery %d in progress under %s", got, err, d.ID, taken.LeaseOwner)
	}
	if got := awaiting(); len(got) != 0 {
		t.Errorf("AwaitingMDNs after the deadline = %+v, want none", got)
	}

	// Purge deletes what was kept with the message.
	sleepPast(now().Add(time.Millisecond))
	if _, err := b.Purge(ctx, now()); err != nil {
		t.Fatalf("Purge of a message that awaited an MDN: %v", err)
	}
	if _, err := ab.AwaitedMDN(ctx, "<a1@contoso>"); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("AwaitedMDN of a purged message: %v, want ErrNotFound", err)
	}
}

// testAwaitingStatus: List and Get show a routed message as awaiting_mdn
// once every delivery not delivered awaits an MDN, and List filters and
// limits on that status in the box: the limit counts the messages the
// filter keeps.
func testAwaitingStatus(t *testing.T, b msgbox.Box) {
	ab := awaiter(t, b)
	ctx := t.Context()
	list := func(st msgbox.Status, limit int) []string {
		t.Helper()
		ms, err := msgbox.Collect(ctx, b, msgbox.Filter{Status: st, Limit: limit})
		if err != nil {
			t.Fatalf("List(%q, %d): %v", st, limit, err)
		}
		var out []string
		for _, m := range ms {
			if st != "" && m.Status != st {
				t.Errorf("List(%q) returned %s with status %s", st, m.ID, m.Status)
			}
			out = append(out, m.ID+"="+string(m.Status))
		}
		return out
	}
	older := routed(t, b, "older.edi", "file_out")
	m := routed(t, b, "async.edi", "as2_out", "file_out")
	d := claim(t, b, "srv1/w1", longLease, "as2_out")
	a := msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: m.ID, Port: "as2_out", AS2MessageID: "<s1@contoso>",
		MIC: "sha-256:abc", Deadline: now().Add(longLease)}
	if err := ab.AwaitMDN(ctx, d.LeaseOwner, a); err != nil {
		t.Fatalf("AwaitMDN: %v", err)
	}
	// file_out still pending: routed, not yet awaiting.
	if got := get(t, b, m.ID).Message.Status; got != msgbox.StatusRouted {
		t.Errorf("one delivery awaiting, one pending: Get status %s, want routed", got)
	}
	if got := list(msgbox.StatusAwaitingMDN, 0); len(got) != 0 {
		t.Errorf("List(awaiting_mdn) with a delivery pending = %v, want none", got)
	}
	for _, fd := range claimBatch(t, b, "srv1/w2", longLease, 10, "file_out") {
		finish(t, b, fd, delivered)
	}
	// older's delivery went too; route a third message to stay routed.
	third := routed(t, b, "third.edi", "file_out")

	want := m.ID + "=" + string(msgbox.StatusAwaitingMDN)
	if got := list("", 0); !slices.Contains(got, want) {
		t.Errorf("List() = %v, want %s in it", got, want)
	}
	if got := list(msgbox.StatusAwaitingMDN, 0); !slices.Equal(got, []string{want}) {
		t.Errorf("List(awaiting_mdn) = %v, want [%s]", got, want)
	}
	if got := list(msgbox.StatusRouted, 0); !slices.Equal(got, []string{third.ID + "=routed"}) {
		t.Errorf("List(routed) = %v, want only %s (the awaiting one shown as awaiting_mdn)", got, third.ID)
	}
	if got := list(msgbox.StatusDelivered, 1); !slices.Equal(got, []string{older.ID + "=delivered"}) {
		t.Errorf("List(delivered, 1) = %v, want [%s]", got, older.ID)
	}
	got := get(t, b, m.ID)
	if got.Message.Status != msgbox.StatusAwaitingMDN {
		t.Errorf("Get status %s, want awaiting_mdn", got.Message.Status)
	}
	for _, dl := range got.Deliveries {
		if awaits := dl.Port == "as2_out"; dl.AwaitsMDN() != awaits {
			t.Errorf("delivery to %s: state %s by %q, AwaitsMDN %v", dl.Port, dl.State, dl.LeaseOwner, dl.AwaitsMDN())
		}
		// Each was sent once, the awaiting one included.
		if dl.AttemptsMade() != 1 {
			t.Errorf("delivery to %s (%s by %q): %d attempt(s) made, %d counted; want 1 made", dl.Port, dl.State, dl.LeaseOwner, dl.AttemptsMade(), dl.Attempts)
		}
	}
	if ms, err := msgbox.Collect(ctx, b, msgbox.Filter{Status: msgbox.StatusRouted, Limit: 1}); err != nil || len(ms) != 1 || ms[0].ID != third.ID {
		t.Errorf("List(routed, limit 1) = %v, %v; want %s: the limit counts what the filter keeps", ms, err, third.ID)
	}
	finish(t, b, &msgbox.Delivery{ID: d.ID, LeaseOwner: msgbox.AwaitOwner}, delivered)
	if got := get(t, b, m.ID).Message.Status; got != msgbox.StatusDelivered {
		t.Errorf("settled: status %s, want delivered", got)
	}
	// The MDN ends the attempt that sent the message: still one.
	if got := deliveryTo(t, b, m.ID, "as2_out"); got.Attempts != 1 || got.AttemptsMade() != 1 {
		t.Errorf("settled: %d attempt(s) counted, %d made; want 1", got.Attempts, got.AttemptsMade())
	}
	if got := list(msgbox.StatusAwaitingMDN, 0); len(got) != 0 {
		t.Errorf("List(awaiting_mdn) after settling = %v, want none", got)
	}
}

// testAwaitMDNRetry: a wait whose deadline passed is a failed attempt,
// retried retry.interval later (language §9), not at once: the claim
// after the deadline records the attempt (by msgbox.AwaitOwner, outcome
// retrying, error msgbox.LeaseExpiredError, finished at the deadline) and
// leaves the delivery retrying, due at the wait's RetryAt, claiming
// nothing; the late MDN settles nothing. A RetryAt already past when the
// claim comes (no engine ran meanwhile) is taken over at once, as a wait
// without one is (no retry left: testAwaitMDN).
func testAwaitMDNRetry(t *testing.T, b msgbox.Box) {
	ab := awaiter(t, b)
	ctx := t.Context()
	expired := msgbox.LeaseExpiredError(msgbox.AwaitOwner)

	m := routed(t, b, "retry.edi", "as2_retry")
	d := claim(t, b, "srv1/w1", longLease, "as2_retry")
	deadline := now().Add(shortLease)
	retryAt := deadline.Add(time.Hour)
	if err := ab.AwaitMDN(ctx, d.LeaseOwner, msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: m.ID, Port: "as2_retry",
		AS2MessageID: "<r1@contoso>", Deadline: deadline, RetryAt: retryAt}); err != nil {
		t.Fatalf("AwaitMDN: %v", err)
	}
	sleepPast(deadline)
	if ds, err := b.ClaimBatch(ctx, "srv1/w2", []string{"as2_retry"}, longLease, 10, nil); err != nil || len(ds) != 0 {
		t.Fatalf("ClaimBatch after the deadline = %d deliveries, %v; want none: the retry is due at %s", len(ds), err, retryAt)
	}
	got := get(t, b, m.ID)
	if dl := got.Deliveries[0]; dl.State != msgbox.DeliveryRetrying || dl.Attempts != 1 || !dl.NextAttemptAt.Equal(retryAt) ||
		dl.LeaseOwner != "" || !dl.LeaseUntil.IsZero() || dl.LastError != expired {
		t.Errorf("after the deadline: %s, %d attempt(s), next at %s, lease %q until %s, last error %q; "+
			"want retrying, 1, next at %s, no lease, %q", dl.State, dl.Attempts, dl.NextAttemptAt, dl.LeaseOwner, dl.LeaseUntil,
			dl.LastError, retryAt, expired)
	}
	if got.Message.Status != msgbox.StatusRetrying {
		t.Errorf("after the deadline: status %s, want retrying", got.Message.Status)
	}
	if len(got.Attempts) != 1 {
		t.Fatalf("attempts %+v, want the wait's", got.Attempts)
	}
	if a := got.Attempts[0]; a.DeliveryID != d.ID || a.Number != 1 || a.Owner != msgbox.AwaitOwner ||
		a.Outcome != msgbox.DeliveryRetrying || a.Error != expired || !a.FinishedAt.Equal(deadline) || a.StartedAt.After(deadline) {
		t.Errorf("attempt %+v, want number 1 by %s, retrying with %q, finished at the deadline %s", a, msgbox.AwaitOwner, expired, deadline)
	}
	if !slices.ContainsFunc(got.History, func(e msgbox.Event) bool {
		return e.Port == "as2_retry" && e.Status == string(msgbox.DeliveryRetrying) && e.Detail == msgbox.AbandonedDetail(1, expired)
	}) {
		t.Errorf("history %+v has no retrying entry %q", got.History, msgbox.AbandonedDetail(1, expired))
	}
	if ms, err := msgbox.Collect(ctx, b, msgbox.Filter{Status: msgbox.StatusRetrying}); err != nil || len(ms) != 1 || ms[0].ID != m.ID {
		t.Errorf("List(retrying) = %v, %v; want %s", ms, err, m.ID)
	}
	if at, ok, err := b.NextDue(ctx, []string{"as2_retry"}); err != nil || !ok || !at.Equal(retryAt) {
		t.Errorf("NextDue = %s, %v, %v; want the retry's %s", at, ok, err, retryAt)
	}
	if n, err := b.Retrying(ctx, []string{"as2_retry"}); err != nil || n != 1 {
		t.Errorf("Retrying = %d, %v; want 1", n, err)
	}
	if err := b.Finish(ctx, d.ID, msgbox.AwaitOwner, delivered); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("Finish as the wait after its deadline: %v, want ErrLeaseLost (a late MDN settles nothing)", err)
	}
	if as, err := ab.AwaitingMDNs(ctx); err != nil || len(as) != 0 {
		t.Errorf("AwaitingMDNs after the deadline = %+v, %v; want none", as, err)
	}
	if a, err := ab.AwaitedMDN(ctx, "<r1@contoso>"); err != nil || a.State != msgbox.DeliveryRetrying {
		t.Errorf("AwaitedMDN after the deadline = %+v, %v; want the delivery retrying", a, err)
	}
	claimNone(t, b, "srv1/w3", "as2_retry")

	// No claim came between the deadline and the retry: taken over at
	// once, the wait counted once.
	down := routed(t, b, "down.edi", "as2_down")
	d = claim(t, b, "srv1/w1", longLease, "as2_down")
	deadline = now().Add(shortLease)
	if err := ab.AwaitMDN(ctx, d.LeaseOwner, msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: down.ID, Port: "as2_down",
		AS2MessageID: "<r2@contoso>", Deadline: deadline, RetryAt: deadline.Add(time.Millisecond)}); err != nil {
		t.Fatalf("AwaitMDN: %v", err)
	}
	sleepPast(deadline.Add(time.Millisecond))
	taken := claim(t, b, "srv1/w2", longLease, "as2_down")
	if taken.ID != d.ID || taken.Attempts != 1 || taken.LastError != expired {
		t.Errorf("taken over after the retry was due: delivery %d, attempts %d, last error %q", taken.ID, taken.Attempts, taken.LastError)
	}
}

// testSettleLate: an MDN that comes after its wait ended settles the
// delivery all the same (SettleLate), with the outcome it is given. A
// positive one: retrying after the timed-out wait, it becomes delivered,
// keeping the receipt, its attempts as they were, with a history entry,
// and is no longer due; a message suspended so likewise, its Reason
// cleared. A negative one:
// retrying, it becomes suspended at once with the error naming the
// disposition, the message's Reason, keeping the receipt, its attempts
// as they were, with a history entry, and is no longer due; suspended
// without a receipt, it stays suspended, keeping it and saying so; once
// it keeps one, no late MDN settles it any more. It changes nothing,
// ErrLeaseLost, for a delivery attempted since (another attempt count),
// in progress or settled; an unknown one is DeliveryNotFound; an outcome
// that is neither delivered nor suspended, or without a receipt, or a
// receipt too large, ErrInvalidOutcome.
func testSettleLate(t *testing.T, b msgbox.Box) {
	ab := awaiter(t, b)
	ctx := t.Context()
	rc := msgbox.DeliveryReceipt{ContentType: "multipart/signed", Summary: "processed; signed", Data: []byte("the late MDN")}
	pos := msgbox.Outcome{State: msgbox.DeliveryDelivered, Receipt: &rc}
	negRc := msgbox.DeliveryReceipt{ContentType: "multipart/signed", Summary: "processed/error: decryption-failed; signed",
		Data: []byte("the late negative MDN")}
	neg := msgbox.Outcome{State: msgbox.DeliverySuspended, Receipt: &negRc,
		Error: "the partner's MDN is negative: processed/error: decryption-failed"}
	// timedOut returns a delivery of port whose wait timed out, retrying
	// until retryAt (suspended when zero).
	timedOut := func(name, port string, retry bool) (msgbox.Message, *msgbox.Delivery) {
		t.Helper()
		m := routed(t, b, name, port)
		d := claim(t, b, "srv1/w1", longLease, port)
		deadline := now().Add(shortLease)
		a := msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: m.ID, Port: port, AS2MessageID: "<" + name + "@contoso>", Deadline: deadline}
		if retry {
			a.RetryAt = deadline.Add(time.Hour)
		}
		if err := ab.AwaitMDN(ctx, d.LeaseOwner, a); err != nil {
			t.Fatalf("AwaitMDN: %v", err)
		}
		sleepPast(deadline)
		if !retry {
			taken := claim(t, b, "srv1/w2", longLease, port)
			finish(t, b, taken, msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "no MDN"})
		} else {
			claimNone(t, b, "srv1/w2", port)
		}
		return m, d
	}
	// settled checks that delivery of m to port was settled late by o
	// after n attempts, as before, none due.
	settled := func(m msgbox.Message, port string, n int, before *msgbox.Detail, o msgbox.Outcome) {
		t.Helper()
		got := get(t, b, m.ID)
		dl := got.Deliveries[0]
		if dl.State != o.State || dl.Attempts != n || !dl.NextAttemptAt.IsZero() || dl.LeaseOwner != "" || dl.LastError != o.Error {
			t.Errorf("%s settled late: %s after %d attempt(s), next at %s, lease %q, last error %q; want %s after %d, none due, %q",
				port, dl.State, dl.Attempts, dl.NextAttemptAt, dl.LeaseOwner, dl.LastError, o.State, n, o.Error)
		}
		if rc := o.Receipt; dl.Receipt == nil || dl.Receipt.Summary != rc.Summary || dl.Receipt.ContentType != rc.ContentType ||
			string(dl.Receipt.Data) != string(rc.Data) {
			t.Errorf("%s settled late: receipt %+v, want %+v", port, dl.Receipt, rc)
		}
		// Delivered, the message no longer says why it was suspended.
		want, reason := msgbox.StatusDelivered, ""
		if o.State == msgbox.DeliverySuspended {
			want, reason = msgbox.StatusSuspended, msgbox.SuspendedReason(port, o.Error)
		}
		if got.Message.Status != want || got.Message.Reason != reason {
			t.Errorf("%s settled late: status %s, reason %q; want %s, %q", port, got.Message.Status, got.Message.Reason, want, reason)
		}
		if len(got.Attempts) != len(before.Attempts) {
			t.Errorf("%s settled late: %d attempts recorded, want %d as before (the MDN ends none)", port, len(got.Attempts), len(before.Attempts))
		}
		if !slices.ContainsFunc(got.History, func(e msgbox.Event) bool {
			return e.Port == port && e.Status == string(o.State) && e.Detail == msgbox.LateMDNDetail(n, o)
		}) {
			t.Errorf("%s: history %+v has no entry %q", port, got.History, msgbox.LateMDNDetail(n, o))
		}
		if n, err := b.Retrying(ctx, []string{port}); err != nil || n != 0 {
			t.Errorf("Retrying after SettleLate = %d, %v; want 0", n, err)
		}
		if _, ok, err := b.NextDue(ctx, []string{port}); err != nil || ok {
			t.Errorf("NextDue after SettleLate: due %v, %v; want nothing due", ok, err)
		}
		for _, o := range []msgbox.Outcome{pos, neg} {
			if err := ab.SettleLate(ctx, dl.ID, n, o); !errors.Is(err, msgbox.ErrLeaseLost) {
				t.Errorf("SettleLate (%s) of a delivery settled late: %v, want ErrLeaseLost", o.State, err)
			}
		}
	}

	m, d := timedOut("late.edi", "as2_late", true)
	before := get(t, b, m.ID)
	if dl := before.Deliveries[0]; dl.State != msgbox.DeliveryRetrying || dl.Attempts != 1 {
		t.Fatalf("after the timeout: %s after %d attempt(s), want retrying after 1", dl.State, dl.Attempts)
	}
	if err := ab.SettleLate(ctx, d.ID, 0, pos); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("SettleLate with another attempt count: %v, want ErrLeaseLost", err)
	}
	for _, tc := range []struct {
		name string
		o    msgbox.Outcome
	}{
		{"a receipt too large", msgbox.Outcome{State: msgbox.DeliveryDelivered, Receipt: &msgbox.DeliveryReceipt{Data: make([]byte, msgbox.MaxReceiptSize+1)}}},
		{"no receipt", msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "negative"}},
		{"a retry", msgbox.Outcome{State: msgbox.DeliveryRetrying, RetryAt: now().Add(time.Hour), Receipt: &rc}},
		{"no state", msgbox.Outcome{Receipt: &rc}},
	} {
		if err := ab.SettleLate(ctx, d.ID, 1, tc.o); !errors.Is(err, msgbox.ErrInvalidOutcome) {
			t.Errorf("SettleLate with %s: %v, want ErrInvalidOutcome", tc.name, err)
		}
	}
	if got := get(t, b, m.ID).Deliveries[0]; got.State != msgbox.DeliveryRetrying || got.Receipt != nil {
		t.Fatalf("refused SettleLate changed the delivery: %s, receipt %v", got.State, got.Receipt)
	}
	if err := ab.SettleLate(ctx, d.ID, 1, pos); err != nil {
		t.Fatalf("SettleLate: %v", err)
	}
	settled(m, "as2_late", 1, before, pos)

	// A negative MDN suspends it at once.
	m, d = timedOut("refused.edi", "as2_refused", true)
	before = get(t, b, m.ID)
	if err := ab.SettleLate(ctx, d.ID, 1, neg); err != nil {
		t.Fatalf("SettleLate of a negative MDN: %v", err)
	}
	settled(m, "as2_refused", 1, before, neg)

	// Suspended once the wait timed out without a retry left.
	m, d = timedOut("last.edi", "as2_last", false)
	before = get(t, b, m.ID)
	if err := ab.SettleLate(ctx, d.ID, 2, pos); err != nil {
		t.Fatalf("SettleLate of a suspended delivery: %v", err)
	}
	settled(m, "as2_last", 2, before, pos)
	m, d = timedOut("gaveup.edi", "as2_gaveup", false)
	before = get(t, b, m.ID)
	if err := ab.SettleLate(ctx, d.ID, 2, neg); err != nil {
		t.Fatalf("SettleLate of a suspended delivery by a negative MDN: %v", err)
	}
	settled(m, "as2_gaveup", 2, before, neg)

	// In progress: sent again.
	m = routed(t, b, "again.edi", "as2_again")
	d = claim(t, b, "srv1/w1", longLease, "as2_again")
	if err := ab.SettleLate(ctx, d.ID, 0, pos); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("SettleLate of a delivery in progress: %v, want ErrLeaseLost", err)
	}
	if got := deliveryTo(t, b, m.ID, "as2_again"); got.State != msgbox.DeliveryInProgress || got.Receipt != nil {
		t.Errorf("refused SettleLate changed the delivery in progress: %s, receipt %v", got.State, got.Receipt)
	}
	if err := ab.SettleLate(ctx, 1<<40, 0, pos); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("SettleLate of no delivery: %v, want DeliveryNotFound", err)
	}
}

// testSendingDeliveries: SendingDeliveries lists the deliveries of the
// ports asked that are in progress under any owner but msgbox.AwaitOwner
// (being sent, by any process sharing the box), and none pending,
// awaiting an MDN, settled, of another port, or whose lease has ended.
func testSendingDeliveries(t *testing.T, b msgbox.Box) {
	ab := awaiter(t, b)
	ctx := t.Context()
	sending := func(ports ...string) []int64 {
		t.Helper()
		ids, err := ab.SendingDeliveries(ctx, ports)
		if err != nil {
			t.Fatalf("SendingDeliveries(%v): %v", ports, err)
		}
		slices.Sort(ids)
		return ids
	}
	if got := sending("as2_a"); len(got) != 0 {
		t.Errorf("SendingDeliveries of an empty box = %v, want none", got)
	}
	routed(t, b, "1.edi", "as2_a", "other")
	m2 := routed(t, b, "2.edi", "as2_a")
	routed(t, b, "3.edi", "as2_b")
	routed(t, b, "4.edi", "as2_a")
	routed(t, b, "5.edi", "as2_a") // stays pending
	d1 := claim(t, b, "srv1/w1", longLease, "as2_a")
	d2 := claim(t, b, "srv1/w2", longLease, "as2_a")
	if err := ab.AwaitMDN(ctx, d2.LeaseOwner, msgbox.AwaitedMDN{DeliveryID: d2.ID, MessageID: m2.ID, Port: "as2_a",
		AS2MessageID: "<s2@contoso>", Deadline: now().Add(longLease)}); err != nil {
		t.Fatalf("AwaitMDN: %v", err)
	}
	d4 := claim(t, b, "srv1/w3", longLease, "as2_a")
	finish(t, b, d4, delivered)
	d3 := claim(t, b, "srv2/w1", longLease, "as2_b")
	other := claim(t, b, "srv1/w4", longLease, "other")

	want := []int64{d1.ID, d3.ID}
	slices.Sort(want)
	if got := sending("as2_a", "as2_b"); !slices.Equal(got, want) {
		t.Errorf("SendingDeliveries(as2_a, as2_b) = %v, want %v (not awaiting %d, delivered %d, pending, nor of port other %d)",
			got, want, d2.ID, d4.ID, other.ID)
	}
	if got := sending("as2_a"); !slices.Equal(got, []int64{d1.ID}) {
		t.Errorf("SendingDeliveries(as2_a) = %v, want [%d]", got, d1.ID)
	}
	if got := sending("other", "unknown"); !slices.Equal(got, []int64{other.ID}) {
		t.Errorf("SendingDeliveries(other, unknown) = %v, want [%d]", got, other.ID)
	}
	if got := sending(); len(got) != 0 {
		t.Errorf("SendingDeliveries of no ports = %v, want none", got)
	}
	// Its attempt over, a delivery is no longer sent.
	finish(t, b, d1, msgbox.Outcome{State: msgbox.DeliveryRetrying, Error: "refused", RetryAt: now().Add(longLease)})
	if got := sending("as2_a", "as2_b"); !slices.Equal(got, []int64{d3.ID}) {
		t.Errorf("SendingDeliveries(as2_a, as2_b) after delivery %d's attempt = %v, want [%d]", d1.ID, got, d3.ID)
	}
	// A lease that has ended: its worker is gone, nothing is being sent.
	d5 := claim(t, b, "srv3/w1", shortLease, "as2_a")
	if got := sending("as2_a"); !slices.Equal(got, []int64{d5.ID}) {
		t.Errorf("SendingDeliveries(as2_a) with delivery %d claimed = %v, want [%d]", d5.ID, got, d5.ID)
	}
	sleepPast(now().Add(shortLease))
	if got := sending("as2_a"); len(got) != 0 {
		t.Errorf("SendingDeliveries(as2_a) once the lease of delivery %d ended = %v, want none", d5.ID, got)
	}
}

// awaiter is b as a msgbox.MDNAwaiter, which every box is; t fails at
// once for one that is not.
func awaiter(t *testing.T, b msgbox.Box) msgbox.MDNAwaiter {
	t.Helper()
	ab, ok := b.(msgbox.MDNAwaiter)
	if !ok {
		t.Fatalf("%T does not keep deliveries awaiting MDNs (msgbox.MDNAwaiter)", b)
	}
	return ab
}
