package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// TestReadCommandsBesideAHeldWriteLock: the messages commands that change
// nothing (list, show, body, mdn, the --dry-run of purge and of bulk
// resume and terminate) and route --message read the embedded box while
// another process holds its write lock (a BEGIN IMMEDIATE, or BEGIN
// EXCLUSIVE, which in WAL mode lets readers read too): opening the box
// writes nothing when its schema is current. Before, each waited out
// the 10 s busy timeout for a migration check and a sweep it did not need,
// and failed. A command that changes the box still waits for the lock.
func TestReadCommandsBesideAHeldWriteLock(t *testing.T) {
	data := t.TempDir()
	path := filepath.Join(data, "messagebox.db")
	box, err := sqlitebox.Open(path, sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, mdn := deliveredWithMDN(t, box)
	box.Close()

	for _, begin := range []string{"BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"} {
		t.Run(begin, func(t *testing.T) {
			// Another process's writer, in the middle of a transaction.
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for _, stmt := range []string{begin, "UPDATE box_identity SET id = id"} {
				if _, err := conn.ExecContext(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			defer conn.ExecContext(ctx, "ROLLBACK")

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
				{[]string{"route", "--message", m.ID, "../../examples/quickstart"}, "routed to fabrikam"},
			} {
				var stdout, stderr bytes.Buffer
				args := append(tc.args[:len(tc.args):len(tc.args)], "--data-dir", data)
				code := run(args, &stdout, &stderr, noEnv)
				if code != exitOK || !strings.Contains(stdout.String(), tc.want) {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 0 and %q", strings.Join(tc.args, " "), code, &stdout, &stderr, tc.want)
				}
			}
		})
	}
}

// deliveredWithMDN stores in box a message routed to port as2 and
// delivered with an MDN, as the read-only commands' tests read it, and
// returns it and the MDN.
func deliveredWithMDN(t *testing.T, box msgbox.Box) (msgbox.Message, string) {
	t.Helper()
	ctx := context.Background()
	m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "orders_in", FileName: "o.xml", ContentType: "application/xml",
		Properties: map[string]string{"partner": "fabrikam"}},
		strings.NewReader("<order/>"), func(msgbox.Message) ([]string, string) { return []string{"as2"}, "" })
	if err != nil {
		t.Fatal(err)
	}
	d, err := box.ClaimBatch(ctx, "srv1/w0", []string{"as2"}, time.Hour, 1, nil)
	if err != nil || len(d) != 1 {
		t.Fatalf("claim: %v, %v", d, err)
	}
	mdn := "Content-Type: multipart/report; boundary=a\r\n\r\n--a--\r\n"
	o := msgbox.Outcome{State: msgbox.DeliveryDelivered, Receipt: &msgbox.DeliveryReceipt{ContentType: "multipart/report", Summary: "processed", Data: []byte(mdn)}}
	if err := box.Finish(ctx, d[0].ID, "srv1/w0", o); err != nil {
		t.Fatal(err)
	}
	return m, mdn
}
