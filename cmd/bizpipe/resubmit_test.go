package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// TestConcurrentResubmitsSQLite: see testConcurrentResubmits.
func TestConcurrentResubmitsSQLite(t *testing.T) {
	testConcurrentResubmits(t, sqliteHandles(t))
}

// sqliteHandles returns what opens a new handle on one SQLite box in a
// temporary directory each time it is called (an operator's command).
func sqliteHandles(t *testing.T) func() msgbox.Box {
	path := filepath.Join(t.TempDir(), "messagebox.db")
	return func() msgbox.Box {
		box, err := sqlitebox.Open(path, sqlitebox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return box
	}
}

// testConcurrentResubmits: two resubmits of one delivered message, each
// through its own handle on the box (two operators), both past their
// checks before either copies. One copy is made, and the other resubmit
// fails naming the message and that copy, instead of making a second copy
// (a second order sent to the partner). A resubmit after them makes a new
// copy, as a resubmit does. open opens a handle on the same box each time.
func testConcurrentResubmits(t *testing.T, open func() msgbox.Box) {
	ctx := context.Background()
	box := open()
	defer box.Close()
	orig := attempted(t, box, msgbox.Outcome{State: msgbox.DeliveryDelivered})

	var checked sync.WaitGroup
	checked.Add(2)
	released := make(chan struct{})
	go func() { checked.Wait(); close(released) }()
	hook := func() {
		checked.Done()
		select {
		case <-released:
		case <-time.After(time.Minute): // a safety net, not a timing
			t.Error("the other resubmit never got past its checks")
		}
	}
	errs := make([]error, 2)
	var done sync.WaitGroup
	for i := range errs {
		h := open()
		defer h.Close()
		done.Add(1)
		go func() {
			defer done.Done()
			var out bytes.Buffer
			errs[i] = resubmitMessage(ctx, &env{stdout: &out, resubmitChecked: hook}, h, orig.ID, messagesFlags{format: "text"})
		}()
	}
	done.Wait()

	copies := copiesOf(t, box, orig.ID)
	if len(copies) != 1 {
		t.Fatalf("two resubmits at once made %d copies %v (errors %v); want one", len(copies), copies, errs)
	}
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0].Error(), "message "+orig.ID+" was resubmitted as "+copies[0]) {
		t.Errorf("errors %v; want one, naming %s and its copy %s", errs, orig.ID, copies[0])
	}
	g, err := box.Get(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := resubmittedNotes(g); n != 1 {
		t.Errorf("the original's history notes %d resubmissions; want 1", n)
	}

	var out bytes.Buffer
	if err := resubmitMessage(ctx, &env{stdout: &out}, box, orig.ID, messagesFlags{format: "text"}); err != nil {
		t.Fatalf("a resubmit after them: %v", err)
	}
	if got := copiesOf(t, box, orig.ID); len(got) != 2 {
		t.Errorf("a resubmit after them leaves copies %v; want a second one", got)
	}
}

// TestResubmitWhileResumedSQLite: see testResubmitWhileResumed.
func TestResubmitWhileResumedSQLite(t *testing.T) {
	testResubmitWhileResumed(t, sqliteHandles(t))
}

// testResubmitWhileResumed: a resubmit of a suspended message, past its
// checks, and a resume of it by another operator (another handle on the
// box) before the copy is stored. The resume goes ahead; the resubmit then
// fails, naming the message and its state now, and stores no copy: both
// would send the partner the order. With --port, so with the port's
// delivery alone checked, too. open opens a handle on the same box each
// time.
func testResubmitWhileResumed(t *testing.T, open func() msgbox.Box) {
	ctx := context.Background()
	box := open()
	defer box.Close()
	other := open()
	defer other.Close()
	for _, port := range []string{"", "p"} {
		orig := attempted(t, box, msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "partner down"})
		resume := func() {
			if err := other.Resume(ctx, orig.ID); err != nil {
				t.Errorf("Resume by the other operator: %v", err)
			}
		}
		var out bytes.Buffer
		err := resubmitMessage(ctx, &env{stdout: &out, resubmitChecked: resume}, box, orig.ID, messagesFlags{format: "text", port: port})
		if err == nil {
			t.Fatalf("--port %q: resubmit = %q, no error, with the message resumed meanwhile: both are sent", port, out.String())
		}
		if want := "message " + orig.ID + " is routed: its deliveries are still under way"; !strings.Contains(err.Error(), want) {
			t.Errorf("--port %q: resubmit error %q; want it to say %q", port, err, want)
		}
		if copies := copiesOf(t, box, orig.ID); len(copies) != 0 {
			t.Errorf("--port %q: copies %v stored; want none", port, copies)
		}
		g, err := box.Get(ctx, orig.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := resubmittedNotes(g); n != 0 || g.Deliveries[0].State != msgbox.DeliveryPending {
			t.Errorf("--port %q: the original notes %d resubmissions, its delivery %s; want none, pending (resumed)", port, n, g.Deliveries[0].State)
		}
	}
}

// copiesOf lists the ids of the messages whose history says they are
// copies of message id.
func copiesOf(t *testing.T, box msgbox.Box, id string) []string {
	t.Helper()
	ctx := context.Background()
	msgs, err := msgbox.Collect(ctx, box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		d, err := box.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.History) > 0 && strings.HasPrefix(d.History[0].Detail, msgbox.ResubmittedFromDetail(id)) {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// resubmittedNotes counts the resubmissions d's history notes.
func resubmittedNotes(d *msgbox.Detail) int {
	n := 0
	for _, ev := range d.History {
		if ev.Status == msgbox.ResubmittedStatus {
			n++
		}
	}
	return n
}

// attempted stores a message routed to send port "p" in box and records
// its delivery's first attempt with o.
func attempted(t *testing.T, box msgbox.Box, o msgbox.Outcome) msgbox.Message {
	t.Helper()
	ctx := context.Background()
	m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "o.edi"}, strings.NewReader("order"),
		func(msgbox.Message) ([]string, string) { return []string{"p"}, "" })
	if err != nil {
		t.Fatal(err)
	}
	d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"p"}, time.Hour)
	if err != nil || d == nil {
		t.Fatalf("Claim = %v, %v", d, err)
	}
	if err := box.Finish(ctx, d.ID, "srv1/w0", o); err != nil {
		t.Fatal(err)
	}
	return m
}
