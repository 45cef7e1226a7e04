package sqlitebox

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// openTemp opens a new box in a file of the test's temporary directory and
// closes it when the test ends.
func openTemp(t testing.TB, opts Options) *Box {
	t.Helper()
	b, err := Open(filepath.Join(t.TempDir(), "data", "messagebox.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	msgboxtest.Run(t, func(t *testing.T) msgbox.Box {
		b := openTemp(t, Options{})
		// Cleanups run last first: this runs after the box is closed, on
		// the file as the test left it.
		path := b.Path()
		t.Cleanup(func() { checkInvariants(t, path) })
		return b
	})
}

// checkInvariants checks what the interface cannot see: that the stored
// rows agree with each other after whatever a test did.
func checkInvariants(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro"}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	query := func(q string, args ...any) []string {
		t.Helper()
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintln(vals...)) // space-separated
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, c := range []struct{ what, q string }{
		{"integrity", "SELECT * FROM pragma_integrity_check WHERE integrity_check != 'ok'"},
		{"foreign keys", "SELECT * FROM pragma_foreign_key_check"},
		{"orphan bodies (a Receive left chunks behind)",
			`SELECT id FROM bodies WHERE id NOT IN (SELECT body_id FROM messages)
			 AND id NOT IN (SELECT received_body_id FROM messages WHERE received_body_id IS NOT NULL)`},
		{"messages as received not in a file of the recorded size's checksum length",
			`SELECT m.id FROM messages m LEFT JOIN bodies b ON b.id = m.received_body_id
			 WHERE (m.received_body_id IS NULL) != (m.received_size IS NULL)
			 OR (m.received_body_id IS NOT NULL AND (b.file IS NULL OR length(m.received_checksum) != 4))`},
		{"bodies still marked staged", "SELECT id FROM bodies WHERE touched_at IS NOT NULL"},
		{"bodies whose chunks do not add up to the size",
			`SELECT m.id, m.size, coalesce(sum(length(c.data)), 0), count(c.seq), coalesce(max(c.seq), -1)
			 FROM messages m JOIN bodies b ON b.id = m.body_id LEFT JOIN body_chunks c ON c.body_id = m.body_id
			 WHERE b.file IS NULL GROUP BY m.id
			 HAVING coalesce(sum(length(c.data)), 0) != m.size OR count(c.seq) != coalesce(max(c.seq), -1) + 1`},
		{"bodies in a file with chunks too",
			"SELECT b.id FROM bodies b JOIN body_chunks c ON c.body_id = b.id WHERE b.file IS NOT NULL"},
		{"bodies of one chunk or less in a file (they belong in a row)",
			fmt.Sprintf("SELECT m.id, m.size FROM messages m JOIN bodies b ON b.id = m.body_id WHERE b.file IS NOT NULL AND m.size <= %d", ChunkSize)},
		{"pending or retrying deliveries not due at their next attempt",
			"SELECT id, state FROM deliveries WHERE state IN ('pending', 'retrying') AND (due_at IS NOT next_attempt_at OR due_at IS NULL OR lease_owner != '')"},
		{"in-progress deliveries without a lease",
			"SELECT id FROM deliveries WHERE state = 'in_progress' AND (lease_owner = '' OR due_at IS NOT lease_until OR lease_until IS NULL)"},
		{"final deliveries still due or leased",
			"SELECT id, state FROM deliveries WHERE state IN ('delivered', 'suspended', 'terminated') AND (due_at IS NOT NULL OR lease_owner != '' OR lease_until IS NOT NULL)"},
		{"deliveries counting fewer attempts than recorded since their last resume",
			"SELECT d.id FROM deliveries d WHERE d.attempts > (SELECT count(*) FROM attempts a WHERE a.delivery_id = d.id)"},
		{"messages without history", "SELECT id FROM messages WHERE id NOT IN (SELECT message_id FROM events)"},
	} {
		if bad := query(c.q); len(bad) > 0 {
			t.Errorf("invariant broken: %s: %v", c.what, bad)
		}
	}

	// Every body file is named by a row and has the recorded size, and
	// no other file (a temporary one, an orphan) is left.
	files := map[string]int64{}
	for _, row := range query(`SELECT b.file, m.size FROM messages m JOIN bodies b ON b.id = m.body_id WHERE b.file IS NOT NULL
		UNION ALL SELECT b.file, m.received_size FROM messages m JOIN bodies b ON b.id = m.received_body_id`) {
		var name string
		var size int64
		if _, err := fmt.Sscan(row, &name, &size); err != nil {
			t.Fatalf("unexpected row %q: %v", row, err)
		}
		files[name] = size
	}
	entries, err := os.ReadDir(path + bodiesSuffix)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		size, ok := files[e.Name()]
		if !ok {
			t.Errorf("invariant broken: body file %s named by no message", e.Name())
			continue
		}
		delete(files, e.Name())
		if fi, err := e.Info(); err != nil || fi.Size() != size {
			t.Errorf("invariant broken: body file %s: %v, %v; want %d bytes", e.Name(), fi, err, size)
		}
	}
	for name := range files {
		t.Errorf("invariant broken: body file %s missing", name)
	}

	// The stored status is the derived one.
	for _, row := range query("SELECT id, routed, terminated, status FROM messages") {
		var id, st string
		var routed, terminated bool
		f := strings.Fields(row)
		if len(f) != 4 {
			t.Fatalf("unexpected row %q", row)
		}
		id, st = f[0], f[3]
		routed, terminated = f[1] == "1", f[2] == "1"
		var states []msgbox.DeliveryState
		for _, s := range query("SELECT state FROM deliveries WHERE message_id = ?", id) {
			states = append(states, msgbox.DeliveryState(strings.TrimSpace(s)))
		}
		if want := msgbox.DeriveStatus(routed, terminated, states); string(want) != st {
			t.Errorf("message %s: stored status %s, derived %s", id, st, want)
		}
	}
}

func TestAbandonedTold(t *testing.T) {
	msgboxtest.RunAbandoned(t, func(t *testing.T, told msgbox.AbandonedFunc) msgbox.Box {
		return openTemp(t, Options{Abandoned: told})
	})
}
