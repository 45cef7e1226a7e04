package sqlitebox

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// The sweeps below end a claim's context after a delay that sweeps its
// work, its commit's included, as pgbox's TestClaimCancelledMidCommit
// does, and check that the claim returned every delivery it left leased to
// its owner: one it did not would be held by nobody until its lease
// expired, then counted as an attempt never made. (withWrite waits for a
// write its writer took, whatever the caller's context.)

// sweepTries is how many tries each sweep makes; sweepDelay the context's
// lifetime for try i: a claim takes well under a millisecond.
const sweepTries = 200

func sweepDelay(i int) time.Duration { return time.Duration(i%50) * 20 * time.Microsecond }

func toPortP(msgbox.Message) ([]string, string) { return []string{"p"}, "" }

// leasedTo fails try i when a delivery of message id is leased to owner
// and not among returned, and reports whether one is leased to owner.
func leasedTo(t *testing.T, b *Box, i int, id, owner string, returned map[int64]bool, report error) bool {
	t.Helper()
	got, err := b.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	leased := false
	for _, d := range got.Deliveries {
		if d.State == msgbox.DeliveryInProgress && d.LeaseOwner == owner {
			if !returned[d.ID] {
				t.Fatalf("try %d: the claim returned %v; but delivery %d is leased to %s", i, report, d.ID, owner)
			}
			leased = true
		}
	}
	return leased
}

func TestClaimCancelledMidCommit(t *testing.T) {
	t.Parallel()
	b := openTemp(t, Options{})
	ctx := t.Context()
	for i := range sweepTries {
		m, _, err := b.ReceiveRouted(ctx, in(fmt.Sprintf("m%d", i)), strings.NewReader("x"), toPortP)
		if err != nil {
			t.Fatal(err)
		}
		owner := fmt.Sprintf("w%d", i)
		cctx, cancel := context.WithTimeout(ctx, sweepDelay(i))
		ds, err := b.ClaimBatch(cctx, owner, []string{"p"}, time.Minute, 16, nil)
		cancel()
		returned := map[int64]bool{}
		for _, d := range ds {
			returned[d.ID] = err == nil
		}
		holder := owner
		if !leasedTo(t, b, i, m.ID, owner, returned, err) {
			// Settled, so that the next try's claim finds only its own.
			if ds, err = b.ClaimBatch(ctx, "settle", []string{"p"}, time.Minute, 16, nil); err != nil || len(ds) != 1 {
				t.Fatalf("try %d: settling claim = %d, %v", i, len(ds), err)
			}
			holder = "settle"
		}
		if err := b.Finish(ctx, ds[0].ID, holder, msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
			t.Fatalf("try %d: settling: %v", i, err)
		}
	}
}

func TestReceiveHandoffCancelledMidCommit(t *testing.T) {
	t.Parallel()
	b := openTemp(t, Options{})
	ctx := t.Context()
	for i := range sweepTries {
		owner := fmt.Sprintf("h%d", i)
		cctx, cancel := context.WithTimeout(ctx, sweepDelay(i))
		res := b.ReceiveHandoff(cctx, []msgbox.Receipt{
			{In: in(fmt.Sprintf("a%d", i)), Body: strings.NewReader("x")},
			{In: in(fmt.Sprintf("b%d", i)), Body: strings.NewReader("y")},
		}, toPortP, msgbox.Handoff{Owner: owner, Ports: []string{"p"}, Lease: time.Minute})
		cancel()
		returned := map[int64]bool{}
		for _, r := range res {
			for _, d := range r.Claimed {
				returned[d.ID] = r.Err == nil
			}
		}
		err := b.List(ctx, msgbox.Filter{}, func(m msgbox.Message) error {
			if m.FileName == fmt.Sprintf("a%d", i) || m.FileName == fmt.Sprintf("b%d", i) {
				leasedTo(t, b, i, m.ID, owner, returned, res[0].Err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
