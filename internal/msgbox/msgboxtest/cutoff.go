package msgboxtest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testTerminateCutOff: Terminate of a message with a delivery in progress
// that it may end (a lease expired, or a wait for an asynchronous MDN)
// records that delivery's attempt, in the transaction that ends it, as the
// takeover of an expired lease does: counted in the delivery's Attempts
// and LastError, an attempt by the lease owner (outcome retrying, started
// at the claim) with msgbox.CutOffAttempt's error and end, and a retrying
// entry in the history (msgbox.AbandonedDetail) before the terminated
// ones. The attempt may have placed its file or begun sending: the late
// owner's Finish gets ErrLeaseLost, so nothing else would record it. A
// wait whose deadline is still to come is not told as timed out.
// Deliveries not in progress gain no attempt.
func testTerminateCutOff(t *testing.T, b msgbox.Box) {
	ab := awaiter(t, b)
	ctx := t.Context()
	tests := []struct {
		name string
		// setup claims the delivery to port "a" of m, a second time, and
		// leaves it in progress under the lease of the returned owner
		// until the returned time, past or not.
		setup func(t *testing.T, m msgbox.Message) (owner string, until time.Time)
		err   string
		// cut: the attempt ends when Terminate runs, not when the lease
		// does (a deadline still to come).
		cut bool
	}{
		{"expired lease", func(t *testing.T, m msgbox.Message) (string, time.Time) {
			d := claim(t, b, "srvA/w1", shortLease, "a")
			sleepPast(d.LeaseUntil)
			return d.LeaseOwner, d.LeaseUntil
		}, msgbox.LeaseExpiredError("srvA/w1"), false},
		{"awaiting its MDN", func(t *testing.T, m msgbox.Message) (string, time.Time) {
			d := claim(t, b, "srvA/w1", longLease, "a")
			a := msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: m.ID, Port: "a", AS2MessageID: "<cut-" + m.ID + "@contoso>",
				Deadline: now().Add(time.Hour), RetryAt: now().Add(2 * time.Hour)}
			if err := ab.AwaitMDN(ctx, d.LeaseOwner, a); err != nil {
				t.Fatalf("AwaitMDN: %v", err)
			}
			return msgbox.AwaitOwner, a.Deadline
		}, msgbox.TerminatedAwaitingMDNError, true},
		{"MDN timed out", func(t *testing.T, m msgbox.Message) (string, time.Time) {
			d := claim(t, b, "srvA/w1", longLease, "a")
			a := msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: m.ID, Port: "a", AS2MessageID: "<late-" + m.ID + "@contoso>",
				Deadline: now().Add(shortLease), RetryAt: now().Add(time.Hour)}
			if err := ab.AwaitMDN(ctx, d.LeaseOwner, a); err != nil {
				t.Fatalf("AwaitMDN: %v", err)
			}
			sleepPast(a.Deadline)
			return msgbox.AwaitOwner, a.Deadline
		}, msgbox.MDNTimedOutError, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := routed(t, b, "cut.edi", "a", "b")
			// A first attempt failed, so that the one cut off is the second.
			finish(t, b, claim(t, b, "srvA/w0", longLease, "a"), retrying(now(), "partner down"))
			owner, until := tc.setup(t, m)
			before := now()
			if err := b.Terminate(ctx, m.ID); err != nil {
				t.Fatalf("Terminate: %v", err)
			}
			after := now()
			got := get(t, b, m.ID)
			if got.Message.Status != msgbox.StatusTerminated {
				t.Errorf("status %s, want terminated", got.Message.Status)
			}
			if dl := deliveryTo(t, b, m.ID, "a"); dl.State != msgbox.DeliveryTerminated || dl.Attempts != 2 ||
				dl.AttemptsMade() != 2 || dl.LastError != tc.err {
				t.Errorf("delivery to a: %s, %d attempt(s) counted, %d made, last error %q; want terminated, 2, 2, %q",
					dl.State, dl.Attempts, dl.AttemptsMade(), dl.LastError, tc.err)
			}
			if dl := deliveryTo(t, b, m.ID, "b"); dl.State != msgbox.DeliveryTerminated || dl.Attempts != 0 {
				t.Errorf("delivery to b, never claimed: %s, %d attempt(s); want terminated, 0", dl.State, dl.Attempts)
			}
			if len(got.Attempts) != 2 {
				t.Fatalf("attempts %+v, want the failed one and the one cut off", got.Attempts)
			}
			a := got.Attempts[1]
			if a.Port != "a" || a.Number != 2 || a.Owner != owner || a.Outcome != msgbox.DeliveryRetrying || a.Error != tc.err {
				t.Errorf("attempt cut off: %+v; want number 2 to a by %s, retrying, %q", a, owner, tc.err)
			}
			if a.StartedAt.After(a.FinishedAt) || a.StartedAt.Before(got.Attempts[0].FinishedAt) {
				t.Errorf("attempt cut off: started %s, finished %s; want started at its claim, after attempt 1 (%s)",
					a.StartedAt, a.FinishedAt, got.Attempts[0].FinishedAt)
			}
			if tc.cut {
				inWindow(t, "attempt cut off: finished", a.FinishedAt, before, after)
			} else if !a.FinishedAt.Equal(until) {
				t.Errorf("attempt cut off finished at %s, want %s, when its lease ended", a.FinishedAt, until)
			}
			// The history: the claim, the attempt, then the terminated entries.
			cut := slices.IndexFunc(got.History, func(e msgbox.Event) bool {
				return e.Port == "a" && e.Status == string(msgbox.DeliveryRetrying) && e.Detail == msgbox.AbandonedDetail(2, tc.err)
			})
			ended := slices.IndexFunc(got.History, func(e msgbox.Event) bool { return e.Status == string(msgbox.StatusTerminated) })
			if cut < 0 || ended < cut {
				t.Errorf("history %+v: want %q before the terminated entries", got.History, msgbox.AbandonedDetail(2, tc.err))
			} else {
				inWindow(t, "the attempt's history entry", got.History[cut].At, before, after)
			}
			// The late owner's word changes nothing.
			d := got.Deliveries[slices.IndexFunc(got.Deliveries, func(d msgbox.Delivery) bool { return d.Port == "a" })]
			if err := b.Finish(ctx, d.ID, owner, delivered); !errors.Is(err, msgbox.ErrLeaseLost) {
				t.Errorf("Finish by %s after Terminate: %v, want ErrLeaseLost", owner, err)
			}
			if n := len(get(t, b, m.ID).Attempts); n != 2 {
				t.Errorf("%d attempts after the late Finish, want 2", n)
			}
		})
	}
}
