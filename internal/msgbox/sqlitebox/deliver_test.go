package sqlitebox

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// TestClaimPreloads: a claim comes with each delivery's message and, for a
// body stored in one chunk whose checksum holds, the body (msgbox.Delivery);
// a body in a file, or one whose checksum fails, is left to Body, which
// streams it or reports the corruption.
func TestClaimPreloads(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	route := func(msgbox.Message) ([]string, string) { return []string{"p"}, "" }
	small := []byte("<order>1</order>")
	bodies := map[string][]byte{
		"small":   small,
		"empty":   {},
		"large":   mustRead(t, pattern(50, 2<<20)),
		"corrupt": []byte("<order>2</order>"),
	}
	ids := map[string]string{}
	for name, body := range bodies {
		m, _, err := b.ReceiveRouted(ctx, in(name), bytes.NewReader(body), route)
		if err != nil {
			t.Fatal(err)
		}
		ids[m.ID] = name
	}
	var corruptID string
	for id, name := range ids {
		if name == "corrupt" {
			corruptID = id
		}
	}
	if _, err := b.db.Exec("UPDATE messages SET checksum = x'00000000' WHERE id = ?", corruptID); err != nil {
		t.Fatal(err)
	}
	ds, err := b.ClaimBatch(ctx, "w", []string{"p"}, time.Minute, 10, nil)
	if err != nil || len(ds) != len(bodies) {
		t.Fatalf("claimed %d, %v; want %d", len(ds), err, len(bodies))
	}
	for _, d := range ds {
		name := ids[d.MessageID]
		want, err := b.Message(ctx, d.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Message == nil || d.Message.ID != want.ID || d.Message.Size != want.Size || d.Message.FileName != want.FileName ||
			d.Message.Properties["partner"] != "fabrikam" {
			t.Errorf("%s: preloaded message %+v, want %+v", name, d.Message, want)
		}
		switch name {
		case "small", "empty":
			if d.Body == nil || !bytes.Equal(d.Body, bodies[name]) {
				t.Errorf("%s: preloaded body %q, want %q", name, d.Body, bodies[name])
			}
		default:
			if d.Body != nil {
				t.Errorf("%s: preloaded a body (%d bytes), want it left to Body", name, len(d.Body))
			}
		}
	}
}

// TestDueAtItsInstant: a delivery is due at the very instant it is due, not
// a microsecond later nor a microsecond sooner: a pending one at its
// routing, a retrying one at its RetryAt, an in-progress one (to take over)
// at its lease's end; and NextDue says that instant. The box's clock is
// fixed, so that each claim is made exactly when it says.
func TestDueAtItsInstant(t *testing.T) {
	ctx := t.Context()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(start.UnixMicro())
	set := func(at time.Time) { clock.Store(at.UnixMicro()) }
	b := openTemp(t, Options{now: func() time.Time { return time.UnixMicro(clock.Load()).UTC() }})
	ports := []string{"p"}
	route := func(msgbox.Message) ([]string, string) { return ports, "" }
	claim := func(t *testing.T, owner string, at time.Time, want int) []*msgbox.Delivery {
		t.Helper()
		set(at)
		ds, err := b.ClaimBatch(ctx, owner, ports, time.Minute, 10, nil)
		if err != nil || len(ds) != want {
			t.Fatalf("claim by %s at %s: %d deliveries, %v; want %d", owner, at.Sub(start), len(ds), err, want)
		}
		return ds
	}
	nextDue := func(t *testing.T, want time.Time) {
		t.Helper()
		next, ok, err := b.NextDue(ctx, ports)
		if err != nil || !ok || !next.Equal(want) {
			t.Fatalf("NextDue = %v, %v, %v; want %s", next, ok, err, want.Sub(start))
		}
	}
	const tick = time.Microsecond

	// Pending: due at its routing.
	if _, _, err := b.ReceiveRouted(ctx, in("a.xml"), strings.NewReader("<a/>"), route); err != nil {
		t.Fatal(err)
	}
	nextDue(t, start)
	d := claim(t, "w1", start, 1)[0]

	// In progress: due, to another owner, at its lease's end.
	leaseEnd := start.Add(time.Minute)
	nextDue(t, leaseEnd)
	claim(t, "w2", leaseEnd.Add(-tick), 0)
	taken := claim(t, "w2", leaseEnd, 1)[0]
	if taken.ID != d.ID || taken.Attempts != 1 || taken.LastError != msgbox.LeaseExpiredError("w1") {
		t.Fatalf("taken over: %+v; want delivery %d with w1's attempt counted", taken, d.ID)
	}

	// Retrying: due at its RetryAt.
	retryAt := leaseEnd.Add(time.Hour)
	if err := b.Finish(ctx, d.ID, "w2", msgbox.Outcome{State: msgbox.DeliveryRetrying, RetryAt: retryAt, Error: "partner down"}); err != nil {
		t.Fatal(err)
	}
	nextDue(t, retryAt)
	claim(t, "w3", retryAt.Add(-tick), 0)
	if again := claim(t, "w3", retryAt, 1)[0]; again.ID != d.ID || again.Attempts != 2 {
		t.Fatalf("retried: %+v; want delivery %d at its third attempt", again, d.ID)
	}
}

// TestRenewRefusedCommitsNothing: a Renew that renews nothing (every lease
// lost, or every delivery gone) is answered without a commit, and so
// without waiting for the log's sync; one that renews something commits.
func TestRenewRefusedCommitsNothing(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	route := func(msgbox.Message) ([]string, string) { return []string{"p"}, "" }
	if _, _, err := b.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "a.xml", ContentType: "application/xml"},
		strings.NewReader("<a/>"), route); err != nil {
		t.Fatal(err)
	}
	ds, err := b.ClaimBatch(ctx, "w1", []string{"p"}, time.Minute, 1, nil)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim: %v, %v", ds, err)
	}
	before := b.commits.Load()
	errs := b.Renew(ctx, time.Minute, msgbox.Renewal{DeliveryID: ds[0].ID, Owner: "w2"}, msgbox.Renewal{DeliveryID: 1 << 40, Owner: "w1"})
	if !errors.Is(errs[0], msgbox.ErrLeaseLost) || !errors.Is(errs[1], msgbox.ErrNotFound) {
		t.Errorf("refused renewals: %v", errs)
	}
	if got := b.commits.Load(); got != before {
		t.Errorf("a Renew that renewed nothing made %d commits", got-before)
	}
	if errs := b.Renew(ctx, time.Minute, msgbox.Renewal{DeliveryID: 1 << 40, Owner: "w1"},
		msgbox.Renewal{DeliveryID: ds[0].ID, Owner: "w1"}); errs[1] != nil || !errors.Is(errs[0], msgbox.ErrNotFound) {
		t.Errorf("renewals: %v", errs)
	}
	if got := b.commits.Load(); got != before+1 {
		t.Errorf("a Renew that renewed a lease made %d commits, want 1", got-before)
	}
}
