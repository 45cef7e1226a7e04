package sqlitebox

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// holdWriteLock opens path on a connection of its own, as another process
// would (Python's sqlite3, the sqlite3 shell, a run's writer), begins a
// transaction with begin and changes a row in it, so that the write lock
// is held until the test ends.
func holdWriteLock(t *testing.T, path, begin string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	for _, stmt := range []string{begin, "UPDATE box_identity SET id = id"} {
		if _, err := conn.ExecContext(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() { conn.ExecContext(context.Background(), "ROLLBACK") })
}

// TestReadBesideAHeldWriteLock: a box opened with Reading (bizpipe
// messages list, show, body, mdn) whose schema is current opens and reads
// while another process holds the write lock, however long: it writes
// nothing at Open. In WAL mode BEGIN EXCLUSIVE lets readers read as BEGIN
// IMMEDIATE does. An Open without Reading (a command that writes, which
// also removes interrupted uploads) still waits for the lock, and so does
// one that must migrate an older schema, which it does once the lock is
// free (docs/operations.md, Upgrading bizpipe).
func TestReadBesideAHeldWriteLock(t *testing.T) {
	for _, tc := range []struct {
		name     string
		begin    string
		older    bool // the box is at schema version 10
		opts     Options
		wantBusy bool
	}{
		{name: "read beside BEGIN IMMEDIATE", begin: "BEGIN IMMEDIATE", opts: Options{NoCreate: true, Reading: true}},
		{name: "read beside BEGIN EXCLUSIVE", begin: "BEGIN EXCLUSIVE", opts: Options{NoCreate: true, Reading: true}},
		{name: "open for writing waits", begin: "BEGIN IMMEDIATE", opts: Options{NoCreate: true}, wantBusy: true},
		{name: "older schema waits to migrate", begin: "BEGIN IMMEDIATE", older: true, opts: Options{NoCreate: true, Reading: true}, wantBusy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "box.db")
			b, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			small, _, err := b.ReceiveRouted(ctx, in("small"), strings.NewReader("small body"), nil)
			if err != nil {
				t.Fatal(err)
			}
			large, _, err := b.ReceiveRouted(ctx, in("large"), pattern(1, 2*ChunkSize), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.older {
				backToVersion10(t, b)
			}
			b.Close()

			holdWriteLock(t, path, tc.begin)
			opts := tc.opts
			// Short: the failure this test guards against is a wait for
			// the lock that ends in SQLITE_BUSY.
			opts.BusyTimeout = 100 * time.Millisecond
			b, err = Open(path, opts)
			if tc.wantBusy {
				if err == nil {
					b.Close()
					t.Fatal("Open succeeded while another connection held the write lock; want it to wait for the lock (the test's lock does not hold?)")
				}
				if !strings.Contains(err.Error(), "write lock") {
					t.Errorf("Open: %v; want the write lock named", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open beside a held write lock: %v", err)
			}
			defer b.Close()
			l, err := msgbox.Collect(ctx, b, msgbox.Filter{})
			if err != nil || len(l) != 2 {
				t.Fatalf("List = %d messages, %v; want 2", len(l), err)
			}
			if _, err := b.Get(ctx, small.ID); err != nil {
				t.Errorf("Get: %v", err)
			}
			if got := string(readAll(t, b, small.ID)); got != "small body" {
				t.Errorf("Body = %q", got)
			}
			if got := int64(len(readAll(t, b, large.ID))); got != 2*ChunkSize {
				t.Errorf("Body of the large message: %d bytes, want %d", got, 2*ChunkSize)
			}
			// A change still waits for the lock, and fails saying so.
			if err := b.Terminate(ctx, small.ID); err == nil || errors.Is(err, msgbox.ErrNotFound) {
				t.Errorf("Terminate while another connection holds the write lock: %v; want it refused", err)
			}
		})
	}
}
