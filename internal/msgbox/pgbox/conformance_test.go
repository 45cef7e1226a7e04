//go:build linux

package pgbox

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/pgtest"
)

// pg is the PostgreSQL server of this test binary, started by the first test
// that needs it; each test gets a database of its own.
var pg = pgtest.New()

func TestMain(m *testing.M) {
	// The tests wait on the server, a process of its own, and on timers
	// more than they compute: go test's default -parallel, GOMAXPROCS,
	// left half the machine idle. At most 8, for the server's connections
	// (pgtest's max_connections) on a machine of many cores. An explicit
	// -parallel wins.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", strconv.Itoa(min(2*runtime.GOMAXPROCS(0), 8))); err != nil {
			fmt.Fprintf(os.Stderr, "pgbox tests: setting -test.parallel: %v\n", err)
			os.Exit(2)
		}
	}
	pg.Main(m)
}

// openURL opens a box on url and closes it when the test ends.
func openURL(t testing.TB, url string, opts Options) *Box {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// openNew opens a box on a new database, returning the database's URL too.
func openNew(t testing.TB, opts Options) (*Box, string) {
	t.Helper()
	url := pg.NewDatabase(t)
	return openURL(t, url, opts), url
}

func TestConformance(t *testing.T) {
	t.Parallel()
	// The statements the suite's boxes send, whose plans are checked on a
	// database of their own once the subtests are over.
	seen := &statementSet{texts: map[string]bool{}}
	_, plans := openNew(t, Options{})
	t.Cleanup(func() { checkNoStatementReadsATableWhole(t, seen, plans) })
	msgboxtest.Run(t, func(t *testing.T) msgbox.Box {
		b, url := openNew(t, Options{tracer: seen})
		// Cleanups run last first: this runs after the box is closed, on
		// the database as the test left it.
		t.Cleanup(func() { checkInvariants(t, url) })
		return b
	})
}

// checkInvariants checks what the interface cannot see: that the stored
// rows agree with each other after whatever a test did.
func checkInvariants(t *testing.T, url string) {
	t.Helper()
	conn := pgtest.Connect(t, url)
	ctx := context.Background()
	query := func(q string, args ...any) [][]any {
		t.Helper()
		rows, err := conn.Query(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out [][]any
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, c := range []struct{ what, q string }{
		{"bodies whose chunks do not add up to the size",
			`SELECT m.id, m.size, coalesce(sum(octet_length(c.data)), 0), count(c.seq), coalesce(max(c.seq), -1)
			 FROM messages m LEFT JOIN body_chunks c ON c.message_seq = m.seq GROUP BY m.id, m.size
			 HAVING coalesce(sum(octet_length(c.data)), 0) != m.size OR count(c.seq) != coalesce(max(c.seq), -1) + 1`},
		{"chunks larger than ChunkSize", `SELECT message_seq, seq FROM body_chunks WHERE octet_length(data) > 1048576`},
		{"messages whose checksum is the placeholder of an unfinished Receive",
			`SELECT id FROM messages WHERE size > 0 AND octet_length(sha256) != 32`},
		{"pending or retrying deliveries not due at their next attempt",
			`SELECT id, state FROM deliveries WHERE state IN ('pending', 'retrying')
			 AND (due_at IS DISTINCT FROM next_attempt_at OR due_at IS NULL OR lease_owner != '')`},
		{"in-progress deliveries without a lease",
			`SELECT id FROM deliveries WHERE state = 'in_progress'
			 AND (lease_owner = '' OR due_at IS DISTINCT FROM lease_until OR lease_until IS NULL OR claimed_at IS NULL)`},
		{"final deliveries still due or leased",
			`SELECT id, state FROM deliveries WHERE state IN ('delivered', 'suspended', 'terminated')
			 AND (due_at IS NOT NULL OR lease_owner != '' OR lease_until IS NOT NULL)`},
		{"deliveries counting fewer attempts than recorded since their last resume",
			`SELECT d.id FROM deliveries d WHERE d.attempts > (SELECT count(*) FROM attempts a WHERE a.delivery_id = d.id)`},
		{"messages without history", `SELECT id FROM messages WHERE id NOT IN (SELECT message_id FROM events)`},
		{"history going back in time",
			`SELECT e.id FROM events e JOIN events p ON p.message_id = e.message_id AND p.id < e.id WHERE p.at > e.at`},
	} {
		if bad := query(c.q); len(bad) > 0 {
			t.Errorf("invariant broken: %s: %v", c.what, bad)
		}
	}

	// The stored status is the derived one.
	for _, row := range query("SELECT id, routed, terminated, status FROM messages") {
		id, routed, terminated, st := row[0].(string), row[1].(bool), row[2].(bool), row[3].(string)
		var states []msgbox.DeliveryState
		for _, s := range query("SELECT state FROM deliveries WHERE message_id = $1", id) {
			states = append(states, msgbox.DeliveryState(s[0].(string)))
		}
		if want := msgbox.DeriveStatus(routed, terminated, states); string(want) != st {
			t.Errorf("message %s: stored status %s, derived %s", id, st, want)
		}
	}
}

func TestAbandonedTold(t *testing.T) {
	t.Parallel()
	msgboxtest.RunAbandoned(t, func(t *testing.T, told msgbox.AbandonedFunc) msgbox.Box {
		b, _ := openNew(t, Options{Abandoned: told})
		return b
	})
}
