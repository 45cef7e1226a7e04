package msgboxtest

import (
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testRelease: Release returns the deliveries of the ids given that the
// owner holds in progress to the pool, due now, counting no attempt:
// pending when none was made before, retrying (with the earlier error)
// when one was; with a history entry saying the attempt was not made. It
// passes over an id another owner holds, one not in progress and one that
// does not exist, and a second Release finds nothing.
func testRelease(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m1 := routed(t, b, "m1", "a", "b")
	m2 := routed(t, b, "m2", "c")
	m3 := routed(t, b, "m3", "d")
	m4 := routed(t, b, "m4", "e")

	fresh := claim(t, b, "srv1/w1", longLease, "a")
	finish(t, b, claim(t, b, "srv1/w1", longLease, "c"), retrying(time.Now(), "first try failed"))
	again := claim(t, b, "srv1/w1", longLease, "c") // in progress after one attempt
	other := claim(t, b, "srv1/w2", longLease, "d") // another owner's
	settled := claim(t, b, "srv1/w1", longLease, "e")
	finish(t, b, settled, msgbox.Outcome{State: msgbox.DeliveryDelivered})

	before := now()
	n, err := b.Release(ctx, "srv1/w1", []int64{fresh.ID, again.ID, other.ID, settled.ID, 1 << 40})
	after := now()
	if err != nil || n != 2 {
		t.Fatalf("Release = %d, %v; want 2 (a, c)", n, err)
	}
	for _, tc := range []struct {
		msg      msgbox.Message
		port     string
		state    msgbox.DeliveryState
		attempts int
		lastErr  string
		status   msgbox.Status
	}{
		{m1, "a", msgbox.DeliveryPending, 0, "", msgbox.StatusRouted},
		{m2, "c", msgbox.DeliveryRetrying, 1, "first try failed", msgbox.StatusRetrying},
	} {
		d := deliveryTo(t, b, tc.msg.ID, tc.port)
		if d.State != tc.state || d.LeaseOwner != "" || !d.LeaseUntil.IsZero() || d.Attempts != tc.attempts ||
			d.LastError != tc.lastErr {
			t.Errorf("released delivery to %s = %+v, want %s, no lease, %d attempts, last error %q",
				tc.port, d, tc.state, tc.attempts, tc.lastErr)
		}
		inWindow(t, "released NextAttemptAt", d.NextAttemptAt, before, after)
		wantStatus(t, b, tc.msg.ID, tc.status)
		detail := get(t, b, tc.msg.ID)
		var made int
		for _, a := range detail.Attempts {
			if a.DeliveryID == d.ID {
				made++
			}
		}
		if made != tc.attempts {
			t.Errorf("delivery to %s has %d attempt records after Release, want %d", tc.port, made, tc.attempts)
		}
		var last *msgbox.Event
		for i := range detail.History {
			if detail.History[i].Port == tc.port {
				last = &detail.History[i]
			}
		}
		if want := msgbox.ReleasedDetail(tc.attempts+1, "srv1/w1"); last == nil || last.Status != string(tc.state) ||
			last.Detail != want || !strings.Contains(want, "srv1/w1") {
			t.Errorf("last event of %s = %+v, want %s, %q", tc.port, last, tc.state, want)
		}
	}
	if d := deliveryTo(t, b, m1.ID, "b"); d.State != msgbox.DeliveryPending || d.Attempts != 0 {
		t.Errorf("Release changed a delivery it was not given: %+v", d)
	}
	if d := deliveryTo(t, b, m3.ID, "d"); d.State != msgbox.DeliveryInProgress || d.LeaseOwner != "srv1/w2" {
		t.Errorf("Release(srv1/w1) changed srv1/w2's delivery: %+v", d)
	}
	if d := deliveryTo(t, b, m4.ID, "e"); d.State != msgbox.DeliveryDelivered || d.Attempts != 1 {
		t.Errorf("Release changed a delivered delivery: %+v", d)
	}
	// Due at once: a claim takes them again, as the next attempt.
	if d := claim(t, b, "srv1/w3", longLease, "c"); d == nil || d.ID != again.ID || d.Attempts != 1 {
		t.Errorf("claim after Release = %+v, want delivery %d with 1 attempt", d, again.ID)
	}
	// a is pending, c srv1/w3's: neither is srv1/w1's any more.
	if n, err := b.Release(ctx, "srv1/w1", []int64{fresh.ID, again.ID}); err != nil || n != 0 {
		t.Errorf("second Release = %d, %v; want 0", n, err)
	}
	if n, err := b.Release(ctx, "srv1/w1", nil); err != nil || n != 0 {
		t.Errorf("Release of nothing = %d, %v; want 0", n, err)
	}
	if _, err := b.Release(ctx, "", []int64{fresh.ID}); err == nil {
		t.Error("Release without an owner succeeded")
	}
}
