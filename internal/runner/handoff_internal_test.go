package runner

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// handOff receives n messages routed to port p into box, claimed for
// r's receive (msgbox.Handoff) with lease, and hands them over.
func handOff(t *testing.T, r *Runner, box *sqlitebox.Box, n int, lease time.Duration) (batches int) {
	t.Helper()
	items := make([]msgbox.Receipt, n)
	for i := range items {
		items[i] = msgbox.Receipt{In: msgbox.Incoming{ReceiveLocation: "in", FileName: fmt.Sprintf("m%d", i)},
			Body: strings.NewReader("<m/>")}
	}
	start := time.Now()
	res := box.ReceiveHandoff(t.Context(), items, func(msgbox.Message) ([]string, string) { return []string{"p"}, "" },
		msgbox.Handoff{Owner: r.handoffOwner(), Ports: []string{"p"}, Lease: lease})
	var ds []*msgbox.Delivery
	for _, x := range res {
		if x.Err != nil {
			t.Fatal(x.Err)
		}
		ds = append(ds, x.Claimed...)
	}
	if len(ds) != n {
		t.Fatalf("%d deliveries claimed, want %d", len(ds), n)
	}
	return r.handOver(t.Context(), ds, start)
}

func handoffRunner(t *testing.T, lease time.Duration) (*Runner, *sqlitebox.Box) {
	box, err := sqlitebox.Open(filepath.Join(t.TempDir(), "box.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	r := &Runner{opts: Options{Box: box, Lease: lease}, owner: "srv1", log: slog.New(slog.DiscardHandler),
		portList: []string{"p"}}
	r.inFlight.init()
	return r, box
}

// TestHandOverBounded: the receives hand over batches of at most
// claimBatch, and at most maxHandedBatches of them that no worker
// took yet; then they leave what they route pending, until a worker takes
// one.
func TestHandOverBounded(t *testing.T) {
	r, box := handoffRunner(t, time.Minute)
	if !r.canHandOver() {
		t.Fatal("an empty queue has no room")
	}
	n := (maxHandedBatches-1)*claimBatch + 1 // the last batch holds one
	if got := handOff(t, r, box, n, time.Minute); got != maxHandedBatches {
		t.Fatalf("%d deliveries handed over in %d batches, want %d", n, got, maxHandedBatches)
	}
	if r.canHandOver() {
		t.Fatalf("%d batches queued, and room for more", maxHandedBatches)
	}
	if b := r.nextHanded(t.Context()); len(b) != claimBatch {
		t.Fatalf("took a batch of %d, want %d", len(b), claimBatch)
	}
	if !r.canHandOver() {
		t.Error("no room after a worker took a batch")
	}
}

// takeOneOver makes the first handed batch one that waited while every
// worker was busy, lets its leases expire, and has another server's claim
// take one of its deliveries over, which it returns.
func takeOneOver(t *testing.T, r *Runner, box *sqlitebox.Box, lease time.Duration) *msgbox.Delivery {
	t.Helper()
	r.handed.batches[0].claimedAt = time.Now().Add(-time.Hour)
	time.Sleep(lease + 50*time.Millisecond)
	taken, err := box.ClaimBatch(t.Context(), "srv2/w0", []string{"p"}, time.Minute, 1, nil)
	if err != nil || len(taken) != 1 {
		t.Fatalf("another server's claim took %d, %v; want one expired delivery", len(taken), err)
	}
	return taken[0]
}

// TestHandedBatchWaitedPastLease: a handed batch that waited half its
// lease or more is confirmed before it is attempted: a delivery whose
// lease expired and was taken over meanwhile is dropped (no longer in
// flight here), one still held is renewed and attempted.
func TestHandedBatchWaitedPastLease(t *testing.T) {
	const lease = 200 * time.Millisecond
	r, box := handoffRunner(t, lease)
	handOff(t, r, box, 2, lease)
	taken := takeOneOver(t, r, box, lease)
	batch := r.nextHanded(t.Context())
	if len(batch) != 1 || batch[0].d.ID == taken.ID {
		t.Fatalf("attempting %d deliveries (%v), want only the one not taken over (not %d)", len(batch), batch, taken.ID)
	}
	if d, err := box.Get(t.Context(), batch[0].d.MessageID); err != nil || d.Deliveries[0].LeaseOwner != "srv1/receive" ||
		!d.Deliveries[0].LeaseUntil.After(time.Now()) {
		t.Errorf("the delivery kept is %+v (%v), want its lease renewed for srv1/receive", d.Deliveries, err)
	}
	r.inFlight.mu.Lock()
	_, dropped := r.inFlight.flights[taken.ID]
	n := len(r.inFlight.flights)
	r.inFlight.mu.Unlock()
	if dropped || n != 1 {
		t.Errorf("in flight: %d deliveries, the one taken over among them: %v; want only the one kept", n, dropped)
	}
}

// TestHandedBatchAllTakenOver: a handed batch that kept none of its
// deliveries (all taken over while it waited) is passed over for the next
// one: a worker gets deliveries to attempt, or nothing when none is queued.
func TestHandedBatchAllTakenOver(t *testing.T) {
	const lease = 200 * time.Millisecond
	r, box := handoffRunner(t, lease)
	handOff(t, r, box, 1, lease)
	takeOneOver(t, r, box, lease)
	handOff(t, r, box, 1, time.Minute)
	if batch := r.nextHanded(t.Context()); len(batch) != 1 {
		t.Fatalf("attempting %d deliveries, want the second batch's one", len(batch))
	}
	if batch := r.nextHanded(t.Context()); batch != nil {
		t.Errorf("a batch of %d left, want none", len(batch))
	}
}
