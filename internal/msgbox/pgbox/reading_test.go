//go:build linux

package pgbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/pgtest"
)

// readerURL is dbURL as a role of its own that may only read the box's
// tables, with readOnly its transactions read-only as on a hot standby
// (default_transaction_read_only, in the URL's options).
func readerURL(t *testing.T, dbURL, name string, readOnly bool) string {
	t.Helper()
	u := roleURL(t, dbURL, name, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO %s")
	if readOnly {
		return readOnlyURL(u)
	}
	return u
}

// roleURL is dbURL as a new role of its own, named after name and the
// database, which may connect and use the schema, and is given grants
// (each with %s for the role).
func roleURL(t *testing.T, dbURL, name string, grants ...string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	role := name + "_" + db
	conn := pgtest.Connect(t, dbURL)
	stmts := []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw'", role),
		fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", db, role),
		fmt.Sprintf("GRANT USAGE ON SCHEMA public TO %s", role),
	}
	for _, g := range grants {
		stmts = append(stmts, fmt.Sprintf(g, role))
	}
	for _, q := range stmts {
		if _, err := conn.Exec(t.Context(), q); err != nil {
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
	u.User = url.UserPassword(role, "pw")
	return u.String()
}

// readOnlyURL is dbURL with its transactions read-only, as on a hot
// standby.
func readOnlyURL(dbURL string) string {
	// %20, not the + of url.Values: pgx takes a + as it is.
	return dbURL + "&options=-c%20default_transaction_read_only%3Don"
}

// TestReadingOpensAReadOnlyBox: a box opened with Reading (bizpipe
// messages list, show, body, mdn, the --dry-runs) on a database it may
// only read (a role granted SELECT alone, transactions read-only as on a
// hot standby) opens when its schema is current, and reads what a writing
// box stored: Open writes nothing then, and takes no lock (not even the
// migration's, held here by another session the whole time).
func TestReadingOpensAReadOnlyBox(t *testing.T) {
	t.Parallel()
	writer, dbURL := openNew(t, Options{})
	m := route(t, writer, "a.xml", "out")
	tests := []struct {
		name     string
		readOnly bool
	}{
		{"select only", false},
		{"read-only transactions", true},
	}
	held := pgtest.Connect(t, dbURL)
	if _, err := held.Exec(t.Context(), "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := readerURL(t, dbURL, fmt.Sprintf("reader%d", i), tt.readOnly)
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			b, err := Open(ctx, u, Options{NoCreate: true, Reading: true})
			if err != nil {
				t.Fatalf("Open with Reading: %v", err)
			}
			defer b.Close()
			if b.ID() != writer.ID() {
				t.Errorf("ID %q, want the writer's %q", b.ID(), writer.ID())
			}
			d, err := b.Get(ctx, m.ID)
			if err != nil || d.Message.ID != m.ID || len(d.Deliveries) != 1 {
				t.Fatalf("Get = %+v, %v; want %s with its delivery", d, err, m.ID)
			}
			var listed []string
			if err := b.List(ctx, msgbox.Filter{}, func(l msgbox.Message) error { listed = append(listed, l.ID); return nil }); err != nil || len(listed) != 1 || listed[0] != m.ID {
				t.Errorf("List = %v, %v; want [%s]", listed, err, m.ID)
			}
			r, err := b.Body(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(body) != "<order>a.xml</order>" {
				t.Errorf("Body = %q, %v", body, err)
			}
			if n, err := b.Purgeable(ctx, time.Now()); err != nil || n != 0 {
				t.Errorf("Purgeable = %d, %v; want 0", n, err)
			}
			if _, err := b.SentMDN(ctx, m.ID); !errors.Is(err, msgbox.ErrNotFound) {
				t.Errorf("SentMDN = %v, want ErrNotFound", err)
			}
		})
	}
}

// TestReadingSchemas: Reading changes what Open does with a current schema
// only. An older one is migrated where the database takes writes (as the
// embedded box's list migrates, docs/operations.md), and on one that
// takes none (a hot standby) Open fails saying it is to be migrated on the
// primary, changing nothing, as it does for a role that may only read; a
// database without a box is ErrNoBox, a newer schema refused.
func TestReadingSchemas(t *testing.T) {
	t.Parallel()
	want := SchemaVersion()
	tests := []struct {
		name     string
		setup    func(t *testing.T, conn *pgx.Conn) // nil: no box at all
		readOnly bool
		reader   bool     // as a role granted SELECT alone
		err      error    // nil: opens
		says     []string // in the error
		version  int      // the schema version after the open
	}{
		{name: "older", setup: backToVersion7, version: want},
		{name: "older on a standby", setup: backToVersion7, readOnly: true, err: ErrSchemaMismatch,
			says: []string{"schema is version 7, older than this bizpipe's", "takes no writes", "migrate it on the primary"}, version: 7},
		{name: "older as a reader", setup: backToVersion7, reader: true, err: ErrSchemaMismatch,
			says: []string{"schema is version 7, older than this bizpipe's", "this role may not migrate it", "SQLSTATE 42501"}, version: 7},
		{name: "none", err: ErrNoBox, says: []string{"no message box"}},
		{name: "none on a standby", readOnly: true, err: ErrNoBox, says: []string{"no message box"}},
		{name: "newer", setup: func(t *testing.T, conn *pgx.Conn) {
			if _, err := conn.Exec(t.Context(), "INSERT INTO "+MigrationsTable+" (version) VALUES ($1)", want+1); err != nil {
				t.Fatal(err)
			}
		}, readOnly: true, err: ErrSchemaMismatch, says: []string{"newer than this bizpipe supports"}, version: want + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dbURL := pg.NewDatabase(t)
			conn := pgtest.Connect(t, dbURL)
			if tt.setup != nil {
				openURL(t, dbURL, Options{}).Close()
				tt.setup(t, conn)
			}
			u := dbURL
			if tt.reader {
				u = readerURL(t, dbURL, "reader", false)
			}
			if tt.readOnly {
				u = readOnlyURL(u)
			}
			b, err := Open(t.Context(), u, Options{NoCreate: true, Reading: true})
			if err == nil {
				b.Close()
			}
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Open = %v, want %v", err, tt.err)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			var v int
			if err := conn.QueryRow(t.Context(), "SELECT coalesce(max(version), 0) FROM "+MigrationsTable).Scan(&v); tt.setup != nil && err != nil {
				t.Fatal(err)
			}
			if v != tt.version {
				t.Errorf("schema version %d after the open, want %d", v, tt.version)
			}
		})
	}
}

// TestOpenAsARoleThatMayNotChangeTheSchema: a box whose schema is current
// opens, for run and for the messages commands that change it, as a role
// granted only what they do to its rows (a least-privilege application
// role, the schema owned by another): Open creates nothing that is there.
// It failed, creating the table of versions, "permission denied for
// schema public".
func TestOpenAsARoleThatMayNotChangeTheSchema(t *testing.T) {
	t.Parallel()
	owner, dbURL := openNew(t, Options{})
	u := roleURL(t, dbURL, "app",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %s",
		"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %s")
	for _, opts := range []Options{{}, {NoCreate: true}} {
		b := openURL(t, u, opts)
		if b.ID() != owner.ID() {
			t.Errorf("ID %q, want the owner's %q", b.ID(), owner.ID())
		}
		release, err := b.HoldOwner(t.Context(), "srv1", func(error) {})
		if err != nil {
			t.Fatal(err)
		}
		m := route(t, b, "a.xml", "out")
		d := mustClaim(t, b, "srv1/w0", time.Minute, "out")
		if err := b.Finish(t.Context(), d.ID, "srv1/w0", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
			t.Fatal(err)
		}
		if got, err := owner.Message(t.Context(), m.ID); err != nil || got.Status != msgbox.StatusDelivered {
			t.Errorf("the owner reads %+v, %v; want %s delivered", got, err, m.ID)
		}
		release()
		b.Close()
	}
}
