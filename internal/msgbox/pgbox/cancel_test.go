//go:build linux

package pgbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/pgtest"
)

// The sweeps below end an operation's context after a delay that sweeps
// its round trips, its commit's included, and check that the box is as
// the call said: done when it returned nil, not done when it returned an
// error that does not say the commit is in doubt (msgbox.ErrCommitUncertain).

// sweepTries is how many tries each sweep makes.
const sweepTries = 200

// sweepReached is how many of a sweep's tries at least must end past the
// operation's commit (its effect in the box, or the call saying the commit
// is in doubt): a sweep whose contexts all end before the commit, under
// load, tests nothing. About two tries in five do when the calibration
// holds (sweepDelay reaches past took).
const sweepReached = 10

// checkReached fails a sweep of what fewer than sweepReached of whose
// tries ended past the commit.
func checkReached(t *testing.T, what string, reached int, tally map[string]int, took time.Duration) {
	t.Helper()
	if reached < sweepReached {
		t.Fatalf("%s: the sweep did not reach the commit: %d of %d tries ended past it, want %d at least (outcomes: %v, uncancelled: %v)",
			what, reached, sweepTries, sweepReached, tally, took)
	}
}

// sweepDelay is the context's lifetime for try i of a sweep of an
// operation that takes about took uncancelled: from nothing to a little
// more than took, whatever the machine's speed and load.
func sweepDelay(i int, took time.Duration) time.Duration { return took * time.Duration(i%40) / 24 }

// calibrate returns how long run takes uncancelled: the median of five
// runs, each after prepare (when not nil; not timed, as a try's setup is
// not) and on a new connection as every try (see fresh).
func calibrate(t *testing.T, b *Box, prepare, run func()) time.Duration {
	t.Helper()
	var took [5]time.Duration
	for k := range took {
		if prepare != nil {
			prepare()
		}
		fresh(t, b)
		start := time.Now()
		run()
		took[k] = time.Since(start)
	}
	slices.Sort(took[:])
	return took[2]
}

// quiesce waits until the server has ended every session of the test's
// database but conn's and the sweep's setup box's (setupApp), once the box's pool has closed its connections (a
// cancelled try's own is closed already). A session ends only after it
// has read all its client sent: a cancelled try's server side has then
// run whatever reached it, and committed or rolled back. A session's
// state tells less: one yet to read what its client sent last (the client
// gone right after sending it) shows idle, then runs it. A cancelled
// claim so held its delivery locked while the next try's settling claim
// stepped over it (SKIP LOCKED), and that try's claim took two.
func quiesce(t *testing.T, b *Box, conn *pgx.Conn) {
	t.Helper()
	b.pool.Reset()
	for end := time.Now().Add(deadline); ; time.Sleep(time.Millisecond) {
		var open int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
				AND application_name <> $1`, setupApp).Scan(&open); err != nil {
			t.Fatalf("looking at the sessions: %v", err)
		}
		if open == 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%d sessions still open after %v", open, deadline)
		}
	}
}

// setupApp is the application_name of the sessions of a sweep's setup
// box, which quiesce leaves open.
const setupApp = "bizpipe-sweep-setup"

// fresh has the pool hold one open connection, new: the previous try's
// cancellation closes the one it ran on, so that every try and the
// calibration start alike, on a connection whose statements are not
// prepared yet, and the sweep's delays are spent on the operation's round
// trips, not on connecting.
func fresh(t *testing.T, b *Box) {
	t.Helper()
	b.pool.Reset()
	if _, _, err := b.NextDue(t.Context(), []string{"p"}); err != nil {
		t.Fatal(err)
	}
}

// TestReceiveHandoffCancelledMidCommit: a receive that claims what it
// routes (ReceiveHandoff) must not leave leases with its owner that it
// does not return, as ClaimBatch must not (TestClaimCancelledMidCommit):
// they would be held by nobody until they expire, then each counted as
// an attempt never made. Before, the look for what a commit cut short
// stored ran on the ended context, failed, and the receive reported its
// commit in doubt with the deliveries leased; and a look that ran before
// the server had run the late COMMIT found nothing, and the receive
// reported the messages not stored.
func TestReceiveHandoffCancelledMidCommit(t *testing.T) {
	t.Parallel()
	b, url := openNew(t, Options{})
	conn := pgtest.Connect(t, url)
	ctx := t.Context()
	route := func(msgbox.Message) ([]string, string) { return []string{"p"}, "" }
	receive := func(ctx context.Context, name, owner string) []msgbox.ReceiveResult {
		return b.ReceiveHandoff(ctx, []msgbox.Receipt{
			{In: incoming("a" + name), Body: strings.NewReader("x")},
			{In: incoming("b" + name), Body: strings.NewReader("y")},
		}, route, msgbox.Handoff{Owner: owner, Ports: []string{"p"}, Lease: time.Minute})
	}
	took := calibrate(t, b, nil, func() { receive(ctx, "calibrating", "calibrating") })
	tally := map[string]int{}
	// reached counts the tries that ended past the commit, cut those of
	// them whose context had ended when the call returned: the others
	// ran to their end uncancelled.
	reached, cut := 0, 0
	defer func() {
		t.Logf("outcomes: %v, past the commit: %d (cancelled: %d) (uncancelled: %v)", tally, reached, cut, took)
	}()
	for i := range sweepTries {
		owner := fmt.Sprintf("h%d", i)
		fresh(t, b)
		cctx, cancel := context.WithTimeout(ctx, sweepDelay(i, took))
		res := receive(cctx, strconv.Itoa(i), owner)
		ended := cctx.Err() != nil
		cancel()
		quiesce(t, b, conn)
		tally[classify(res[0].Err)]++
		returned := map[int64]bool{}
		for _, r := range res {
			for _, d := range r.Claimed {
				if r.Err == nil {
					returned[d.ID] = true
				}
			}
		}
		rows, err := conn.Query(ctx, `SELECT id FROM deliveries WHERE state = 'in_progress' AND lease_owner = $1`, owner)
		if err != nil {
			t.Fatal(err)
		}
		held, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range held {
			if !returned[id] {
				t.Fatalf("try %d: ReceiveHandoff = %v, %v; but delivery %d is leased to %s", i, res[0].Err, res[1].Err, id, owner)
			}
		}
		past := len(held) > 0
		for _, r := range res {
			if r.Err == nil && !exists(t, conn, "SELECT 1 FROM messages WHERE id = $1", r.Message.ID) {
				t.Fatalf("try %d: ReceiveHandoff returned %s as stored, but it is not", i, r.Message.ID)
			}
			past = past || r.Err == nil || errors.Is(r.Err, msgbox.ErrCommitUncertain)
		}
		if past {
			reached++
			cut += count(ended)
		}
	}
	checkReached(t, "ReceiveHandoff", reached, tally, took)
}

// count is 1 for true, 0 for false.
func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

// classify names err's kind for a sweep's tally.
func classify(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, msgbox.ErrCommitUncertain):
		return "uncertain"
	default:
		return "error"
	}
}

// exists reports whether query finds a row.
func exists(t *testing.T, conn *pgx.Conn, query string, args ...any) bool {
	t.Helper()
	var found bool
	if err := conn.QueryRow(t.Context(), "SELECT EXISTS ("+query+")", args...).Scan(&found); err != nil {
		t.Fatal(err)
	}
	return found
}

// claimError is the error of a claim that returned nothing it took: for a
// claim, a commit in doubt does not excuse an effect in the box (the
// claim's leases, held by nobody), which checkReport then reports as such.
type claimError struct{ err error }

func (e *claimError) Error() string { return e.err.Error() }

func (e *claimError) Unwrap() error { return e.err }

// checkReport fails try i of what when the call's err disagrees with done,
// whether the box holds its effect.
func checkReport(t *testing.T, what string, i int, err error, done bool) {
	t.Helper()
	var claim *claimError
	switch {
	case err == nil && !done:
		t.Fatalf("try %d: %s returned nil, but its effect is not in the box", i, what)
	case errors.As(err, &claim) && done:
		t.Fatalf("try %d: %s = %v; but it took what it did not return: a claim returns what it took, its commit in doubt or not", i, what, err)
	case err != nil && done && !errors.Is(err, msgbox.ErrCommitUncertain):
		t.Fatalf("try %d: %s = %v, without saying the commit is in doubt; but its effect is in the box", i, what, err)
	}
}

// sweep runs op sweepTries times on a context that ends after sweepDelay,
// each time on what setup made for it, and checks the call's report
// against done (see checkReport), once the cancelled try's server side is
// over. setup runs on a box of its own on the same database, whose
// connection stays open from try to try: on op's box, whose connections
// quiesce closes, each setup started on a new connection, its statements
// prepared anew, which took half a sweep's time under load; op's box
// still starts each try on a new connection (fresh).
func sweep[S any](t *testing.T, what string, setup func(b *Box, i int) S, op func(ctx context.Context, b *Box, s S) error,
	done func(conn *pgx.Conn, s S) bool) {
	b, url := openNew(t, Options{})
	conn := pgtest.Connect(t, url)
	sb := openURL(t, url+"&application_name="+setupApp, Options{})
	var cs S
	took := calibrate(t, b, func() { cs = setup(sb, -1) }, func() {
		if err := op(t.Context(), b, cs); err != nil {
			t.Fatalf("%s uncancelled: %v", what, err)
		}
	})
	tally := map[string]int{}
	// reached counts the tries that ended past the commit, cut those of
	// them whose context had ended when the call returned: the others
	// ran to their end uncancelled.
	reached, cut := 0, 0
	defer func() {
		t.Logf("outcomes: %v, past the commit: %d (cancelled: %d) (uncancelled: %v)", tally, reached, cut, took)
	}()
	for i := range sweepTries {
		s := setup(sb, i)
		fresh(t, b)
		cctx, cancel := context.WithTimeout(t.Context(), sweepDelay(i, took))
		err := op(cctx, b, s)
		ended := cctx.Err() != nil
		cancel()
		quiesce(t, b, conn)
		tally[classify(err)]++
		isDone := done(conn, s)
		checkReport(t, what, i, err, isDone)
		if isDone || errors.Is(err, msgbox.ErrCommitUncertain) {
			reached++
			cut += count(ended)
		}
	}
	checkReached(t, what, reached, tally, took)
}

// TestReceiveChunksCancelledMidCommit: a receive of a body larger than a
// chunk, which a batch leaves to ReceiveRouted's transaction of several
// round trips (store), looks on its own after a lost COMMIT whether the
// message was stored (it cannot read its body again to retry). It must
// report stored only what is, and not stored only what is not: a receive
// that said it did not store a message it stored has the source give it
// again, stored twice.
func TestReceiveChunksCancelledMidCommit(t *testing.T) {
	t.Parallel()
	body := make([]byte, ChunkSize+1)
	sweep(t, "ReceiveHandoff of two chunks", func(b *Box, i int) string { return fmt.Sprintf("big%d", i) },
		func(ctx context.Context, b *Box, name string) error {
			res := b.ReceiveHandoff(ctx, []msgbox.Receipt{{In: incoming(name), Body: bytes.NewReader(body)}},
				func(msgbox.Message) ([]string, string) { return []string{"p"}, "" },
				msgbox.Handoff{Owner: "h", Ports: []string{"p"}, Lease: time.Minute})
			return res[0].Err
		},
		func(conn *pgx.Conn, name string) bool {
			return exists(t, conn, "SELECT 1 FROM messages WHERE file_name = $1", name)
		})
}

// claimed receives and routes a message to port p, and claims its
// delivery for owner.
func claimed(t *testing.T, b *Box, name, owner string) *msgbox.Delivery {
	t.Helper()
	route(t, b, name, "p")
	ds, err := b.ClaimBatch(t.Context(), owner, []string{"p"}, time.Minute, 1, nil)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim = %d, %v", len(ds), err)
	}
	return ds[0]
}

// TestClaimCancelledMidCommit: a claim whose context ends while it
// commits (a stop cancelling a worker's claim) loses its connection there,
// and the commit may have gone through. It must not leave leases with an
// owner it tells it holds none: either it returns the deliveries it
// claimed, or they are not leased to it. Before, the look that tells which
// ran on the ended context and failed, and the claim returned the commit
// in doubt: the deliveries stayed in progress until their lease expired,
// each then counted as an attempt never made (2 or 3 in a stop of
// scripts/soak-faults.sh with BOX=postgres, one run in four).
func TestClaimCancelledMidCommit(t *testing.T) {
	t.Parallel()
	type claim struct{ msg, owner string }
	sweep(t, "ClaimBatch", func(b *Box, i int) claim {
		// The previous try's delivery, when its claim did not take it,
		// is taken out of the way, so that each try's claim finds its
		// own alone.
		for {
			ds, err := b.ClaimBatch(t.Context(), "settle", []string{"p"}, time.Hour, 16, nil)
			if err != nil {
				t.Fatalf("settling claim: %v", err)
			}
			if len(ds) == 0 {
				break
			}
		}
		m, _, err := b.ReceiveRouted(t.Context(), incoming(fmt.Sprintf("m%d", i)), strings.NewReader("x"),
			func(msgbox.Message) ([]string, string) { return []string{"p"}, "" })
		if err != nil {
			t.Fatal(err)
		}
		return claim{m.ID, fmt.Sprintf("w%d", i)}
	},
		func(ctx context.Context, b *Box, c claim) error {
			// Every try starts alike, with the probe a claim makes
			// after an idle one (the settling claim ran on setup's box).
			b.claimIdle.Store(true)
			ds, err := b.ClaimBatch(ctx, c.owner, []string{"p"}, time.Minute, 16, nil)
			if err != nil {
				return &claimError{err}
			}
			// What the claim returned besides its own is what the
			// settling claim did not find due (a previous try's session
			// still ending on a loaded machine, its delivery locked):
			// returned, it is not what this test is about, which is a
			// delivery taken and not returned.
			if !slices.ContainsFunc(ds, func(d *msgbox.Delivery) bool { return d.MessageID == c.msg }) {
				return &claimError{fmt.Errorf("ClaimBatch returned %d deliveries, not %s's", len(ds), c.msg)}
			}
			if len(ds) > 1 {
				t.Logf("ClaimBatch for %s returned %d deliveries", c.msg, len(ds))
			}
			return nil
		},
		func(conn *pgx.Conn, c claim) bool {
			return exists(t, conn, "SELECT 1 FROM deliveries WHERE message_id = $1 AND lease_owner = $2", c.msg, c.owner)
		})
}

// TestReleaseCancelledMidCommit and the four tests after it: operations
// that run again after a lost commit to find out what it did. Before, when
// the context ended before the rerun, they returned the lost connection's
// error, as if nothing had been done, when the commit had been made (a stop
// cancelling a Recover or Route, a partner hanging up on a FinishMDN).
func TestReleaseCancelledMidCommit(t *testing.T) {
	t.Parallel()
	sweep(t, "Release", func(b *Box, i int) *msgbox.Delivery { return claimed(t, b, fmt.Sprintf("r%d", i), "w") },
		func(ctx context.Context, b *Box, d *msgbox.Delivery) error {
			_, err := b.Release(ctx, "w", []int64{d.ID})
			return err
		},
		func(conn *pgx.Conn, d *msgbox.Delivery) bool {
			// Released is pending, or retrying when an attempt was made
			// before the claim (msgbox.Box's Release): a sweep longer
			// than claimed's lease has a try's claim take over the
			// expired lease of an earlier try's failed Release, which
			// counts that attempt.
			return exists(t, conn, `SELECT 1 FROM deliveries WHERE id = $1 AND lease_owner = ''
				AND state = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END`, d.ID)
		})
}

func TestRecoverCancelledMidCommit(t *testing.T) {
	t.Parallel()
	sweep(t, "Recover", func(b *Box, i int) *msgbox.Delivery {
		return claimed(t, b, fmt.Sprintf("r%d", i), fmt.Sprintf("s%d/w", i))
	},
		func(ctx context.Context, b *Box, d *msgbox.Delivery) error {
			_, err := b.Recover(ctx, d.LeaseOwner[:strings.Index(d.LeaseOwner, "/")])
			return err
		},
		func(conn *pgx.Conn, d *msgbox.Delivery) bool {
			return exists(t, conn, "SELECT 1 FROM deliveries WHERE id = $1 AND state = 'pending'", d.ID)
		})
}

func TestRouteCancelledMidCommit(t *testing.T) {
	t.Parallel()
	sweep(t, "Route", func(b *Box, i int) string {
		m, _, err := b.ReceiveRouted(t.Context(), incoming(fmt.Sprintf("u%d", i)), strings.NewReader("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	},
		func(ctx context.Context, b *Box, id string) error { return b.Route(ctx, id, []string{"p"}, "") },
		func(conn *pgx.Conn, id string) bool {
			return exists(t, conn, "SELECT 1 FROM messages WHERE id = $1 AND routed", id)
		})
}

func TestAwaitMDNCancelledMidCommit(t *testing.T) {
	t.Parallel()
	sweep(t, "AwaitMDN", func(b *Box, i int) *msgbox.Delivery { return claimed(t, b, fmt.Sprintf("a%d", i), "w") },
		func(ctx context.Context, b *Box, d *msgbox.Delivery) error {
			return b.AwaitMDN(ctx, "w", msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: d.MessageID, Port: d.Port,
				AS2MessageID: fmt.Sprintf("<%d@x>", d.ID), Deadline: time.Now().Add(time.Hour)})
		},
		func(conn *pgx.Conn, d *msgbox.Delivery) bool {
			return exists(t, conn, "SELECT 1 FROM deliveries WHERE id = $1 AND lease_owner = $2", d.ID, msgbox.AwaitOwner)
		})
}

// pendingMDN receives a message and queues an asynchronous MDN for it at
// location loc, due now.
func pendingMDN(t *testing.T, b *Box, name, loc string) string {
	t.Helper()
	m, _, err := b.ReceiveRouted(t.Context(), incoming(name), strings.NewReader("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutMDN(t.Context(), msgbox.SentMDN{MessageID: m.ID, Location: loc, Data: []byte("mdn"),
		URL: "http://127.0.0.1:1/mdn", State: msgbox.MDNPending, NextAttemptAt: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// TestClaimMDNsCancelledMidCommit: a claim of MDNs to POST (ClaimMDNs) is
// a claim too: one that took an MDN must return it, or the MDN waits out
// the claim's lease with an attempt counted that was never made (and an
// MDN gets DefaultAsyncMDNAttempts).
func TestClaimMDNsCancelledMidCommit(t *testing.T) {
	t.Parallel()
	type mdn struct{ id, loc string }
	sweep(t, "ClaimMDNs", func(b *Box, i int) mdn {
		loc := fmt.Sprintf("l%d", i)
		return mdn{pendingMDN(t, b, fmt.Sprintf("c%d", i), loc), loc}
	},
		func(ctx context.Context, b *Box, m mdn) error {
			ms, err := b.ClaimMDNs(ctx, m.loc, time.Minute, 4, 4)
			switch {
			case err != nil:
				// Even in doubt, not claimed for the caller: a claim
				// must return what it took.
				return &claimError{err}
			case len(ms) != 1 || ms[0].MessageID != m.id:
				return &claimError{fmt.Errorf("ClaimMDNs returned %d MDNs", len(ms))}
			}
			return nil
		},
		func(conn *pgx.Conn, m mdn) bool {
			return exists(t, conn, "SELECT 1 FROM sent_mdns WHERE message_id = $1 AND attempts > 0", m.id)
		})
}

func TestFinishMDNCancelledMidCommit(t *testing.T) {
	t.Parallel()
	sweep(t, "FinishMDN", func(b *Box, i int) msgbox.SentMDN {
		loc := fmt.Sprintf("l%d", i)
		pendingMDN(t, b, fmt.Sprintf("c%d", i), loc)
		ms, err := b.ClaimMDNs(t.Context(), loc, time.Minute, 4, 4)
		if err != nil || len(ms) != 1 {
			t.Fatalf("ClaimMDNs = %d, %v", len(ms), err)
		}
		return ms[0]
	},
		func(ctx context.Context, b *Box, m msgbox.SentMDN) error {
			return b.FinishMDN(ctx, m, msgbox.MDNSent, time.Time{}, "")
		},
		func(conn *pgx.Conn, m msgbox.SentMDN) bool {
			return exists(t, conn, "SELECT 1 FROM sent_mdns WHERE message_id = $1 AND state = 'sent'", m.MessageID)
		})
}
