package sqlitebox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// The sweeps below end an operation's context after a delay that sweeps
// its work, its commit's included, as pgbox's sweeps do, and check that
// the box is as the call said. withWrite waits for a write its writer
// took, whatever the caller's context, so that an error means nothing was
// committed (a failed log sync's aside, msgbox.ErrCommitUncertain, which
// these do not provoke): a claim that left deliveries leased to its owner
// without returning them would leave them held by nobody until the lease
// expired, then counted as an attempt never made; a receive that said it
// did not store a message it stored would have it stored twice by the
// retry.

// sweepTries is how many tries each sweep makes.
const sweepTries = 200

// sweepReached is how many of a sweep's tries at least must end past the
// commit: the operation's change found committed although its context
// had ended when the call returned, the end coming after the writer took
// the write. A sweep whose contexts all end before the writer takes it,
// or only once the call has returned, under load, tests nothing.
const sweepReached = 10

// sweepDelay is the context's lifetime for try i of a sweep of an
// operation that takes about took uncancelled: from nothing to a little
// more than took, whatever the machine's speed and load.
func sweepDelay(i int, took time.Duration) time.Duration { return took * time.Duration(i%40) / 24 }

// calibrate returns how long run takes uncancelled: the median of five
// runs, each after prepare, which is not timed (as a try's setup is not).
func calibrate(prepare, run func()) time.Duration {
	var took [5]time.Duration
	for k := range took {
		prepare()
		start := time.Now()
		run()
		took[k] = time.Since(start)
	}
	slices.Sort(took[:])
	return took[2]
}

// sweepTally is what a sweep saw: the outcomes of its tries, how many of
// them ended past the commit (see sweepReached), and the operation's time
// uncancelled (calibrate).
type sweepTally struct {
	outcomes map[string]int
	reached  int
	took     time.Duration
}

// try counts one try whose call returned err, and which ended past the
// commit when its context had ended by the call's return (ended) and its
// change is committed (done).
func (s *sweepTally) try(err error, ended, done bool) {
	switch {
	case err == nil:
		s.outcomes["ok"]++
	case errors.Is(err, msgbox.ErrCommitUncertain):
		s.outcomes["uncertain"]++
	default:
		s.outcomes["error"]++
	}
	if ended && done {
		s.reached++
	}
}

func (s *sweepTally) String() string {
	return fmt.Sprintf("outcomes: %v, past the commit: %d (uncancelled: %v)", s.outcomes, s.reached, s.took)
}

// check fails the sweep of what when fewer than sweepReached of its tries
// ended past the commit.
func (s *sweepTally) check(t *testing.T, what string) {
	t.Helper()
	if s.reached < sweepReached {
		t.Fatalf("%s: the sweep did not reach the commit: %d of %d tries ended past it, want %d at least (%v)",
			what, s.reached, sweepTries, sweepReached, s)
	}
}

// settled returns once every write the writer took is committed: a write
// of nothing, queued after them, is answered after their commit. With
// withWrite as it should be there is none left by then; one that returned
// early would have its write looked at before it committed.
func settled(t *testing.T, b *Box) {
	t.Helper()
	if err := emptyWrite(t.Context(), b); err != nil {
		t.Fatal(err)
	}
}

// counted runs query, a SELECT count(*), on the box's database.
func counted(t *testing.T, b *Box, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// leasedTo returns the deliveries of the messages named names that are in
// progress, leased to owner.
func leasedTo(t *testing.T, b *Box, owner string, names ...string) []int64 {
	t.Helper()
	rows, err := b.db.QueryContext(t.Context(), `SELECT d.id FROM deliveries d JOIN messages m ON m.id = d.message_id
		WHERE d.state = 'in_progress' AND d.lease_owner = ? AND m.file_name IN (SELECT value FROM json_each(?))`,
		owner, textsJSON(names))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func toPortP(msgbox.Message) ([]string, string) { return []string{"p"}, "" }

// TestClaimCancelledMidCommit: a claim whose context ends at any instant
// returns every delivery it leased to its owner, and returns none it did
// not.
func TestClaimCancelledMidCommit(t *testing.T) {
	t.Parallel()
	b := openTemp(t, Options{})
	ctx := t.Context()
	// setup receives message name, routed to port p, alone due there: it
	// takes out of the way a delivery an earlier claim left pending.
	setup := func(name string) {
		for {
			ds, err := b.ClaimBatch(ctx, "settle", []string{"p"}, time.Hour, 16, nil)
			if err != nil {
				t.Fatalf("settling claim: %v", err)
			}
			if len(ds) == 0 {
				break
			}
		}
		if _, _, err := b.ReceiveRouted(ctx, in(name), strings.NewReader("x"), toPortP); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(ctx context.Context, owner string) ([]*msgbox.Delivery, error) {
		return b.ClaimBatch(ctx, owner, []string{"p"}, time.Minute, 16, nil)
	}
	s := sweepTally{outcomes: map[string]int{}}
	s.took = calibrate(func() { setup("calibrating") }, func() {
		if ds, err := claim(ctx, "calibrating"); err != nil || len(ds) != 1 {
			t.Fatalf("ClaimBatch uncancelled = %d, %v", len(ds), err)
		}
	})
	defer func() { t.Log(&s) }()
	for i := range sweepTries {
		name, owner := fmt.Sprintf("m%d", i), fmt.Sprintf("w%d", i)
		setup(name)
		cctx, cancel := context.WithTimeout(ctx, sweepDelay(i, s.took))
		ds, err := claim(cctx, owner)
		ended := cctx.Err() != nil
		cancel()
		settled(t, b)
		held := leasedTo(t, b, owner, name)
		switch {
		case err == nil && (len(ds) != len(held) || len(ds) > 0 && ds[0].ID != held[0]):
			t.Fatalf("try %d: ClaimBatch returned %d deliveries, nil; but %v are leased to %s", i, len(ds), held, owner)
		case err != nil && len(held) > 0:
			t.Fatalf("try %d: ClaimBatch = %v; but delivery %d is leased to %s", i, err, held[0], owner)
		}
		s.try(err, ended, len(held) > 0)
	}
	s.check(t, "ClaimBatch")
}

// TestReceiveHandoffCancelledMidCommit: a receive that claims what it
// routes (ReceiveHandoff), whose context ends at any instant, reports
// stored the messages it stored and no others, and returns every delivery
// it leased to its owner.
func TestReceiveHandoffCancelledMidCommit(t *testing.T) {
	t.Parallel()
	b := openTemp(t, Options{})
	ctx := t.Context()
	receive := func(ctx context.Context, i int, owner string) []msgbox.ReceiveResult {
		return b.ReceiveHandoff(ctx, []msgbox.Receipt{
			{In: in(fmt.Sprintf("a%d", i)), Body: strings.NewReader("x")},
			{In: in(fmt.Sprintf("b%d", i)), Body: strings.NewReader("y")},
		}, toPortP, msgbox.Handoff{Owner: owner, Ports: []string{"p"}, Lease: time.Minute})
	}
	s := sweepTally{outcomes: map[string]int{}}
	s.took = calibrate(func() {}, func() {
		for _, r := range receive(ctx, -1, "calibrating") {
			if r.Err != nil {
				t.Fatalf("ReceiveHandoff uncancelled: %v", r.Err)
			}
		}
	})
	defer func() { t.Log(&s) }()
	for i := range sweepTries {
		owner := fmt.Sprintf("h%d", i)
		cctx, cancel := context.WithTimeout(ctx, sweepDelay(i, s.took))
		res := receive(cctx, i, owner)
		ended := cctx.Err() != nil
		cancel()
		settled(t, b)
		returned := map[int64]bool{}
		stored := false
		for k, r := range res {
			name := fmt.Sprintf("%c%d", 'a'+k, i)
			n := counted(t, b, "SELECT count(*) FROM messages WHERE file_name = ?", name)
			switch {
			case r.Err == nil && n != 1:
				t.Fatalf("try %d: ReceiveHandoff stored %s, nil; but %d such messages are in the box", i, name, n)
			case r.Err != nil && n != 0:
				t.Fatalf("try %d: ReceiveHandoff did not store %s: %v; but it is in the box", i, name, r.Err)
			}
			stored = stored || n > 0
			for _, d := range r.Claimed {
				returned[d.ID] = r.Err == nil
			}
		}
		for _, id := range leasedTo(t, b, owner, fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)) {
			if !returned[id] {
				t.Fatalf("try %d: ReceiveHandoff = %v, %v; but delivery %d is leased to %s", i, res[0].Err, res[1].Err, id, owner)
			}
		}
		s.try(errors.Join(res[0].Err, res[1].Err), ended, stored)
	}
	s.check(t, "ReceiveHandoff")
}
