//go:build linux

package pgbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// cutProxy is a TCP proxy between a box and the test server that can lose a
// connection at the worst moment: right after the client sent a given
// statement. It parses nothing but the framing of the server's messages.
//
// Armed in "after" mode, it lets the server run the statement and answer,
// swallows the answer up to ReadyForQuery, then closes the connection: the
// change is committed, and the client never hears of it. In "before" mode it
// closes the connection without passing the statement on: nothing is
// committed, and the client cannot tell. Armed late (armLate), it closes
// the client's side at once and passes the statement on a while later, as
// a network that delivers it after the client gave up: a retry on a new
// connection meets the first try's transaction still open, which then
// commits.
type cutProxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu     sync.Mutex
	marker []byte // statement text to cut at; nil when disarmed
	after  bool
	late   time.Duration // armLate's delay; 0 when not armed late
	cuts   atomic.Int32

	cancelMarker []byte // statement text at which to call cancelFn; nil when disarmed
	cancelFn     func()
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	return p
}

// openCut opens a box on a new database through a cutProxy, and another,
// direct, to look, not through the proxy.
func openCut(t *testing.T) (p *cutProxy, b, direct *Box) {
	t.Helper()
	dbURL := pg.NewDatabase(t)
	p = newCutProxy(t, mustHost(t, dbURL))
	return p, openURL(t, p.url(dbURL), Options{}), openURL(t, dbURL, Options{})
}

// url returns dbURL rewritten to go through the proxy. The extended
// protocol's unnamed statements (exec mode) put every statement's text on
// the wire each time, where the proxy can see it.
func (p *cutProxy) url(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		p.t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	q := u.Query()
	q.Set("default_query_exec_mode", "exec")
	u.RawQuery = q.Encode()
	return u.String()
}

// arm makes the proxy cut the next connection that sends marker.
func (p *cutProxy) arm(marker string, after bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marker, p.after, p.late = bytes.ToUpper([]byte(marker)), after, 0
}

// armLate makes the proxy cut the client of the next connection that
// sends marker, and pass marker's statement to the server delay later.
func (p *cutProxy) armLate(marker string, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marker, p.after, p.late = bytes.ToUpper([]byte(marker)), true, delay
}

// cancelAt makes the proxy call cancel, once, when a client sends marker,
// before passing it on: a context that ends while that statement runs.
func (p *cutProxy) cancelAt(marker string, cancel func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancelMarker, p.cancelFn = bytes.ToUpper([]byte(marker)), cancel
}

// seen calls the cancel armed by cancelAt if chunk holds its marker.
func (p *cutProxy) seen(chunk []byte) {
	p.mu.Lock()
	var cancel func()
	if p.cancelMarker != nil && bytes.Contains(bytes.ToUpper(chunk), p.cancelMarker) {
		cancel, p.cancelMarker, p.cancelFn = p.cancelFn, nil, nil
	}
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// take reports whether chunk triggers the armed cut, disarming it.
func (p *cutProxy) take(chunk []byte) (cut, after bool, late time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Case-insensitive: pgx's own transactions send "commit".
	if p.marker == nil || !bytes.Contains(bytes.ToUpper(chunk), p.marker) {
		return false, false, 0
	}
	p.marker = nil
	p.cuts.Add(1)
	return true, p.after, p.late
}

func (p *cutProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		go p.relay(client, server)
	}
}

func (p *cutProxy) relay(client, server net.Conn) {
	var once sync.Once
	closeBoth := func() { once.Do(func() { client.Close(); server.Close() }) }
	defer closeBoth()
	swallow := make(chan struct{}) // closed: drop the server's answer, close at ReadyForQuery
	go func() {
		late := time.Duration(0)
		defer func() {
			if late == 0 {
				closeBoth()
			}
		}()
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				p.seen(buf[:n])
				var cut, after bool
				if cut, after, late = p.take(buf[:n]); cut {
					if late > 0 {
						// The client gives up now; the server gets the
						// statement later, and the loop below closes
						// the server side once it answered.
						client.Close()
						time.Sleep(late)
						close(swallow)
						server.Write(buf[:n])
						return
					}
					if !after {
						return // the statement never reaches the server
					}
					close(swallow)
					server.Write(buf[:n])
					io.Copy(server, client) // keep the server side open until closed
					return
				}
				if _, err := server.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	// Server to client, message by message: type byte, int32 length.
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(server, hdr); err != nil {
			return
		}
		body := make([]byte, int(binary.BigEndian.Uint32(hdr[1:]))-4)
		if _, err := io.ReadFull(server, body); err != nil {
			return
		}
		select {
		case <-swallow:
			if hdr[0] == 'Z' { // ReadyForQuery: the server is done with the batch
				return
			}
			continue
		default:
		}
		if _, err := client.Write(append(hdr, body...)); err != nil {
			return
		}
	}
}

func TestLostCommit(t *testing.T) {
	t.Parallel()
	p, b, direct := openCut(t)
	ctx := t.Context()
	deliveredO := msgbox.Outcome{State: msgbox.DeliveryDelivered}

	for _, after := range []bool{true, false} {
		name := map[bool]string{true: "committed, answer lost", false: "never sent"}[after]
		port := map[bool]string{true: "a", false: "b"}[after]

		// Receive of a small body: one statement outside a transaction.
		cuts := p.cuts.Load()
		p.arm("WITH m AS (", after)
		m, dup, err := b.ReceiveRouted(ctx, incoming("small "+port), strings.NewReader("small"), nil)
		if err != nil || dup {
			t.Fatalf("%s: Receive = %v, %v; want it stored once", name, dup, err)
		}
		// Receive of a body of several chunks: a transaction.
		p.arm("COMMIT", after)
		big, _, err := b.ReceiveRouted(ctx, incoming("big "+port), bytes.NewReader(make([]byte, 2*ChunkSize+1)), nil)
		if err != nil && after {
			t.Fatalf("%s: Receive of a large body = %v; want it found stored", name, err)
		}
		if err == nil && !after {
			t.Errorf("%s: Receive of a large body whose commit never arrived succeeded", name)
		}

		p.arm("COMMIT", after)
		if err := b.Route(ctx, m.ID, []string{port}, ""); err != nil {
			t.Fatalf("%s: Route = %v; want routed once", name, err)
		}
		p.arm("COMMIT", after)
		d, err := msgboxtest.ClaimOne(ctx, b, "srv1/w1", []string{port}, time.Minute)
		// A claim cut off before its commit leaves the delivery locked
		// until the server notices the connection is gone (at once, as
		// the proxy closes it): the retry may skip it and find nothing
		// due, as a concurrent claimer would. It is claimable again
		// right after.
		for end := time.Now().Add(deadline); !after && err == nil && d == nil && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
			d, err = msgboxtest.ClaimOne(ctx, b, "srv1/w1", []string{port}, time.Minute)
		}
		if err != nil || d == nil {
			t.Fatalf("%s: Claim = %v, %v; want the delivery", name, d, err)
		}
		p.arm("COMMIT", after)
		if err := b.Finish(ctx, d.ID, "srv1/w1", deliveredO); err != nil {
			t.Fatalf("%s: Finish = %v; want it recorded once", name, err)
		}
		if got := p.cuts.Load() - cuts; got != 5 {
			t.Fatalf("%s: the proxy cut %d connections, want 5 (one per operation)", name, got)
		}

		// Each change was made exactly once.
		got, err := direct.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Message.Status != msgbox.StatusDelivered || len(got.Deliveries) != 1 || len(got.Attempts) != 1 ||
			got.Deliveries[0].Attempts != 1 || got.Attempts[0].Owner != "srv1/w1" {
			t.Errorf("%s: after the lost commits: status %s, deliveries %+v, attempts %+v", name,
				got.Message.Status, got.Deliveries, got.Attempts)
		}
		if after {
			if gb, err := direct.Get(ctx, big.ID); err != nil || gb.Message.Size != 2*ChunkSize+1 {
				t.Errorf("%s: large message: %+v, %v", name, gb, err)
			}
		}
	}
	all, err := msgbox.Collect(ctx, direct, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 { // small a, big a, small b (big b failed and is not stored)
		t.Errorf("List: %d messages, want 3: a Receive stored a message twice, or a failed one stored it", len(all))
	}

	// An operator's change whose commit is lost is reported as such.
	m := route(t, direct, "to resume", "s")
	d := mustClaim(t, direct, "w", time.Minute, "s")
	if err := direct.Finish(ctx, d.ID, "w", msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "e"}); err != nil {
		t.Fatal(err)
	}
	p.arm("COMMIT", true)
	if err := b.Resume(ctx, m.ID); !errors.Is(err, ErrCommitUncertain) {
		t.Errorf("Resume whose commit was lost: %v, want ErrCommitUncertain", err)
	}
	if got, err := direct.Get(ctx, m.ID); err != nil || got.Message.Status != msgbox.StatusRouted {
		t.Errorf("after the lost commit, Resume was made: status %v, %v; want routed", got, err)
	}
}

func mustHost(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// receiveCut passes three small messages (named after prefix and after)
// to receive, through p armed to cut at the COMMIT, after it ran or before
// it was sent, and returns them and receive's answer.
func receiveCut(t *testing.T, p *cutProxy, prefix string, after bool,
	receive func([]msgbox.Receipt) []msgbox.ReceiveResult) ([]msgbox.Receipt, []msgbox.ReceiveResult) {
	t.Helper()
	// Not a name with "committed" in it: the proxy would cut at the inserts.
	label := map[bool]string{true: "a", false: "b"}[after]
	var items []msgbox.Receipt
	for i := range 3 {
		in := incoming(fmt.Sprintf("%s %s %d", prefix, label, i))
		in.SourceKey = in.FileName
		items = append(items, msgbox.Receipt{In: in, Body: strings.NewReader(in.FileName)})
	}
	cuts := p.cuts.Load()
	p.arm("COMMIT", after)
	res := receive(items)
	if got := p.cuts.Load() - cuts; got != 1 {
		t.Fatalf("%s %s: the proxy cut %d connections, want 1", prefix, label, got)
	}
	return items, res
}

// TestLostCommitBatch: a ReceiveBatch whose COMMIT is lost (committed and
// the answer lost, or never sent) stores each message of the batch once,
// routed, and answers every item as stored; a FinishBatch likewise
// records each outcome once.
func TestLostCommitBatch(t *testing.T) {
	t.Parallel()
	p, b, direct := openCut(t)
	ctx := t.Context()
	toA := func(msgbox.Message) ([]string, string) { return []string{"a"}, "" }
	for _, after := range []bool{true, false} {
		name := map[bool]string{true: "committed, answer lost", false: "never sent"}[after]
		items, res := receiveCut(t, p, "batch", after, func(items []msgbox.Receipt) []msgbox.ReceiveResult {
			return b.ReceiveBatch(ctx, items, toA)
		})
		for i, r := range res {
			if r.Err != nil || r.Dup || r.Message.Status != msgbox.StatusRouted {
				t.Fatalf("%s: item %d = %+v; want it stored and routed", name, i, r)
			}
			got, err := direct.Get(ctx, r.Message.ID)
			if err != nil || len(got.Deliveries) != 1 || got.Message.FileName != items[i].In.FileName {
				t.Errorf("%s: item %d stored as %+v, %v", name, i, got, err)
			}
		}
		// Their outcomes, in one FinishBatch whose COMMIT is lost: each
		// recorded once.
		ds, err := b.ClaimBatch(ctx, "srv1/w1", []string{"a"}, time.Minute, 10, nil)
		if err != nil || len(ds) != 3 {
			t.Fatalf("%s: claimed %d, %v; want 3", name, len(ds), err)
		}
		fins := deliveredAll(ds, "srv1/w1")
		cuts := p.cuts.Load()
		p.arm("COMMIT", after)
		for i, err := range b.FinishBatch(ctx, fins) {
			if err != nil {
				t.Errorf("%s: finishing item %d: %v", name, i, err)
			}
		}
		if got := p.cuts.Load() - cuts; got != 1 {
			t.Fatalf("%s: the proxy cut %d connections in FinishBatch, want 1", name, got)
		}
		for _, d := range ds {
			got, err := direct.Get(ctx, d.MessageID)
			if err != nil || got.Message.Status != msgbox.StatusDelivered || len(got.Attempts) != 1 ||
				got.Deliveries[0].Attempts != 1 {
				t.Errorf("%s: after the lost commit: %+v, %v; want delivered after one attempt", name, got, err)
			}
		}
	}
	all, err := msgbox.Collect(ctx, direct, msgbox.Filter{})
	if err != nil || len(all) != 6 {
		t.Errorf("List: %d messages, %v; want 6, each stored once", len(all), err)
	}
}

// TestLateCommitFinish: a Finish or FinishBatch whose COMMIT reaches the
// server only after the client gave up (its look for the attempt it wrote
// finds none yet; its retry then waits for the first try's transaction,
// which commits, and finds the deliveries finished) answers each outcome
// as recorded, not as a lease lost, and records each once.
func TestLateCommitFinish(t *testing.T) {
	t.Parallel()
	p, b, direct := openCut(t)
	ctx := t.Context()
	for _, n := range []int{1, 3} { // Finish's path, FinishBatch's
		port := fmt.Sprintf("late%d", n)
		for i := range n {
			route(t, direct, fmt.Sprintf("%s-%d", port, i), port)
		}
		ds, err := direct.ClaimBatch(ctx, "srv1/w1", []string{port}, time.Minute, 10, nil)
		if err != nil || len(ds) != n {
			t.Fatalf("%d: claimed %d, %v", n, len(ds), err)
		}
		fins := deliveredAll(ds, "srv1/w1")
		cuts := p.cuts.Load()
		p.armLate("COMMIT", 700*time.Millisecond)
		for i, err := range b.FinishBatch(ctx, fins) {
			if err != nil {
				t.Errorf("%d: finishing item %d: %v; want it recorded", n, i, err)
			}
		}
		if got := p.cuts.Load() - cuts; got != 1 {
			t.Fatalf("%d: the proxy cut %d connections, want 1", n, got)
		}
		for _, d := range ds {
			got, err := direct.Get(ctx, d.MessageID)
			if err != nil || got.Message.Status != msgbox.StatusDelivered || len(got.Attempts) != 1 ||
				got.Deliveries[0].Attempts != 1 {
				t.Errorf("%d: after the late commit: %+v, %v; want delivered after one attempt", n, got, err)
			}
		}
	}
}

// TestLateCommitClaim: a ClaimBatch whose COMMIT reaches the server only
// after the client gave up (its look for the leases it took finds none yet,
// and its retry, skipping the rows the first try's transaction still
// locks, claims nothing) waits for that transaction and returns the
// deliveries it claimed, instead of leaving them leased to an owner that
// never heard of them until the lease runs out.
func TestLateCommitClaim(t *testing.T) {
	t.Parallel()
	p, b, direct := openCut(t)
	ctx := t.Context()
	want := map[string]bool{}
	for i := range 3 {
		want[route(t, direct, fmt.Sprintf("lateclaim-%d", i), "lc").ID] = true
	}
	p.armLate("COMMIT", 700*time.Millisecond)
	ds, err := b.ClaimBatch(ctx, "srv1/w1", []string{"lc"}, time.Minute, 10, nil)
	if err != nil {
		t.Fatalf("ClaimBatch: %v", err)
	}
	if got := p.cuts.Load(); got != 1 {
		t.Fatalf("the proxy cut %d connections, want 1", got)
	}
	for _, d := range ds {
		delete(want, d.MessageID)
	}
	if len(ds) != 3 || len(want) != 0 {
		t.Errorf("ClaimBatch returned %d deliveries, missing %v; want the 3 its late commit claimed", len(ds), want)
	}
	for _, d := range ds {
		got, err := direct.Get(ctx, d.MessageID)
		if err != nil || len(got.Deliveries) != 1 || got.Deliveries[0].LeaseOwner != "srv1/w1" {
			t.Errorf("%s after the claim: %+v, %v; want it leased to srv1/w1", d.MessageID, got, err)
		}
	}
}

// TestLostAnswerSingleStatements: a write made by one statement outside a
// transaction whose answer is lost (the server ran it) is not run again
// blindly: Purge reports ErrCommitUncertain for the batch it deleted;
// FinishMDN and AwaitMDN find what they recorded and answer it as
// recorded, not as a claim or lease lost.
func TestLostAnswerSingleStatements(t *testing.T) {
	t.Parallel()
	p, b, direct := openCut(t)
	ctx := t.Context()

	done := route(t, direct, "purged", "q")
	d := mustClaim(t, direct, "w", time.Minute, "q")
	if err := direct.Finish(ctx, d.ID, "w", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
		t.Fatal(err)
	}
	p.arm("WITH doomed AS", true)
	if _, err := b.Purge(ctx, time.Now().Add(time.Hour)); !errors.Is(err, ErrCommitUncertain) {
		t.Errorf("Purge with its answer lost: %v, want ErrCommitUncertain", err)
	}
	if _, err := direct.Get(ctx, done.ID); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("the purged message: %v, want it gone", err)
	}

	owed := route(t, direct, "owed", "r")
	if err := direct.PutMDN(ctx, msgbox.SentMDN{MessageID: owed.ID, Location: "as2_in", Data: []byte("MDN"),
		URL: "http://127.0.0.1:1/mdn", State: msgbox.MDNPending, NextAttemptAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	claimed, err := direct.ClaimMDNs(ctx, "as2_in", time.Minute, 1, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("ClaimMDNs = %+v, %v", claimed, err)
	}
	p.arm("UPDATE sent_mdns SET state = $1", true)
	if err := b.FinishMDN(ctx, claimed[0], msgbox.MDNSent, time.Time{}, ""); err != nil {
		t.Errorf("FinishMDN with its answer lost: %v, want it recorded", err)
	}
	if sent, err := direct.SentMDN(ctx, owed.ID); err != nil || sent.State != msgbox.MDNSent {
		t.Errorf("the MDN after FinishMDN: %+v, %v; want sent", sent, err)
	}

	awaiting := route(t, direct, "awaiting", "s")
	ad := mustClaim(t, direct, "srv1/w1", time.Minute, "s")
	p.arm("awaited_mdns (delivery_id", true)
	if err := b.AwaitMDN(ctx, "srv1/w1", msgbox.AwaitedMDN{DeliveryID: ad.ID, MessageID: awaiting.ID, Port: "s",
		AS2MessageID: "<awaiting@contoso>", Deadline: time.Now().Add(time.Hour)}); err != nil {
		t.Errorf("AwaitMDN with its answer lost: %v, want the wait recorded", err)
	}
	if w, err := direct.AwaitedMDN(ctx, "<awaiting@contoso>"); err != nil || w.DeliveryID != ad.ID || w.LeaseOwner != msgbox.AwaitOwner {
		t.Errorf("the wait after AwaitMDN: %+v, %v; want delivery %d held by %s", w, err, ad.ID, msgbox.AwaitOwner)
	}

	// A claim that found nothing to take (what is due is in flight here:
	// except) and lost its COMMIT changed nothing: it says so, not that
	// its commit is uncertain.
	route(t, direct, "in flight", "u")
	busy := mustClaim(t, direct, "srv1/w1", time.Millisecond, "u")
	time.Sleep(5 * time.Millisecond) // its lease ends: due again, for the probe
	p.arm("COMMIT", true)
	if ds, err := b.ClaimBatch(ctx, "srv1/w2", []string{"u"}, time.Minute, 10, []int64{busy.ID}); err != nil || len(ds) != 0 {
		t.Errorf("ClaimBatch of nothing, its COMMIT lost = %d, %v; want none, no error", len(ds), err)
	}
	if got := p.cuts.Load(); got != 4 {
		t.Errorf("the proxy cut %d connections, want 4", got)
	}
}

// TestLostAnswerLookAfterContext: FinishMDN and AwaitMDN, their answer
// lost and their rerun finding the change made, look whether it was the
// lost try's; a context that ends during that look does not make the
// caller think nothing was recorded. Before, the look ran on the context,
// and the call returned its end, without saying the commit was in doubt.
func TestLostAnswerLookAfterContext(t *testing.T) {
	t.Parallel()
	p, b, direct := openCut(t)

	owed := route(t, direct, "owed", "r")
	if err := direct.PutMDN(t.Context(), msgbox.SentMDN{MessageID: owed.ID, Location: "as2_in", Data: []byte("MDN"),
		URL: "http://127.0.0.1:1/mdn", State: msgbox.MDNPending, NextAttemptAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	claimed, err := direct.ClaimMDNs(t.Context(), "as2_in", time.Minute, 1, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("ClaimMDNs = %+v, %v", claimed, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p.arm("UPDATE sent_mdns SET state = $1", true)
	p.cancelAt("SELECT state = $1 AND next_attempt_at", cancel)
	if err := b.FinishMDN(ctx, claimed[0], msgbox.MDNSent, time.Time{}, ""); err != nil && !errors.Is(err, ErrCommitUncertain) {
		t.Errorf("FinishMDN with its answer lost and its context ended in the look: %v, want nil or ErrCommitUncertain", err)
	}

	awaiting := route(t, direct, "awaiting", "s")
	ad := mustClaim(t, direct, "srv1/w1", time.Minute, "s")
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	p.arm("awaited_mdns (delivery_id", true)
	p.cancelAt("SELECT EXISTS (SELECT 1 FROM deliveries d JOIN awaited_mdns", cancel)
	if err := b.AwaitMDN(ctx, "srv1/w1", msgbox.AwaitedMDN{DeliveryID: ad.ID, MessageID: awaiting.ID, Port: "s",
		AS2MessageID: "<awaiting@contoso>", Deadline: time.Now().Add(time.Hour)}); err != nil && !errors.Is(err, ErrCommitUncertain) {
		t.Errorf("AwaitMDN with its answer lost and its context ended in the look: %v, want nil or ErrCommitUncertain", err)
	}
	if got := p.cuts.Load(); got != 2 {
		t.Errorf("the proxy cut %d connections, want 2", got)
	}
}

// TestLostCommitHandoff: a ReceiveHandoff whose COMMIT is lost (committed
// and the answer lost, or never sent) stores each message once and answers
// with what it claimed: the deliveries the box holds for the owner, with
// the message as stored and its body, none left for a claim.
func TestLostCommitHandoff(t *testing.T) {
	t.Parallel()
	p, b, direct := openCut(t)
	ctx := t.Context()
	route := func(msgbox.Message) ([]string, string) { return []string{"a", "b"}, "" }
	h := msgbox.Handoff{Owner: "srv1/receive", Ports: []string{"a"}, Lease: time.Minute}
	for _, after := range []bool{true, false} {
		name := map[bool]string{true: "committed, answer lost", false: "never sent"}[after]
		items, res := receiveCut(t, p, "handoff", after, func(items []msgbox.Receipt) []msgbox.ReceiveResult {
			return b.ReceiveHandoff(ctx, items, route, h)
		})
		for i, r := range res {
			if r.Err != nil || r.Dup || len(r.Claimed) != 1 {
				t.Fatalf("%s: item %d = %+v; want it stored, its delivery to a claimed", name, i, r)
			}
			d := r.Claimed[0]
			got, err := direct.Get(ctx, r.Message.ID)
			if err != nil || len(got.Deliveries) != 2 {
				t.Fatalf("%s: item %d stored as %+v, %v", name, i, got, err)
			}
			held := got.Deliveries[0]
			if held.ID != d.ID || d.Port != "a" || held.State != msgbox.DeliveryInProgress || d.State != held.State ||
				held.LeaseOwner != h.Owner || d.LeaseOwner != h.Owner || !d.LeaseUntil.Equal(held.LeaseUntil) {
				t.Errorf("%s: item %d claimed %+v, stored %+v; want the same, held by %s", name, i, d, held, h.Owner)
			}
			if d.Message == nil || !reflect.DeepEqual(*d.Message, got.Message) || string(d.Body) != items[i].In.FileName {
				t.Errorf("%s: item %d handed %+v with body %q; want %+v and its body", name, i, d.Message, d.Body, got.Message)
			}
		}
		if ds, err := direct.ClaimBatch(ctx, "srv2/w1", []string{"a"}, time.Minute, 10, nil); err != nil || len(ds) != 0 {
			t.Errorf("%s: a claim on a took %d, %v; want none (the receive holds them)", name, len(ds), err)
		}
	}
	all, err := msgbox.Collect(ctx, direct, msgbox.Filter{})
	if err != nil || len(all) != 6 {
		t.Errorf("List: %d messages, %v; want 6, each stored once", len(all), err)
	}
}

// deliveredAll is the outcome "delivered" of each of ds, finished by owner.
func deliveredAll(ds []*msgbox.Delivery, owner string) []msgbox.Finishing {
	fins := make([]msgbox.Finishing, len(ds))
	for i, d := range ds {
		fins[i] = msgbox.Finishing{DeliveryID: d.ID, Owner: owner, Outcome: msgbox.Outcome{State: msgbox.DeliveryDelivered}}
	}
	return fins
}

// TestLostCommitClaimMDNs: a ClaimMDNs whose commit was made but whose
// answer was lost, or whose COMMIT reaches the server only after the
// client gave up on it, returns the MDNs it claimed, each claimed and
// counted once and finished by its claim, instead of none: those would
// stay leased to nobody until the lease ran out, an attempt counted.
func TestLostCommitClaimMDNs(t *testing.T) {
	t.Parallel()
	p, b, direct := openCut(t)
	ctx := t.Context()
	tests := []struct {
		name string
		arm  func(marker string)
	}{
		{"answer lost", func(m string) { p.arm(m, true) }},
		{"commit late", func(m string) { p.armLate(m, 700*time.Millisecond) }},
	}
	for i, tt := range tests {
		loc := fmt.Sprintf("as2_in%d", i)
		want := map[string]bool{}
		for j := range 3 {
			m := route(t, direct, fmt.Sprintf("%s-%d", loc, j), "p")
			if err := direct.PutMDN(ctx, msgbox.SentMDN{MessageID: m.ID, Location: loc, Data: []byte("MDN"),
				URL: "http://127.0.0.1:1/mdn", State: msgbox.MDNPending, NextAttemptAt: time.Now().Add(-time.Second)}); err != nil {
				t.Fatal(err)
			}
			want[m.ID] = true
		}
		tt.arm("SET attempts")
		claimed, err := b.ClaimMDNs(ctx, loc, time.Hour, 10, 10)
		if err != nil {
			t.Fatalf("%s: ClaimMDNs: %v", tt.name, err)
		}
		if got := p.cuts.Load(); got != int32(i+1) {
			t.Fatalf("%s: the proxy cut %d connections, want %d", tt.name, got, i+1)
		}
		for _, m := range claimed {
			delete(want, m.MessageID)
		}
		if len(claimed) != 3 || len(want) != 0 {
			t.Errorf("%s: ClaimMDNs returned %d MDNs, missing %v; want the 3 it claimed", tt.name, len(claimed), want)
		}
		for _, m := range claimed {
			stored, err := direct.SentMDN(ctx, m.MessageID)
			if err != nil || stored.Attempts != 1 || !stored.NextAttemptAt.Equal(m.NextAttemptAt) {
				t.Errorf("%s: %s stored as %+v, %v; want attempt 1, claimed until %v", tt.name, m.MessageID, stored, err, m.NextAttemptAt)
			}
			if err := direct.FinishMDN(ctx, m, msgbox.MDNSent, time.Time{}, ""); err != nil {
				t.Errorf("%s: FinishMDN of %s: %v", tt.name, m.MessageID, err)
			}
		}
	}
}

// TestLostCommitSettleLate: a SettleLate whose COMMIT was made but whose
// answer was lost finds the delivery settled as it asked and answers nil;
// one whose COMMIT never reached the server tries again and settles it;
// one whose COMMIT reaches the server only after the client gave up
// (its look finds nothing yet, its retry waits for the first try's
// transaction and finds the delivery settled, no longer retrying) answers
// nil too, not ErrLeaseLost. Each way, a positive MDN (delivered) or a
// negative one (suspended), on a delivery retrying or suspended (there a
// negative MDN changes the state to what it was: only the receipt tells
// the lost try made it), the delivery is settled once: one history entry,
// the receipt kept, its attempts as they were, nothing due.
func TestLostCommitSettleLate(t *testing.T) {
	t.Parallel()
	p, b, direct := openCut(t)
	pos := msgbox.Outcome{State: msgbox.DeliveryDelivered, Receipt: &msgbox.DeliveryReceipt{
		ContentType: "multipart/signed", Summary: "processed; signed", Data: []byte("the late MDN")}}
	neg := msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "the partner's MDN is negative: processed/error: decryption-failed",
		Receipt: &msgbox.DeliveryReceipt{ContentType: "multipart/signed", Summary: "processed/error: decryption-failed; signed",
			Data: []byte("the late negative MDN")}}
	cuts := []struct {
		name string
		arm  func()
	}{
		{"answer lost", func() { p.arm("COMMIT", true) }},
		{"never sent", func() { p.arm("COMMIT", false) }},
		{"commit late", func() { p.armLate("COMMIT", 700*time.Millisecond) }},
	}
	outcomes := []struct {
		name string
		o    msgbox.Outcome
	}{{"positive", pos}, {"negative", neg}}
	// The delivery's state after its wait timed out, one attempt made.
	starts := []msgbox.Outcome{
		{State: msgbox.DeliveryRetrying, RetryAt: time.Now().Add(time.Hour), Error: "no MDN in time"},
		{State: msgbox.DeliverySuspended, Error: "no MDN in time"},
	}
	for i, c := range cuts {
		for j, oc := range outcomes {
			for k, start := range starts {
				settleCut(t, p, b, direct, fmt.Sprintf("%s, %s, %s", c.name, oc.name, start.State),
					fmt.Sprintf("late%d%d%d", i, j, k), c.arm, start, oc.o)
			}
		}
	}
}

// settleCut makes a delivery to port that attempted once and ended with
// start, settles it late with o through b, p armed by arm to cut one
// connection, and checks that it was settled once.
func settleCut(t *testing.T, p *cutProxy, b, direct *Box, name, port string, arm func(), start, o msgbox.Outcome) {
	t.Helper()
	ctx := t.Context()
	m := route(t, direct, port, port)
	d := mustClaim(t, direct, "srv1/w1", time.Minute, port)
	if err := direct.Finish(ctx, d.ID, "srv1/w1", start); err != nil {
		t.Fatal(err)
	}
	before := p.cuts.Load()
	arm()
	if err := b.SettleLate(ctx, d.ID, 1, o); err != nil {
		t.Errorf("%s: SettleLate = %v; want it recorded", name, err)
	}
	if got := p.cuts.Load() - before; got != 1 {
		t.Fatalf("%s: the proxy cut %d connections, want 1", name, got)
	}

	got, err := direct.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	dl := got.Deliveries[0]
	if dl.State != o.State || dl.Attempts != 1 || !dl.NextAttemptAt.IsZero() || dl.LastError != o.Error {
		t.Errorf("%s: %s after %d attempt(s), next at %v, last error %q; want %s after 1, none due, %q",
			name, dl.State, dl.Attempts, dl.NextAttemptAt, dl.LastError, o.State, o.Error)
	}
	if dl.Receipt == nil || string(dl.Receipt.Data) != string(o.Receipt.Data) || dl.Receipt.Summary != o.Receipt.Summary {
		t.Errorf("%s: receipt %+v, want %+v", name, dl.Receipt, o.Receipt)
	}
	// Delivered, the message no longer says why it was suspended
	// (testSettleLate).
	want, reason := msgbox.StatusDelivered, ""
	if o.State == msgbox.DeliverySuspended {
		want, reason = msgbox.StatusSuspended, msgbox.SuspendedReason(port, o.Error)
	}
	if got.Message.Status != want || got.Message.Reason != reason || len(got.Attempts) != 1 {
		t.Errorf("%s: status %s, reason %q, %d attempts recorded; want %s, %q, 1",
			name, got.Message.Status, got.Message.Reason, len(got.Attempts), want, reason)
	}
	entries := 0
	for _, e := range got.History {
		if e.Port == port && e.Detail == msgbox.LateMDNDetail(1, o) {
			entries++
		}
	}
	if entries != 1 {
		t.Errorf("%s: %d history entries %q, want 1: %+v", name, entries, msgbox.LateMDNDetail(1, o), got.History)
	}
	if _, due, err := direct.NextDue(ctx, []string{port}); err != nil || due {
		t.Errorf("%s: NextDue = %v, %v; want nothing due", name, due, err)
	}
}
