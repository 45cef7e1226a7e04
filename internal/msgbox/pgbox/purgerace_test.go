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
	var ids []string
	for _, name := range []string{"first.edi", "second.edi"} {
		m, _, err := b.ReceiveRouted(ctx, incoming(name), strings.NewReader("ISA*00~"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Terminate(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
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
			END $$`, ids[0], lockKey, lockKey),
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
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := purger.Purge(ctx, time.Now().Add(-24*time.Hour))
		done <- result{n, err}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting bool
		err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)").Scan(&waiting)
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
	in := incoming("second.edi")
	in.ResubmitOf, in.SourceKey, in.Origin = ids[1], msgbox.ResubmitKey(ids[1], 1), msgbox.ResubmittedFromDetail(ids[1])
	if _, _, err := b.ReceiveRouted(ctx, in, strings.NewReader("ISA*00~"), nil); err != nil {
		t.Fatalf("resubmitting %s: %v", ids[1], err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockKey); err != nil {
		t.Fatal(err)
	}

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
