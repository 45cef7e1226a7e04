package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/pgtest"
)

// TestCheckMessageBoxSchemas: validate --live's BP6005 on a real
// PostgreSQL box at each schema version it can meet. An older schema is
// what an upgrade meets, and run migrates it, so it must not stop a
// deployment's validate --live (a warning); a newer one is an error.
func TestCheckMessageBoxSchemas(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	want := pgbox.SchemaVersion()
	tests := []struct {
		name     string
		version  int // the schema left in the database; -1: none at all
		severity hcl.DiagnosticSeverity
		detail   string
	}{
		{"current", want, hcl.DiagInvalid, ""},
		{"empty database", -1, hcl.DiagInvalid, ""},
		{"older", want - 1, hcl.DiagWarning, "run migrates it"},
		{"newer", want + 1, hcl.DiagError, "newer than this bizpipe supports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := databaseAt(t, srv, tt.version)
			cfg := &model.Config{MessageBox: &model.MessageBox{PostgresURL: ptr(model.Known(url, hcl.Range{Filename: "mb.hcl"}))}}
			diags := checkMessageBox(ctx, cfg, "srv1", "")
			if tt.severity == hcl.DiagInvalid {
				if len(diags) != 0 {
					t.Fatalf("diagnostics %v, want none", diags)
				}
				return
			}
			if len(diags) != 1 || diags[0].Severity != tt.severity || !strings.Contains(diags[0].Detail, tt.detail) {
				t.Fatalf("diagnostics %v, want one of severity %v saying %q", diags, tt.severity, tt.detail)
			}
			if strings.Contains(diags[0].Detail, url) {
				t.Errorf("the detail shows the URL with its password: %s", diags[0].Detail)
			}
		})
	}
}

// databaseAt is a new database of srv holding a box whose schema version
// is version; -1: no box at all.
func databaseAt(t *testing.T, srv *pgtest.Server, version int) string {
	t.Helper()
	url := srv.NewDatabase(t)
	if version >= 0 {
		box, err := pgbox.Open(t.Context(), url, pgbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		box.Close()
		setSchemaVersion(t, url, version)
	}
	return url
}

// setSchemaVersion makes the database's recorded schema version v, as an
// older or newer bizpipe would have left it.
func setSchemaVersion(t *testing.T, url string, v int) {
	t.Helper()
	ctx := context.Background()
	conn := pgtest.Connect(t, url)
	if _, err := conn.Exec(ctx, "DELETE FROM "+pgbox.MigrationsTable+" WHERE version > $1", v); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+pgbox.MigrationsTable+" (version) SELECT $1::int WHERE NOT EXISTS (SELECT 1 FROM "+pgbox.MigrationsTable+" WHERE version = $1::int)", v); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestMessagesNeverCreateAPostgresBox: bizpipe messages opens a postgres
// message box that exists, and creates none. A database without a box (a
// url naming the wrong database) is "no message box", exit 1 as for the
// embedded box, not a new, empty box created by the command and listed as
// empty. An older schema is migrated, as documented (docs/operations.md,
// Upgrading bizpipe); a newer one is refused.
func TestMessagesNeverCreateAPostgresBox(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	want := pgbox.SchemaVersion()
	tests := []struct {
		name    string
		version int // the schema left in the database; -1: none at all
		code    int
		stderr  string
	}{
		{"current", want, exitOK, ""},
		{"empty database", -1, exitFindings, "no message box in the database: it has no bizpipe schema"},
		{"newer", want + 1, exitFindings, "newer than this bizpipe supports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := databaseAt(t, srv, tt.version)
			dir := t.TempDir()
			hcl := fmt.Sprintf("group \"g\" {}\nmessage_box {\n  postgres { url = %q }\n}\n", url)
			if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"messages", "list", "--format", "json", dir}, &stdout, &stderr, noEnv)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q", code, stderr.String(), tt.code, tt.stderr)
			}
			if code != exitOK && stdout.Len() > 0 {
				t.Errorf("stdout %q; want nothing", stdout.String())
			}
			if tt.version >= 0 {
				return
			}
			var tables int
			if err := pgtest.Connect(t, url).QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if tables != 0 {
				t.Errorf("messages list created %d tables in a database without a box", tables)
			}
		})
	}
}

// TestConcurrentResubmitsPostgres: see testConcurrentResubmits.
func TestConcurrentResubmitsPostgres(t *testing.T) {
	testConcurrentResubmits(t, postgresHandles(t))
}

// TestResubmitWhileResumedPostgres: see testResubmitWhileResumed.
func TestResubmitWhileResumedPostgres(t *testing.T) {
	testResubmitWhileResumed(t, postgresHandles(t))
}

// postgresHandles returns what opens a new handle on one PostgreSQL box,
// in a database of its own, each time it is called (an operator's
// command).
func postgresHandles(t *testing.T) func() msgbox.Box {
	url := pgtest.Start(t).NewDatabase(t)
	return func() msgbox.Box {
		box, err := pgbox.Open(context.Background(), url, pgbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return box
	}
}

// postgresConfig opens a fresh PostgreSQL box, closed when t ends, and
// writes a configuration naming it: the box and the configuration's
// directories, for the commands a test runs on it.
func postgresConfig(t *testing.T) (*pgbox.Box, []string) {
	url := pgtest.Start(t).NewDatabase(t)
	box, err := pgbox.Open(context.Background(), url, pgbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	dir := t.TempDir()
	hcl := fmt.Sprintf("group \"g\" {}\nmessage_box {\n  postgres { url = %q }\n}\n", url)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return box, []string{dir}
}

// TestBulkTerminatePagesPostgres: see testBulkTerminatePages.
func TestBulkTerminatePagesPostgres(t *testing.T) {
	box, dirs := postgresConfig(t)
	testBulkTerminatePages(t, box, dirs)
}

// TestReadCommandsOnAReadOnlyPostgresBox: the messages commands that change
// nothing (list, show, body, mdn, the --dry-run of purge and of bulk
// resume and terminate) and route --message read a postgres box as a role
// that may only read it, on read-only transactions as on a hot standby:
// opening a box whose schema is current writes nothing. Before, each
// failed creating the schema's table of versions. A command that changes
// the box fails, the database saying why.
func TestReadCommandsOnAReadOnlyPostgresBox(t *testing.T) {
	srv := pgtest.Start(t)
	dbURL := srv.NewDatabase(t)
	ctx := context.Background()
	box, err := pgbox.Open(ctx, dbURL, pgbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	m, mdn := deliveredWithMDN(t, box)

	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	conn := pgtest.Connect(t, dbURL)
	for _, q := range []string{
		"CREATE ROLE reader LOGIN PASSWORD 'pw'",
		"GRANT CONNECT ON DATABASE " + db + " TO reader",
		"GRANT USAGE ON SCHEMA public TO reader",
		"GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	u.User = url.UserPassword("reader", "pw")
	// %20, not the + of url.Values: pgx takes a + as it is.
	u.RawQuery += "&options=-c%20default_transaction_read_only%3Don"
	dir := t.TempDir()
	hcl := fmt.Sprintf("message_box {\n  postgres { url = %q }\n}\n", u.String())
	mb := filepath.Join(dir, "message_box.hcl")
	if err := os.WriteFile(mb, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := []string{"../../examples/quickstart", mb}

	for _, tc := range []struct {
		args []string
		want string // on stdout
	}{
		{[]string{"messages", "list"}, m.ID},
		{[]string{"messages", "show", m.ID}, m.ID},
		{[]string{"messages", "body", m.ID}, "<order/>"},
		{[]string{"messages", "mdn", m.ID}, mdn},
		{[]string{"messages", "purge", "--older-than", "30d", "--dry-run"}, "would purge 0 message(s)"},
		{[]string{"messages", "resume", "--all-suspended", "--dry-run"}, "would resume 0 suspended message(s)"},
		{[]string{"messages", "terminate", "--all-suspended", "--dry-run"}, "would terminate 0 suspended message(s)"},
		{[]string{"route", "--message", m.ID}, "routed to fabrikam"},
	} {
		var stdout, stderr bytes.Buffer
		args := append(tc.args[:len(tc.args):len(tc.args)], conf...)
		code := run(args, &stdout, &stderr, noEnv)
		if code != exitOK || !strings.Contains(stdout.String(), tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 0 and %q", strings.Join(tc.args, " "), code, &stdout, &stderr, tc.want)
		}
	}

	var stdout, stderr bytes.Buffer
	code := run(append([]string{"messages", "terminate", m.ID}, conf...), &stdout, &stderr, noEnv)
	if code != exitFindings || !strings.Contains(stderr.String(), "read-only transaction") {
		t.Errorf("terminate: exit %d, stderr %q; want exit 1, the database refusing the write", code, &stderr)
	}
}

// TestAwaitingMDNShowsAttemptPostgres: see testAwaitingMDNShowsAttempt.
func TestAwaitingMDNShowsAttemptPostgres(t *testing.T) {
	testAwaitingMDNShowsAttempt(t, postgresHandles(t))
}

// TestTerminateDryRunSkipsLeasedPostgres: see testTerminateDryRunSkipsLeased,
// the messages and the leases made by another handle on the box (another
// server).
func TestTerminateDryRunSkipsLeasedPostgres(t *testing.T) {
	box, dirs := postgresConfig(t)
	testTerminateDryRunSkipsLeased(t, box, dirs)
}
