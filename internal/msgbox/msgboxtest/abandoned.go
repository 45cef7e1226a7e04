package msgboxtest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// RunAbandoned tests that a box tells the msgbox.AbandonedFunc it was
// opened with of each attempt it records as failed on its own, once, after
// recording it, by the delivery's port and the attempt's number (the
// delivery's attempts, this one included, which the run engine compares
// with the port's retry policy): an expired lease ClaimBatch takes
// over, an asynchronous MDN's wait whose deadline passed (left retrying),
// each delivery Recover returns to the pool; and of nothing else (a
// delivery claimed fresh or finished by its owner, a Recover that finds
// nothing, the attempt Terminate records). open must return a new, empty box that calls told.
func RunAbandoned(t *testing.T, open func(t *testing.T, told msgbox.AbandonedFunc) msgbox.Box) {
	var mu sync.Mutex
	var ports []string // "port#attempt"
	b := open(t, func(a msgbox.Abandoned) {
		mu.Lock()
		ports = append(ports, fmt.Sprintf("%s#%d", a.Port, a.Attempt))
		mu.Unlock()
	})
	ctx := t.Context()
	want := func(step string, w ...string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(ports, w) {
			t.Fatalf("%s: told of abandoned attempts on %q, want %q", step, ports, w)
		}
	}

	// An expired lease taken over; a fresh claim and the owner's own
	// Finish are not told.
	routed(t, b, "slow", "a")
	first := claim(t, b, "crashed", shortLease, "a")
	want("a fresh claim")
	sleepPast(first.LeaseUntil)
	second := claim(t, b, "rescuer", longLease, "a")
	want("the expired lease taken over", "a#1")
	finish(t, b, second, msgbox.Outcome{State: msgbox.DeliveryRetrying, Error: "partner down", RetryAt: now()})
	want("a failure its owner recorded", "a#1")

	// A wait for an MDN past its deadline, left retrying until RetryAt.
	m := routed(t, b, "wait.edi", "as2")
	d := claim(t, b, "srv1/w1", longLease, "as2")
	deadline := now().Add(shortLease)
	if err := awaiter(t, b).AwaitMDN(ctx, d.LeaseOwner, msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: m.ID, Port: "as2",
		AS2MessageID: "<abandoned@contoso>", Deadline: deadline, RetryAt: deadline.Add(time.Hour)}); err != nil {
		t.Fatalf("AwaitMDN: %v", err)
	}
	sleepPast(deadline)
	claimNone(t, b, "srv1/w2", "as2")
	want("the MDN's wait timed out", "a#1", "as2#1")
	claimNone(t, b, "srv1/w2", "as2")
	want("a second claim of the same", "a#1", "as2#1")

	// Recover: each delivery its owner's workers held, once.
	routed(t, b, "both", "r1", "r2")
	claim(t, b, "srv9/w0", longLease, "r1")
	claim(t, b, "srv9/w1", longLease, "r2")
	if n, err := b.Recover(ctx, "srv9"); err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v; want 2", n, err)
	}
	want("Recover", "a#1", "as2#1", "r1#1", "r2#1")
	if n, err := b.Recover(ctx, "srv9"); err != nil || n != 0 {
		t.Fatalf("second Recover = %d, %v; want 0", n, err)
	}
	again := claim(t, b, "srv9/w0", longLease, "r1", "r2")
	want("a second Recover and a claim of what it returned", "a#1", "as2#1", "r1#1", "r2#1")
	// Its second attempt, numbered after the first.
	if n, err := b.Recover(ctx, "srv9"); err != nil || n != 1 {
		t.Fatalf("third Recover = %d, %v; want 1", n, err)
	}
	want("a Recover of a second attempt", "a#1", "as2#1", "r1#1", "r2#1", again.Port+"#2")

	// Terminate records the attempt of an expired lease it ends, but the
	// delivery is never tried again: not a retry to tell.
	ended := routed(t, b, "ended", "t")
	cut := claim(t, b, "srv9/w0", shortLease, "t")
	sleepPast(cut.LeaseUntil)
	if err := b.Terminate(ctx, ended.ID); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	want("Terminate of an expired lease", "a#1", "as2#1", "r1#1", "r2#1", again.Port+"#2")
}
