package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// routedBox opens a new message box in a temporary --data-dir, holding one
// message routed to ports.
func routedBox(t *testing.T, ports ...string) (data string, box *sqlitebox.Box, msg msgbox.Message) {
	t.Helper()
	data = t.TempDir()
	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msg, _, err = box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "a.edi", ContentType: "application/edi-x12"}, strings.NewReader("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Route(ctx, msg.ID, ports, ""); err != nil {
		t.Fatal(err)
	}
	return data, box, msg
}

// TestBulkSkipsWhatDoesNotApply: a suspended message whose other delivery
// is in progress under a live lease cannot be terminated; a bulk terminate
// says so for that message, with the box's reason, and still exits 0.
// Resume applies (it leaves the delivery in progress alone).
func TestBulkSkipsWhatDoesNotApply(t *testing.T) {
	data, box, msg := routedBox(t, "p", "q")
	ctx := context.Background()
	if _, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"p"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	q, err := msgboxtest.ClaimOne(ctx, box, "srv1/w1", []string{"q"}, time.Hour)
	if err != nil || q == nil {
		t.Fatalf("Claim q = %v, %v", q, err)
	}
	if err := box.Finish(ctx, q.ID, "srv1/w1", msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "partner down"}); err != nil {
		t.Fatal(err)
	}
	box.Close()

	out := terminateAllSuspended(t, data)
	if len(out.Terminated) != 0 || len(out.Skipped) != 1 || out.Skipped[0].ID != msg.ID || !strings.Contains(out.Skipped[0].Reason, "lease") {
		t.Errorf("terminate --all-suspended = %+v, want %s skipped for its live lease", out, msg.ID)
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"messages", "resume", "--all-suspended", "--data-dir", data}, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("resume exit %d, stderr %s", code, &stderr)
	}
	if got := stdout.String(); !strings.Contains(got, "resumed "+msg.ID+"\n") || !strings.HasSuffix(got, "resumed 1 suspended message(s)\n") {
		t.Errorf("resume --all-suspended printed %q", got)
	}
}

// TestPurgeDryRun: purge --dry-run counts what purge would delete and
// deletes nothing; purge then deletes that many. The message's arrival and
// history are moved two days back in the file, as time would.
func TestPurgeDryRun(t *testing.T) {
	data, box, msg := routedBox(t, "p")
	ctx := context.Background()
	d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"p"}, time.Hour)
	if err != nil || d == nil {
		t.Fatalf("Claim = %v, %v", d, err)
	}
	if err := box.Finish(ctx, d.ID, "srv1/w0", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
		t.Fatal(err)
	}
	box.Close()
	db, err := sql.Open("sqlite", filepath.Join(data, "messagebox.db"))
	if err != nil {
		t.Fatal(err)
	}
	back := (48 * time.Hour).Microseconds()
	_, err = db.Exec("UPDATE events SET at = at - ?", back)
	if err == nil {
		_, err = db.Exec("UPDATE messages SET received_at = received_at - ?", back)
	}
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"messages", "purge", "--older-than", "1d", "--dry-run", "--format", "json", "--data-dir", data}, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("purge --dry-run: exit %d, stderr %s", code, &stderr)
	}
	var would jsonPurgeable
	if err := json.Unmarshal(stdout.Bytes(), &would); err != nil || would.WouldPurge != 1 {
		t.Fatalf("purge --dry-run printed %s (%v); want would_purge 1", &stdout, err)
	}
	stdout.Reset()
	if code := run([]string{"messages", "show", "--data-dir", data, msg.ID}, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("the message is gone after purge --dry-run: exit %d, stderr %s", code, &stderr)
	}
	stdout.Reset()
	if code := run([]string{"messages", "purge", "--older-than", "1d", "--data-dir", data}, &stdout, &stderr, noEnv); code != exitOK ||
		!strings.HasPrefix(stdout.String(), "purged 1 message(s)") {
		t.Fatalf("purge after the dry run: exit %d, %q, stderr %s; want 1 purged", code, &stdout, &stderr)
	}
}

// TestBulkTerminateSkipsAMessageResumedMeanwhile: terminate
// --all-suspended lists the suspended messages, then ends each. One that
// another operator resumed in between is no longer suspended: it is
// skipped, saying why, and stays due, instead of being ended.
func TestBulkTerminateSkipsAMessageResumedMeanwhile(t *testing.T) {
	data, box, msg := routedBox(t, "p")
	ctx := context.Background()
	d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"p"}, time.Hour)
	if err != nil || d == nil {
		t.Fatalf("Claim = %v, %v", d, err)
	}
	if err := box.Finish(ctx, d.ID, "srv1/w0", msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "partner down"}); err != nil {
		t.Fatal(err)
	}
	defer box.Close()

	out := terminateAllSuspendedWith(t, data, func() {
		if err := box.Resume(ctx, msg.ID); err != nil {
			t.Errorf("Resume: %v", err)
		}
	})
	if len(out.Terminated) != 0 || len(out.Skipped) != 1 || out.Skipped[0].ID != msg.ID || !strings.Contains(out.Skipped[0].Reason, "is routed") {
		t.Errorf("terminate --all-suspended = %+v, want %s skipped as routed", out, msg.ID)
	}
	got, err := box.Get(ctx, msg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Message.Status != msgbox.StatusRouted {
		t.Errorf("the message resumed meanwhile is %s, want routed (still due)", got.Message.Status)
	}
}

// TestTypedMessageIDs: a message ID given as an operator may type or read
// it back (upper case, I or L for one, O for zero, as Crockford's base32
// allows) names the message, for show, body, terminate and resubmit alike.
func TestTypedMessageIDs(t *testing.T) {
	data, box, msg := routedBox(t, "p")
	box.Close()
	typed := strings.NewReplacer("0", "O", "1", "l").Replace(strings.ToUpper(msg.ID))
	for _, args := range [][]string{
		{"messages", "show", "--data-dir", data, typed},
		{"messages", "body", "--data-dir", data, typed},
		{"messages", "terminate", "--data-dir", data, typed},
		{"messages", "resubmit", "--data-dir", data, typed},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr, noEnv); code != exitOK {
			t.Errorf("%s: exit %d, stderr %s", strings.Join(args[:2], " "), code, &stderr)
		}
		if args[1] == "terminate" && !strings.Contains(stdout.String(), msg.ID) {
			t.Errorf("terminate says %q, want the message's id %s", &stdout, msg.ID)
		}
	}
}

// TestBulkTerminatePagesSQLite: see testBulkTerminatePages.
func TestBulkTerminatePagesSQLite(t *testing.T) {
	data := t.TempDir()
	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	testBulkTerminatePages(t, box, []string{"--data-dir", data})
}

// testBulkTerminatePages: terminate --all-suspended on the box (where
// names it on the command line) acts on the suspended messages as the box
// lists them, a page at a time, oldest first, instead of listing them all
// before acting. Over more than two pages, while it runs, another
// operator resumes a suspended message of a later page, and another
// message of a later page is suspended: the first is left alone, not even
// listed, and the second is terminated, each message once; a message
// received after the command started is left suspended.
func testBulkTerminatePages(t *testing.T, box msgbox.Box, where []string) {
	ctx := context.Background()
	const n = 2*msgbox.ListPage + 100
	const resumedAt, suspendedAt = msgbox.ListPage + 50, 2*msgbox.ListPage + 20
	items := make([]msgbox.Receipt, n)
	for i := range items {
		items[i] = msgbox.Receipt{In: msgbox.Incoming{ReceiveLocation: "in", FileName: fmt.Sprintf("%d.edi", i)}, Body: strings.NewReader("x")}
	}
	late := fmt.Sprintf("%d.edi", suspendedAt)
	var ids []string // oldest first
	for len(items) > 0 {
		k := min(len(items), 200)
		for _, r := range box.ReceiveBatch(ctx, items[:k], func(m msgbox.Message) ([]string, string) {
			if m.FileName == late {
				return []string{"p"}, ""
			}
			return nil, "no send port"
		}) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			ids = append(ids, r.Message.ID)
		}
		items = items[k:]
	}
	var after msgbox.Message
	listed := func() {
		if err := box.Resume(ctx, ids[resumedAt]); err != nil {
			t.Errorf("Resume: %v", err)
		}
		d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"p"}, time.Hour)
		if err != nil || d == nil || d.MessageID != ids[suspendedAt] {
			t.Fatalf("Claim = %+v, %v", d, err)
		}
		if err := box.Finish(ctx, d.ID, "srv1/w0", msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "partner down"}); err != nil {
			t.Fatal(err)
		}
		after, _, err = box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "after.edi"}, strings.NewReader("x"),
			func(msgbox.Message) ([]string, string) { return nil, "no send port" })
		if err != nil {
			t.Fatal(err)
		}
	}

	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, lookupEnv: noEnv, bulkListed: listed}
	if code := runEnv(e, append([]string{"messages", "terminate", "--all-suspended", "--format", "json"}, where...)); code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, &stderr)
	}
	var out terminatedAll
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v:\n%s", err, &stdout)
	}
	want := slices.Delete(slices.Clone(ids), resumedAt, resumedAt+1)
	if !slices.Equal(out.Terminated, want) || len(out.Skipped) != 0 {
		t.Errorf("terminated %d messages, skipped %v; want the %d suspended as the box listed them, oldest first, none skipped",
			len(out.Terminated), out.Skipped, len(want))
		for i := range min(len(out.Terminated), len(want)) {
			if out.Terminated[i] != want[i] {
				t.Errorf("the first difference: terminated[%d] = %s, want %s", i, out.Terminated[i], want[i])
				break
			}
		}
	}
	for id, st := range map[string]msgbox.Status{ids[resumedAt]: msgbox.StatusReceived, ids[suspendedAt]: msgbox.StatusTerminated,
		after.ID: msgbox.StatusSuspended} {
		if m, err := box.Message(ctx, id); err != nil || m.Status != st {
			t.Errorf("%s after terminate --all-suspended: %s, %v; want %s", id, m.Status, err, st)
		}
	}
}

// terminatedAll is the JSON of messages terminate --all-suspended.
type terminatedAll struct {
	Terminated []string `json:"terminated"`
	Skipped    []struct {
		ID, Reason string
	} `json:"skipped"`
}

// terminateAllSuspended runs messages terminate --all-suspended --format
// json on the box in data, which must exit 0, and returns what it printed.
func terminateAllSuspended(t *testing.T, data string) terminatedAll {
	t.Helper()
	return terminateAllSuspendedWith(t, data, nil)
}

// terminateAllSuspendedWith is terminateAllSuspended with listed, when not
// nil, called between the listing and the terminations (env.bulkListed).
func terminateAllSuspendedWith(t *testing.T, data string, listed func()) terminatedAll {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, lookupEnv: noEnv, bulkListed: listed}
	code := runEnv(e, []string{"messages", "terminate", "--all-suspended", "--format", "json", "--data-dir", data})
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, &stderr)
	}
	var out terminatedAll
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v:\n%s", err, &stdout)
	}
	return out
}

// TestPurgeFailedSaysWhatWasPurged: a purge that fails part way has
// deleted whole batches before: its error says how many messages are gone,
// so that the operator does not take the failure for "nothing changed". A
// dry run, or a failure before any deletion, says only the failure.
func TestPurgeFailedSaysWhatWasPurged(t *testing.T) {
	cause := errors.New("message box: disk I/O error")
	for _, tc := range []struct {
		n      int
		dryRun bool
		want   string
	}{
		{0, false, "message box: disk I/O error"},
		{3, false, "message box: disk I/O error (3 message(s) purged before the failure; run purge again for the rest)"},
		{3, true, "message box: disk I/O error"},
	} {
		err := purgeFailed(cause, tc.n, tc.dryRun)
		if err.Error() != tc.want || !errors.Is(err, cause) {
			t.Errorf("purgeFailed(%d, dry run %v) = %q, want %q wrapping the cause", tc.n, tc.dryRun, err, tc.want)
		}
	}
}

// TestTerminateDryRunSkipsLeasedSQLite: see testTerminateDryRunSkipsLeased.
func TestTerminateDryRunSkipsLeasedSQLite(t *testing.T) {
	data := t.TempDir()
	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	testTerminateDryRunSkipsLeased(t, box, []string{"--data-dir", data})
}

// testTerminateDryRunSkipsLeased: terminate --all-suspended --dry-run
// says what terminate --all-suspended would do now. A suspended message
// whose other delivery is in progress under a live lease (a worker of
// another server delivering it) is one terminate skips: the preview says
// it would skip it, with the same reason, instead of listing it among
// those it would terminate. One whose lease expired is terminated, and
// previewed as such.
func testTerminateDryRunSkipsLeased(t *testing.T, box msgbox.Box, where []string) {
	ctx := context.Background()
	suspendedWith := func(lease time.Duration) msgbox.Message {
		t.Helper()
		m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "a.edi"}, strings.NewReader("x"),
			func(msgbox.Message) ([]string, string) { return []string{"p", "q"}, "" })
		if err != nil {
			t.Fatal(err)
		}
		if d, err := msgboxtest.ClaimOne(ctx, box, "srv2/w0", []string{"p"}, lease); err != nil || d == nil {
			t.Fatalf("Claim p = %v, %v", d, err)
		}
		q, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"q"}, time.Hour)
		if err != nil || q == nil {
			t.Fatalf("Claim q = %v, %v", q, err)
		}
		if err := box.Finish(ctx, q.ID, "srv1/w0", msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "partner down"}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	leased := suspendedWith(time.Hour)
	expired := suspendedWith(time.Microsecond)

	type result struct {
		Would      []string         `json:"would_terminate"`
		Terminated []string         `json:"terminated"`
		Skipped    []skippedMessage `json:"skipped"`
	}
	for _, args := range [][]string{
		{"messages", "terminate", "--all-suspended", "--dry-run", "--format", "json"},
		{"messages", "terminate", "--all-suspended", "--format", "json"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(append(args, where...), &stdout, &stderr, noEnv); code != exitOK {
			t.Fatalf("%s: exit %d, stderr %s", strings.Join(args, " "), code, &stderr)
		}
		var out result
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatalf("%s: %v:\n%s", strings.Join(args, " "), err, &stdout)
		}
		acted := append(out.Would, out.Terminated...)
		if !slices.Equal(acted, []string{expired.ID}) || len(out.Skipped) != 1 || out.Skipped[0].ID != leased.ID ||
			!strings.Contains(out.Skipped[0].Reason, "delivery to p is in progress, leased by srv2/w0") {
			t.Errorf("%s = %s; want %s acted on and %s skipped for its live lease", strings.Join(args, " "), &stdout, expired.ID, leased.ID)
		}
	}
}
