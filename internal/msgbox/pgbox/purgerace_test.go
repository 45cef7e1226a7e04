//go:build linux

package pgbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/pgtest"
)

// TestPurgeWhileResubmitted: a resubmit of a message a purge is about to
// delete, committed after the purge's statement began but before it
// locked the message, adds an entry to the message's history that the
// statement's snapshot does not have. The purge failed with the
// entry's foreign key ("violates foreign key constraint
// events_message_id_fkey", messages purge exit 1, run --retention an
// error each hour it met one); it now runs the statement again, which
// keeps the message (its history is no longer quiet) and purges the rest.
//
// The statement is paused, once its snapshot is taken, at the first
// message by a row security policy of a role of its own (a superuser
// bypasses policies), which waits for an advisory lock the test holds
// while the resubmit commits.
func TestPurgeWhileResubmitted(t *testing.T) {
	t.Parallel()
	b, dbURL := openNew(t, Options{})
	ctx := t.Context()
	ids := terminated(t, b, "first.edi", "second.edi")
	done, resume := pausedPurge(t, dbURL, ids[0])
	in := incoming("second.edi")
	in.ResubmitOf, in.SourceKey, in.Origin = ids[1], msgbox.ResubmitKey(ids[1], 1), msgbox.ResubmittedFromDetail(ids[1])
	if _, _, err := b.ReceiveRouted(ctx, in, strings.NewReader("ISA*00~"), nil); err != nil {
		t.Fatalf("resubmitting %s: %v", ids[1], err)
	}
	resume()

	r := <-done
	if r.err != nil || r.n != 1 {
		t.Fatalf("Purge = %d, %v; want the first message purged and the resubmitted one kept", r.n, r.err)
	}
	if _, err := b.Get(ctx, ids[0]); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("Get %s after the purge: %v; want it purged", ids[0], err)
	}
	if _, err := b.Get(ctx, ids[1]); err != nil {
		t.Errorf("Get %s after the purge: %v; want it kept, its history has the resubmit", ids[1], err)
	}
}

// purgeResult is what a Purge returned.
type purgeResult struct {
	n   int
	err error
}

// pausedPurge ages every message of the box at dbURL by two days, and
// starts a Purge of what is untouched for one, which it pauses once its
// statement's snapshot is taken, at message first (by a row security
// policy of a role of its own: a superuser bypasses policies, and the
// policy waits for an advisory lock the test holds). It returns once the
// purge waits there; resume lets it go on, and the purge's result comes
// on done.
func pausedPurge(t *testing.T, dbURL, first string) (done <-chan purgeResult, resume func()) {
	t.Helper()
	ctx := t.Context()
	conn := pgtest.Connect(t, dbURL)
	// Untouched for two days, as the purge's cutoff of one day wants.
	for _, q := range []string{
		"UPDATE messages SET received_at = received_at - interval '2 days'",
		"UPDATE events SET at = at - interval '2 days'",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	role := "purger_" + strings.TrimPrefix(u.Path, "/")
	const lockKey = 7317
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'purger'", role),
		fmt.Sprintf("GRANT ALL ON SCHEMA public TO %s", role),
		fmt.Sprintf("GRANT ALL ON ALL TABLES IN SCHEMA public TO %s", role),
		fmt.Sprintf("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO %s", role),
		fmt.Sprintf(`CREATE FUNCTION pause_purge(id text) RETURNS boolean LANGUAGE plpgsql AS $$
			BEGIN
				IF id = '%s' AND current_query() LIKE '%%SKIP LOCKED%%' THEN
					PERFORM pg_advisory_lock(%d);
					PERFORM pg_advisory_unlock(%d);
				END IF;
				RETURN true;
			END $$`, first, lockKey, lockKey),
		"ALTER TABLE messages ENABLE ROW LEVEL SECURITY",
		"CREATE POLICY pause ON messages USING (pause_purge(id)) WITH CHECK (true)",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := conn.Exec(context.Background(), q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	u.User = url.UserPassword(role, "purger")
	purger := openURL(t, u.String(), Options{NoCreate: true})

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		t.Fatal(err)
	}
	results := make(chan purgeResult, 1)
	go func() {
		n, err := purger.Purge(ctx, time.Now().Add(-24*time.Hour))
		results <- purgeResult{n, err}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting bool
		// pg_locks shows every database's locks: a parallel test's
		// migration waiting on its advisory lock is not this purge.
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND objid = $1 AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`,
			lockKey).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the purge never reached the first message")
		}
	}
	return results, func() {
		t.Helper()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockKey); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPurgeWhileMDNQueuedAgain: a repeat of an AS2 message whose
// asynchronous MDN was sent, or failed, queues that MDN again (PutMDN,
// pending): the message is then not done with, and Purge keeps it. A
// PutMDN committed after a purge's statement began, but before the
// statement got to the message, changes no row the statement's snapshot
// or its locks see (the MDN's row is updated, the message's untouched):
// the message was purged, the MDN queued a moment before with it, and
// the sender, answered 200 "asynchronous MDN queued", never got it.
func TestPurgeWhileMDNQueuedAgain(t *testing.T) {
	t.Parallel()
	b, dbURL := openNew(t, Options{})
	ctx := t.Context()
	ids := terminated(t, b, "first.edi", "repeated.edi")
	mdn := msgbox.SentMDN{MessageID: ids[1], Location: "as2_in", Data: []byte("Content-Type: text/plain\r\n\r\nMDN"),
		URL: "http://127.0.0.1:1/mdn", State: msgbox.MDNFailed, NextAttemptAt: time.Now()}
	if err := b.PutMDN(ctx, mdn); err != nil {
		t.Fatal(err)
	}

	done, resume := pausedPurge(t, dbURL, ids[0])
	mdn.State = msgbox.MDNPending // the repeat's
	putErr := b.PutMDN(ctx, mdn)
	resume()

	r := <-done
	if putErr != nil {
		t.Fatalf("PutMDN, the purge waiting at another message: %v", putErr)
	}
	if r.err != nil || r.n != 1 {
		t.Errorf("Purge = %d, %v; want the first message purged, and the one whose MDN is queued again kept", r.n, r.err)
	}
	if _, err := b.Get(ctx, ids[0]); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("Get %s after the purge: %v; want it purged", ids[0], err)
	}
	if got, err := b.SentMDN(ctx, ids[1]); err != nil || got.State != msgbox.MDNPending {
		t.Errorf("the MDN queued again, after the purge: %+v, %v; want it kept, pending", got.State, err)
	}
}

// terminated stores a message for each of names and terminates it: done
// with, so purgeable once quiet. It returns their ids.
func terminated(t *testing.T, b *Box, names ...string) []string {
	t.Helper()
	ctx := t.Context()
	var ids []string
	for _, name := range names {
		m, _, err := b.ReceiveRouted(ctx, incoming(name), strings.NewReader("ISA*00~"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Terminate(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}
