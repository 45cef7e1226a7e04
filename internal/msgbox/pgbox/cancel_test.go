//go:build linux

package pgbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/pgtest"
)

// The sweeps below end an operation's context after a delay that sweeps
// its round trips, its commit's included (as TestClaimCancelledMidCommit
// does for ClaimBatch), and check that the box is as the call said: done
// when it returned nil, not done when it returned an error that does not
// say the commit is in doubt (msgbox.ErrCommitUncertain).

// sweepTries is how many tries each sweep makes; sweepDelay the context's
// lifetime for try i.
const sweepTries = 200

func sweepDelay(i int) time.Duration { return time.Duration(i%40) * 100 * time.Microsecond }

// quiesce waits until no other session of the test's database is in a
// transaction or running a statement: a cancelled try's server side, which
// may outlive its connection, has then committed or rolled back.
func quiesce(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	for end := time.Now().Add(deadline); ; time.Sleep(time.Millisecond) {
		var busy int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`).Scan(&busy); err != nil {
			t.Fatalf("looking at the sessions: %v", err)
		}
		if busy == 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%d sessions still busy after %v", busy, deadline)
		}
	}
}

// warm has the pool hold an open connection, which the previous try's
// cancellation may have closed: the sweep's delays are then spent on the
// operation's round trips, not on connecting.
func warm(t *testing.T, b *Box) {
	t.Helper()
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
	tally := map[string]int{}
	defer func() { t.Logf("outcomes: %v", tally) }()
	for i := range sweepTries {
		owner := fmt.Sprintf("h%d", i)
		items := []msgbox.Receipt{
			{In: incoming(fmt.Sprintf("a%d", i)), Body: strings.NewReader("x")},
			{In: incoming(fmt.Sprintf("b%d", i)), Body: strings.NewReader("y")},
		}
		warm(t, b)
		cctx, cancel := context.WithTimeout(ctx, sweepDelay(i))
		res := b.ReceiveHandoff(cctx, items, route, msgbox.Handoff{Owner: owner, Ports: []string{"p"}, Lease: time.Minute})
		cancel()
		quiesce(t, conn)
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
		for _, r := range res {
			if r.Err == nil && !exists(t, conn, "SELECT 1 FROM messages WHERE id = $1", r.Message.ID) {
				t.Fatalf("try %d: ReceiveHandoff returned %s as stored, but it is not", i, r.Message.ID)
			}
		}
	}
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
