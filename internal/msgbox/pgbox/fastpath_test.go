//go:build linux

package pgbox

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// countingRouter routes to ports and counts its calls.
type countingRouter struct {
	mu    sync.Mutex
	calls int
	ports []string
}

func (r *countingRouter) route(msgbox.Message) ([]string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return r.ports, ""
}

// TestLostCommitFastPaths: ReceiveRouted (both body paths), ClaimBatch and
// Recover, whose commits are lost after the server made them or before it
// saw them, make each change exactly once. A retried ReceiveRouted calls
// route again, inside the retry.
func TestLostCommitFastPaths(t *testing.T) {
	t.Parallel()
	p, b, direct := openCut(t)
	ctx := t.Context()

	// events counts the history entries of a message with status st.
	events := func(d *msgbox.Detail, st msgbox.DeliveryState) int {
		n := 0
		for _, e := range d.History {
			if e.Status == string(st) {
				n++
			}
		}
		return n
	}

	for _, tc := range []struct {
		name      string
		size      int
		after     bool // the commit is made and its answer lost
		wantCalls int  // route's calls
		wantErr   bool
	}{
		// Names without "commit", which the proxy would take for the
		// COMMIT it waits for.
		{"small, made, answer lost", 10, true, 1, false},
		{"small, never sent", 10, false, 2, false},
		{"large, made, answer lost", 2*ChunkSize + 1, true, 1, false},
		// The body is consumed: no retry, nothing stored, the source is
		// not acknowledged.
		{"large, never sent", 2*ChunkSize + 1, false, 1, true},
	} {
		port := strings.ReplaceAll(tc.name, " ", "_")
		r := &countingRouter{ports: []string{port}}
		cuts := p.cuts.Load()
		p.arm("COMMIT", tc.after)
		m, dup, err := b.ReceiveRouted(ctx, incoming(tc.name), bytes.NewReader(make([]byte, tc.size)), r.route)
		if got := p.cuts.Load() - cuts; got != 1 {
			t.Fatalf("%s: the proxy cut %d connections, want 1", tc.name, got)
		}
		if r.calls != tc.wantCalls {
			t.Errorf("%s: route called %d times, want %d", tc.name, r.calls, tc.wantCalls)
		}
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s: ReceiveRouted whose commit never arrived succeeded", tc.name)
			}
			all, err := msgbox.Collect(ctx, direct, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range all {
				if m.FileName == tc.name {
					t.Errorf("%s: stored %+v; want nothing", tc.name, m)
				}
			}
			continue
		}
		if err != nil || dup || m.Status != msgbox.StatusRouted || m.Size != int64(tc.size) {
			t.Fatalf("%s: ReceiveRouted = %+v, %v, %v; want stored and routed", tc.name, m, dup, err)
		}
		got, err := direct.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Message.Status != msgbox.StatusRouted || len(got.Deliveries) != 1 || got.Deliveries[0].Port != port ||
			events(got, msgbox.DeliveryPending) != 1 {
			t.Errorf("%s: stored %+v, deliveries %+v, history %+v; want routed once", tc.name, got.Message,
				got.Deliveries, got.History)
		}
		// Delivered for the rest of the test, so that only the claims
		// below are due.
		d := mustClaim(t, direct, "w", time.Minute, port)
		if err := direct.Finish(ctx, d.ID, "w", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	if all, err := msgbox.Collect(ctx, direct, msgbox.Filter{}); err != nil || len(all) != 3 {
		t.Errorf("List: %d messages, %v; want 3 (a message stored twice?)", len(all), err)
	}

	for _, after := range []bool{true, false} {
		name := map[bool]string{true: "made, answer lost", false: "never sent"}[after]
		port := map[bool]string{true: "claim_after", false: "claim_before"}[after]
		var ids []string
		for i := range 3 {
			ids = append(ids, route(t, direct, fmt.Sprintf("%s %d", port, i), port).ID)
		}
		p.arm("COMMIT", after)
		ds, err := b.ClaimBatch(ctx, "srv1/w1", []string{port}, time.Minute, 5, nil)
		// Cut off before its commit, the claim's rows stay locked until
		// the server notices the connection is gone: the retry may pass
		// them over, as it would another claimer's (see TestLostCommit).
		for end := time.Now().Add(deadline); !after && err == nil && len(ds) == 0 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
			ds, err = b.ClaimBatch(ctx, "srv1/w1", []string{port}, time.Minute, 5, nil)
		}
		if err != nil || len(ds) != 3 {
			t.Fatalf("%s: ClaimBatch = %d deliveries, %v; want 3", name, len(ds), err)
		}
		for i, d := range ds {
			got, err := direct.Get(ctx, ids[i])
			if err != nil {
				t.Fatal(err)
			}
			if d.MessageID != ids[i] || got.Deliveries[0].LeaseOwner != "srv1/w1" ||
				events(got, msgbox.DeliveryInProgress) != 1 {
				t.Errorf("%s: claim %d = %+v, stored %+v, history %+v; want claimed once, oldest first",
					name, i, d, got.Deliveries, got.History)
			}
		}

		// srv1 restarts: its Recover counts each interrupted attempt once,
		// however its commit went.
		p.arm("COMMIT", after)
		if _, err := b.Recover(ctx, "srv1"); err != nil {
			t.Fatalf("%s: Recover: %v", name, err)
		}
		for _, id := range ids {
			got, err := direct.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if dl := got.Deliveries[0]; dl.State != msgbox.DeliveryPending || dl.Attempts != 1 || len(got.Attempts) != 1 ||
				got.Attempts[0].Error != msgbox.InterruptedError("srv1/w1") {
				t.Errorf("%s: after Recover: %+v, attempts %+v; want pending, the interrupted attempt counted once",
					name, dl, got.Attempts)
			}
		}
	}
}

// TestReceiveRoutedNotifies: ReceiveRouted wakes the idle servers of the
// ports it routes to, with its commit, whatever the body's size; a
// duplicate, which routes nothing, and a routing failure wake nobody.
func TestReceiveRoutedNotifies(t *testing.T) {
	t.Parallel()
	idle, url := openNew(t, Options{})
	busy := openURL(t, url, Options{}) // another server
	ctx := t.Context()
	c, cancel := idle.Subscribe([]string{"p"})
	defer cancel()
	settle := settler(t, idle, busy, c)
	receive := func(name string, body io.Reader, ports ...string) (msgbox.Message, bool) {
		t.Helper()
		in := incoming(name)
		in.SourceKey = name
		m, dup, err := busy.ReceiveRouted(ctx, in, body, func(msgbox.Message) ([]string, string) { return ports, "" })
		if err != nil {
			t.Fatalf("ReceiveRouted(%s): %v", name, err)
		}
		return m, dup
	}

	settle()
	receive("small", strings.NewReader("<order/>"), "p")
	woken(t, c, "ReceiveRouted of a small body")
	settle()
	receive("large", bytes.NewReader(make([]byte, ChunkSize+1)), "p")
	woken(t, c, "ReceiveRouted of a large body")

	settle()
	if _, dup := receive("small", strings.NewReader("<order/>"), "p"); !dup {
		t.Fatal("second ReceiveRouted of a source: not a duplicate")
	}
	if m, _ := receive("nobody", strings.NewReader("<order/>")); m.Status != msgbox.StatusSuspended {
		t.Fatalf("routing failure: %+v, want suspended", m)
	}
	if settle() {
		t.Errorf("woken by a duplicate or a routing failure")
	}
}

// TestReceiveHandoffNotifies: ReceiveHandoff wakes, with its commit, the
// idle servers of the ports whose deliveries it leaves pending, and
// nobody for those it claims: the receiving server has them.
func TestReceiveHandoffNotifies(t *testing.T) {
	t.Parallel()
	idle, url := openNew(t, Options{})
	busy := openURL(t, url, Options{}) // the receiving server
	ctx := t.Context()
	mine, cancel := idle.Subscribe([]string{"mine"})
	defer cancel()
	other, cancelOther := idle.Subscribe([]string{"other"})
	defer cancelOther()
	settle := settler(t, idle, busy, mine)
	h := msgbox.Handoff{Owner: "srv1/receive", Ports: []string{"mine"}, Lease: time.Minute}
	for _, ports := range [][]string{{"mine", "other"}, {"mine"}} {
		settle()
		drain(other)
		items := []msgbox.Receipt{{In: incoming(fmt.Sprint(ports)), Body: strings.NewReader("<order/>")}}
		res := busy.ReceiveHandoff(ctx, items, func(msgbox.Message) ([]string, string) { return ports, "" }, h)
		if res[0].Err != nil || len(res[0].Claimed) != 1 {
			t.Fatalf("ReceiveHandoff to %v: %+v, want the delivery to mine claimed", ports, res[0])
		}
		if len(ports) > 1 {
			woken(t, other, "a handoff leaving other's delivery pending")
		}
		if settle() {
			t.Errorf("handoff to %v: woken for the delivery it claimed", ports)
		}
	}
}

// TestClaimBatchAcrossServers: batch claimers on two servers, each taking
// several deliveries of messages routed to two ports at once (so that one
// claim may lock several deliveries of one message), never take the same
// delivery, never fail (a deadlock would), and leave every status right.
func TestClaimBatchAcrossServers(t *testing.T) {
	t.Parallel()
	a, url := openNew(t, Options{})
	b := openURL(t, url, Options{})
	const messages = 40
	ports := []string{"p1", "p2"}
	for i := range messages {
		route(t, a, fmt.Sprint(i), ports...)
	}
	var mu sync.Mutex
	claims := map[int64][]string{}
	var wg sync.WaitGroup
	for s, box := range []*Box{a, b} {
		for w := range 3 {
			owner := fmt.Sprintf("srv%d/w%d", s, w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					ds, err := box.ClaimBatch(t.Context(), owner, ports, time.Minute, 4, nil)
					if err != nil {
						t.Errorf("%s: ClaimBatch: %v", owner, err)
						return
					}
					if len(ds) == 0 {
						return
					}
					for _, d := range ds {
						mu.Lock()
						claims[d.ID] = append(claims[d.ID], owner)
						mu.Unlock()
						if err := box.Finish(t.Context(), d.ID, owner, msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
							t.Errorf("%s: Finish: %v", owner, err)
							return
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(claims) != messages*len(ports) {
		t.Errorf("%d deliveries claimed, want %d", len(claims), messages*len(ports))
	}
	for id, owners := range claims {
		if len(owners) != 1 {
			t.Errorf("delivery %d claimed by %v", id, owners)
		}
	}
	done, err := msgbox.Collect(t.Context(), b, msgbox.Filter{Status: msgbox.StatusDelivered})
	if err != nil || len(done) != messages {
		t.Errorf("List(delivered) = %d messages, %v; want %d", len(done), err, messages)
	}
}
