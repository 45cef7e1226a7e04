package runner_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/registry"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// ledger is a send transport whose attempts share their syncs
// (component.SharedSync). It notes, in order, each attempt's Written ("W
// name" when it answered share, "N name" when not), Alone ("A name") and
// Commit ("C name"), and keeps what each delivered. Written fails for a
// message named "refuse.xml", and answers share for at most shareMax
// bytes written (1 MiB when 0), as the file transport does. It counts the
// attempts between a Written that answered share and their Commit: the
// commits the runner holds back.
type ledger struct {
	shareMax int
	// failOnce: Written fails the first attempt of a message so named.
	failOnce string
	mu       sync.Mutex
	events   []string
	// firsts: per message name, each attempt's Delivery.First, in order.
	firsts  map[string][]bool
	got     map[string][]byte
	held    int
	maxHeld int
	// batch: its attempts commit together (component.BatchCommit), noting
	// "B n" for each CommitBatch of n attempts before their commits; the
	// commit of a message named "reject.xml" then fails.
	batch bool
	// waitFor: the commit of a message so named waits until the message
	// named by the value is delivered (waitUntil).
	waitFor map[string]string
}

func (l *ledger) spec() *component.Spec {
	spec := senderSpec("ledger", "Notes when its attempts are written and committed (a test transport).", l.begin)
	spec.Decode = func(*component.Body) component.Config { return sharingBegin(l.begin) }
	return spec
}

// sharingBegin is a beginFunc whose sender says that its attempts share
// their syncs (component.SyncSharer), as the file transport's does.
type sharingBegin beginFunc

func (sharingBegin) Needs() component.Needs { return component.Needs{} }
func (f sharingBegin) NewSender(*component.SendEnv) (component.Sender, error) {
	return f, nil
}
func (f sharingBegin) Begin(ctx context.Context, d *component.Delivery, h component.Header) (component.Attempt, error) {
	return f(ctx, d, h)
}
func (sharingBegin) SharesSyncs() {}

// senderSpec is the spec of a send transport defined by a test: a
// configuration that needs no key, whose sender's attempts begin with
// begin.
func senderSpec(name, summary string, begin beginFunc) *component.Spec {
	return &component.Spec{
		Kind:    component.SendTransport,
		Name:    name,
		Summary: summary,
		Decode:  func(*component.Body) component.Config { return begin },
	}
}

// beginFunc is a test transport's configuration and sender at once.
type beginFunc func(context.Context, *component.Delivery, component.Header) (component.Attempt, error)

func (beginFunc) Needs() component.Needs { return component.Needs{} }
func (f beginFunc) NewSender(*component.SendEnv) (component.Sender, error) {
	return f, nil
}
func (f beginFunc) Begin(ctx context.Context, d *component.Delivery, h component.Header) (component.Attempt, error) {
	return f(ctx, d, h)
}

func (l *ledger) note(event string) {
	l.mu.Lock()
	l.events = append(l.events, event)
	l.mu.Unlock()
}

func (l *ledger) begin(_ context.Context, d *component.Delivery, _ component.Header) (component.Attempt, error) {
	name := d.Message.FileName
	l.mu.Lock()
	if l.firsts == nil {
		l.firsts = map[string][]bool{}
	}
	l.firsts[name] = append(l.firsts[name], d.First)
	again := len(l.firsts[name]) > 1
	l.mu.Unlock()
	a := &ledgerAttempt{l: l, name: name, fail: name == "refuse.xml" || name == l.failOnce && !again}
	if l.batch {
		return batchAttempt{a}, nil
	}
	return a, nil
}

// batchAttempt is a ledger attempt that commits with the rest of its
// batch, in one CommitBatch.
type batchAttempt struct{ *ledgerAttempt }

func (a batchAttempt) Batch() component.BatchCommitter { return ledgerCommitter{a.l} }

var _ component.BatchCommit = batchAttempt{}

type ledgerCommitter struct{ l *ledger }

func (c ledgerCommitter) CommitBatch(ctx context.Context, atts []component.Attempt) ([]component.Result, []error) {
	c.l.note(fmt.Sprintf("B %d", len(atts)))
	errs := make([]error, len(atts))
	for i, a := range atts {
		b := a.(batchAttempt)
		if b.name == "reject.xml" {
			errs[i] = errors.New("ledger rejected the commit")
			continue
		}
		_, errs[i] = b.Commit(ctx)
	}
	return make([]component.Result, len(atts)), errs
}

type ledgerAttempt struct {
	l       *ledger
	name    string
	fail    bool // Written fails
	buf     bytes.Buffer
	written bool
	shared  bool // Written answered share
}

var _ component.SharedSync = (*ledgerAttempt)(nil)

func (a *ledgerAttempt) Write(p []byte) (int, error) {
	if a.written {
		return 0, errors.New("written to after Written")
	}
	return a.buf.Write(p)
}

func (a *ledgerAttempt) Written() (bool, error) {
	if a.fail {
		return false, errors.New("ledger refused the payload")
	}
	a.written = true
	limit := a.l.shareMax
	if limit == 0 {
		limit = 1 << 20
	}
	if a.buf.Len() > limit {
		a.l.note("N " + a.name)
		return false, nil
	}
	a.l.note("W " + a.name)
	a.shared = true
	a.l.mu.Lock()
	a.l.held++
	a.l.maxHeld = max(a.l.maxHeld, a.l.held)
	a.l.mu.Unlock()
	return true, nil
}

func (a *ledgerAttempt) Alone() {
	if !a.shared {
		panic("Alone without a Written that answered share")
	}
	a.l.note("A " + a.name)
}

func (a *ledgerAttempt) Commit(context.Context) (component.Result, error) {
	if other, ok := a.l.waitFor[a.name]; ok {
		err := waitUntil(func() bool {
			a.l.mu.Lock()
			defer a.l.mu.Unlock()
			return a.l.got[other] != nil
		})
		if err != nil {
			return component.Result{}, err
		}
	}
	a.l.note("C " + a.name)
	a.l.mu.Lock()
	a.l.got[a.name] = bytes.Clone(a.buf.Bytes())
	if a.shared {
		a.l.held--
	}
	a.l.mu.Unlock()
	return component.Result{}, nil
}

func (a *ledgerAttempt) Abort() {}

// testPort is a send port named "out" taking every message to the test
// transport named transport, with more (a retry block) in its body.
func testPort(transport, more string) string {
	return "send_port \"out\" {\n  host   = host.h\n  filter = true\n  transport \"" + transport + "\" {}\n" + more + "}\n"
}

// ledgerPort is a send port taking every message to the test's ledger
// transport.
var ledgerPort = testPort("ledger", "")

// TestDeliveryFirst: a transport is told which attempt of a delivery is
// its first (component.Delivery.First, which lets the file transport skip
// looking for a staged copy), and that no retry is.
func TestDeliveryFirst(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+testPort("ledger", "  retry {\n    attempts = 2\n    interval = \"1ms\"\n  }\n"),
		map[string]string{"Max": "64MiB"})
	l := &ledger{got: map[string][]byte{}, failOnce: "flaky.xml"}
	reg := registry.Builtin()
	if err := reg.Register(l.spec()); err != nil {
		t.Fatal(err)
	}
	put(t, dir, "flaky.xml", []byte("<order n=1/>"))
	put(t, dir, "steady.xml", []byte("<order n=2/>"))
	r, err := runner.New(testOptionsWith(t, dir, reg))
	if err != nil {
		t.Fatal(err)
	}
	if sum := runUntilSettled(t, r); sum.Delivered != 2 || sum.Retried != 1 {
		t.Fatalf("delivered %d, retried %d; want 2 and 1", sum.Delivered, sum.Retried)
	}
	want := map[string][]bool{"flaky.xml": {true, false}, "steady.xml": {true}}
	for name, firsts := range want {
		if got := l.firsts[name]; !slices.Equal(got, firsts) {
			t.Errorf("%s: attempts' First %v, want %v", name, got, firsts)
		}
	}
}

// TestSharedSyncCommitsTogether: one worker claims the 21 messages in two
// batches and runs every pipeline of a batch before its commits, which
// share their syncs: the log shows each batch's Written calls, then its
// commits. A message above 1 MiB, whose Written says not to share, is
// committed at once, within its batch's pipelines. A Written error fails
// that attempt alone, retried like a failed write.
func TestSharedSyncCommitsTogether(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+ledgerPort, map[string]string{"Max": "64MiB"})
	l := &ledger{got: map[string][]byte{}}
	var msgs []ledgerMsg
	for i := range 21 {
		m := ledgerMsg{fmt.Sprintf("m%02d.xml", i), []byte(fmt.Sprintf("<order n=%d/>", i))}
		switch i {
		case 5:
			m = ledgerMsg{"big.xml", binaryBody(2 << 20)}
		case 9:
			m.name = "refuse.xml"
		}
		msgs = append(msgs, m)
	}
	sum, box, err := runLedger(t, dir, l, nil, msgs)
	if err != nil || sum.Delivered != 20 || sum.Retried != 1 {
		t.Fatalf("RunOnce: %+v, %v; want 20 delivered and 1 retried", sum, err)
	}
	for _, m := range msgs {
		if got, ok := l.got[m.name]; m.name != "refuse.xml" && (!ok || !bytes.Equal(got, m.body)) {
			t.Errorf("%s: delivered %d bytes (%v), want %d", m.name, len(got), ok, len(m.body))
		}
	}
	if _, ok := l.got["refuse.xml"]; ok {
		t.Error("refuse.xml was committed after its Written failed")
	}

	// The log is phases: Written calls (and the big message's commit,
	// right after its Written), then the commits of those Written, in any
	// order.
	var phases [][]string
	written := map[string]bool{}
	inCommits := false
	for i, e := range l.events {
		kind, name, _ := strings.Cut(e, " ")
		switch {
		case kind == "W":
			if inCommits || phases == nil {
				phases, inCommits = append(phases, nil), false
			}
			written[name] = true
		case kind == "N":
			if name != "big.xml" || !committedAtOnce(l.events, i) {
				t.Errorf("%s not to share, and not committed at once: %v", name, l.events)
			}
		case name == "big.xml":
		default:
			if !written[name] {
				t.Fatalf("%s committed before Written: %v", name, l.events)
			}
			delete(written, name)
			inCommits = true
			phases[len(phases)-1] = append(phases[len(phases)-1], name)
		}
	}
	if len(written) != 0 {
		t.Errorf("written, never committed: %v", written)
	}
	// 16 claimed at once: at least 14 of them commit together (big.xml
	// at once, refuse.xml not at all, wherever the claim put them); then
	// the rest of the 19.
	if len(phases) != 2 || len(phases[0]) < 14 || len(phases[0])+len(phases[1]) != 19 {
		t.Errorf("commit phases of %v, want 2 of 19 in all, the first of 14 or more: %v", phaseSizes(phases), l.events)
	}
	assertRetrying(t, box, "refuse.xml", "ledger refused the payload")
}

// assertRetrying checks that the delivery of the message named name is
// retrying with an error that says want.
func assertRetrying(t *testing.T, box msgbox.Box, name, want string) {
	t.Helper()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range msgs {
		if m.FileName != name {
			continue
		}
		found = true
		got, err := box.Get(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := got.Deliveries[0]; d.State != msgbox.DeliveryRetrying || !strings.Contains(d.LastError, want) {
			t.Errorf("%s: %s, %q; want retrying with an error saying %q", name, d.State, d.LastError, want)
		}
	}
	if !found {
		t.Errorf("%s not in the box", name)
	}
}

func phaseSizes(phases [][]string) []int {
	n := make([]int, len(phases))
	for i, p := range phases {
		n[i] = len(p)
	}
	return n
}

// TestBatchCommit: the deferred commits of a transport that commits them
// together (component.BatchCommit) go to one CommitBatch per claimed
// batch, not to each attempt's Commit; a commit it fails is retried with
// its error, and the rest are delivered.
func TestBatchCommit(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+ledgerPort, map[string]string{"Max": "64MiB"})
	l := &ledger{got: map[string][]byte{}, batch: true}
	var msgs []ledgerMsg
	for i := range 20 {
		m := ledgerMsg{fmt.Sprintf("m%02d.xml", i), []byte(fmt.Sprintf("<order n=%d/>", i))}
		if i == 3 {
			m.name = "reject.xml"
		}
		msgs = append(msgs, m)
	}
	sum, box, err := runLedger(t, dir, l, nil, msgs)
	if err != nil || sum.Delivered != 19 || sum.Retried != 1 {
		t.Fatalf("RunOnce: %+v, %v; want 19 delivered and 1 retried", sum, err)
	}
	// Two claims (16 and 4): two CommitBatch calls, each after its
	// batch's Written calls and before its commits.
	var batches []string
	written := 0
	for _, e := range l.events {
		kind, n, _ := strings.Cut(e, " ")
		switch kind {
		case "W":
			written++
		case "B":
			if n != fmt.Sprint(written) {
				t.Errorf("CommitBatch of %s after %d Written: %v", n, written, l.events)
			}
			batches, written = append(batches, n), 0
		}
	}
	if !slices.Equal(batches, []string{"16", "4"}) {
		t.Errorf("CommitBatch calls of %v attempts, want [16 4]: %v", batches, l.events)
	}
	if len(l.got) != 19 {
		t.Errorf("%d delivered to the ledger, want 19", len(l.got))
	}
	assertRetrying(t, box, "reject.xml", "ledger rejected the commit")
}

// TestSharedSyncGrownByPipeline: whether a commit waits for its batch is
// the transport's call, on what the pipeline wrote: a 12 KiB message that
// signing and encrypting makes bigger than the transport shares (14 KiB
// here, 1 MiB in the file transport) commits at once, before the small
// ones, which wait for the batch (whose pipelines it comes before).
func TestSharedSyncGrownByPipeline(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "out" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Partner}}"
  filter                 = true
  transport "ledger" {}
}
`, nil)
	l := &ledger{shareMax: 14 << 10, got: map[string][]byte{}}
	msgs := []ledgerMsg{{"grown.xml", binaryBody(12 << 10)}}
	for i := range 3 {
		msgs = append(msgs, ledgerMsg{fmt.Sprintf("m%d.xml", i), []byte(fmt.Sprintf("<order n=%d/>", i))})
	}
	sum, _, err := runLedger(t, dir, l, nil, msgs)
	if err != nil || sum.Delivered != 4 {
		t.Fatalf("RunOnce: %+v, %v; want 4 delivered", sum, err)
	}
	if n := len(l.got["grown.xml"]); n <= l.shareMax {
		t.Fatalf("grown.xml came out as %d bytes, want over %d: the test proves nothing", n, l.shareMax)
	}
	want := []string{"N grown.xml", "C grown.xml", "W m0.xml", "W m1.xml", "W m2.xml"}
	if got := l.events[:min(len(want), len(l.events))]; !slices.Equal(got, want) || len(l.events) != 8 {
		t.Errorf("events %v, want %v and then the 3 commits", l.events, want)
	}
}

// TestSharedSyncAloneAndCapped: one worker, one batch. The commits left
// for the end of the batch are told Alone when only one is left (however
// many the claim took), and share otherwise; beyond the runner's cap on
// deferred commits an attempt commits at once, without Written.
func TestSharedSyncAloneAndCapped(t *testing.T) {
	big := ledgerMsg{"big.xml", binaryBody(2 << 20)}
	small := func(names ...string) []ledgerMsg {
		var msgs []ledgerMsg
		for _, n := range names {
			msgs = append(msgs, ledgerMsg{n, []byte("<" + n + "/>")})
		}
		return msgs
	}
	for _, tt := range []struct {
		name string
		cap  int // MaxDeferredCommits; 0: the default
		msgs []ledgerMsg
		// want is the log: first in order, then the last unordered
		// events in any order (the batch's commits, concurrent).
		want      []string
		unordered int
	}{
		{"claimed alone", 0, small("a"), []string{"W a", "A a", "C a"}, 0},
		{"the others committed at once or failed", 0, append([]ledgerMsg{big}, small("refuse.xml", "a")...),
			[]string{"N big.xml", "C big.xml", "W a", "A a", "C a"}, 0},
		{"two left share", 0, append([]ledgerMsg{big}, small("a", "b")...),
			[]string{"N big.xml", "C big.xml", "W a", "W b", "C a", "C b"}, 2},
		{"over the cap", 2, small("a", "b", "c", "d", "e"),
			[]string{"W a", "W b", "C c", "C d", "C e", "C a", "C b"}, 2},
		{"the one under the cap is alone", 1, small("a", "b", "c"),
			[]string{"W a", "C b", "C c", "A a", "C a"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPKI(t)
			dir := setup(t, p, common+ledgerPort, map[string]string{"Max": "64MiB"})
			l := &ledger{got: map[string][]byte{}}
			sum, _, err := runLedger(t, dir, l, func(o *runner.Options) { o.MaxDeferredCommits = tt.cap }, tt.msgs)
			if err != nil || sum.Delivered+sum.Retried != len(tt.msgs) {
				t.Fatalf("RunOnce: %+v, %v; want all %d attempted", sum, err, len(tt.msgs))
			}
			n := len(tt.want) - tt.unordered
			got := slices.Clone(l.events)
			if len(got) == len(tt.want) {
				slices.Sort(got[n:])
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("events %v, want %v (the last %d in any order)", l.events, tt.want, tt.unordered)
			}
		})
	}
}

// TestSharedSyncCapAcrossWorkers: the cap on deferred commits is the
// runner's, not each worker's: four workers with batches of 16 never hold
// back more than 5 commits between them, and still deliver everything.
func TestSharedSyncCapAcrossWorkers(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+ledgerPort, nil)
	l := &ledger{got: map[string][]byte{}}
	var msgs []ledgerMsg
	for i := range 64 {
		msgs = append(msgs, ledgerMsg{fmt.Sprintf("m%02d.xml", i), []byte(fmt.Sprintf("<order n=%d/>", i))})
	}
	const limit = 5
	sum, _, err := runLedger(t, dir, l, func(o *runner.Options) { o.Workers, o.MaxDeferredCommits = 4, limit }, msgs)
	if err != nil || sum.Delivered != len(msgs) || len(l.got) != len(msgs) {
		t.Fatalf("RunOnce: %+v, %v, %d delivered to the ledger; want all %d", sum, err, len(l.got), len(msgs))
	}
	if l.maxHeld > limit || l.maxHeld < 2 {
		t.Errorf("at most %d commits held back at once, want 2 to %d", l.maxHeld, limit)
	}
}

// committedAtOnce reports whether events[i], an attempt's Written, is
// followed by its commit and then by another pipeline's Written: the
// commit did not wait for the batch.
func committedAtOnce(events []string, i int) bool {
	_, name, _ := strings.Cut(events[i], " ")
	return i+2 < len(events) && events[i+1] == "C "+name && strings.HasPrefix(events[i+2], "W ")
}

// ledgerMsg is a message runLedger stores.
type ledgerMsg struct {
	name string
	body []byte
}

// runLedger runs once over dir, whose send port "out" has transport
// "ledger" (l), with msgs stored in order before the run so that the
// first claim takes up to a whole batch, in that order; it returns what
// RunOnce did and the box. tune, when not nil, adjusts the options (one
// worker unless it says otherwise).
func runLedger(t *testing.T, dir string, l *ledger, tune func(*runner.Options),
	msgs []ledgerMsg) (runner.Summary, msgbox.Box, error) {
	t.Helper()
	return runTransport(t, dir, l.spec(), func(o *runner.Options) {
		o.PipelinesPerBatch = 1 // the events in the batch's order
		if tune != nil {
			tune(o)
		}
	}, msgs)
}

// runTransport is runLedger for any send transport spec, registered for
// the run: one worker, unless tune says otherwise.
func runTransport(t *testing.T, dir string, spec *component.Spec, tune func(*runner.Options),
	msgs []ledgerMsg) (runner.Summary, msgbox.Box, error) {
	t.Helper()
	return runComponents(t, dir, []*component.Spec{spec}, tune, msgs)
}

// runComponents is runTransport with the components of specs registered.
func runComponents(t *testing.T, dir string, specs []*component.Spec, tune func(*runner.Options),
	msgs []ledgerMsg) (runner.Summary, msgbox.Box, error) {
	t.Helper()
	reg := registry.Builtin()
	for _, spec := range specs {
		if err := reg.Register(spec); err != nil {
			t.Fatal(err)
		}
	}
	opts := testOptionsWith(t, dir, reg)
	opts.Workers = 1
	if tune != nil {
		tune(&opts)
	}
	// One at a time: claims take the earliest due first, and a batch
	// stores its messages concurrently.
	route := func(msgbox.Message) ([]string, string) { return []string{"out"}, "" }
	for _, m := range msgs {
		item := msgbox.Receipt{In: msgbox.Incoming{ReceiveLocation: "in", FileName: m.name,
			ContentType: "application/xml"}, Body: bytes.NewReader(m.body)}
		if res := opts.Box.(msgbox.Batcher).ReceiveBatch(context.Background(), []msgbox.Receipt{item}, route); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.RunOnce(context.Background())
	return sum, opts.Box, err
}

// waitUntil polls done until it reports true, and gives up after a while
// (a test's deadlock made a failure).
func waitUntil(done func() bool) error {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if done() {
			return nil
		}
	}
	return errors.New("gave up: what it waited for never came")
}

// slowAttempt is an attempt of a test transport whose commits do not
// share their syncs, and that waits, as a slow partner keeps an HTTP
// request waiting (or a large body takes its time to encode), until done
// reports true: in its first Write when where is "write", in Commit when
// "commit" ("begin": its Begin waits).
type slowAttempt struct {
	done   func() bool
	where  string
	waited bool
}

func (a *slowAttempt) Write(p []byte) (int, error) {
	if a.where == "write" && !a.waited {
		a.waited = true
		if err := waitUntil(a.done); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (a *slowAttempt) Abort() {}

func (a *slowAttempt) Commit(context.Context) (component.Result, error) {
	if a.where != "commit" {
		return component.Result{}, nil
	}
	return component.Result{}, waitUntil(a.done)
}

// TestDeferredCommitsPassSlowPartner: a batch's deferred commits (the
// file transport's, which share their syncs) start once every pipeline of
// the batch that may leave one (a component.SyncSharer's) has left its
// commit for later or is known to leave none, and those pipelines run
// first; so a delivery of the same batch to a transport that does not
// share its syncs (HTTP) does not hold the file deliveries back, whether
// it waits in its Begin, its Write (a large body being encoded) or its
// Commit (a slow partner), and even when it comes first in the batch with
// one pipeline at a time: here it waits until the ledger delivered.
func TestDeferredCommitsPassSlowPartner(t *testing.T) {
	for _, tc := range []struct {
		where     string
		route     []string
		pipelines int
		workers   int // 2 when 0
	}{
		{"commit", []string{"out", "slow"}, 0, 0},
		{"write", []string{"out", "slow"}, 0, 0},
		{"begin", []string{"out", "slow"}, 0, 0},
		{"commit", []string{"slow", "out"}, 1, 0},
		// One slot for the whole runner, which the slow delivery must
		// not take first.
		{"commit", []string{"slow", "out"}, 2, 1},
		{"begin", []string{"slow", "out"}, 2, 1},
	} {
		t.Run(fmt.Sprintf("%s/%s/%d/%d", tc.where, strings.Join(tc.route, ","), tc.pipelines, tc.workers), func(t *testing.T) {
			p := newPKI(t)
			dir := setup(t, p, common+testPort("ledger", "")+strings.Replace(testPort("slow", ""), `"out"`, `"slow"`, 1),
				map[string]string{"Max": "64MiB"})
			l := &ledger{got: map[string][]byte{}}
			delivered := func() bool {
				l.mu.Lock()
				defer l.mu.Unlock()
				return l.got["m.xml"] != nil
			}
			slow := senderSpec("slow", "Waits until the ledger delivered (a test transport).",
				func(context.Context, *component.Delivery, component.Header) (component.Attempt, error) {
					if tc.where == "begin" {
						if err := waitUntil(delivered); err != nil {
							return nil, err
						}
					}
					return &slowAttempt{done: delivered, where: tc.where}, nil
				})
			reg := registry.Builtin()
			for _, s := range []*component.Spec{l.spec(), slow} {
				if err := reg.Register(s); err != nil {
					t.Fatal(err)
				}
			}
			opts := testOptionsWith(t, dir, reg)
			// Two pipelines at once (unless tc says otherwise); the first
			// claim takes both deliveries.
			opts.Workers = cmp.Or(tc.workers, 2)
			opts.PipelinesPerBatch = tc.pipelines
			route := func(msgbox.Message) ([]string, string) { return tc.route, "" }
			item := msgbox.Receipt{In: msgbox.Incoming{ReceiveLocation: "in", FileName: "m.xml", ContentType: "application/xml"},
				Body: strings.NewReader("<order/>")}
			if res := opts.Box.(msgbox.Batcher).ReceiveBatch(context.Background(), []msgbox.Receipt{item}, route); res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			r, err := runner.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := r.RunOnce(context.Background())
			if err != nil || sum.Delivered != 2 {
				t.Fatalf("RunOnce: %+v, %v; want both deliveries delivered", sum, err)
			}
			if !slices.Contains(l.events, "W m.xml") {
				t.Errorf("the ledger's commit was not deferred (events %v): the test proves nothing", l.events)
			}
		})
	}
}

// TestDeferredCommitsPassCommitAtOnce: an attempt of a transport that
// shares its syncs, which commits at once (its Written said not to share:
// a large message), tells the batch so before its commit, so that the
// batch's deferred commits need not wait for it: here the large one's
// commit waits until the small one is delivered.
func TestDeferredCommitsPassCommitAtOnce(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+ledgerPort, map[string]string{"Max": "64MiB"})
	l := &ledger{got: map[string][]byte{}, shareMax: 1024, waitFor: map[string]string{"big.xml": "small.xml"}}
	sum, _, err := runLedger(t, dir, l, func(o *runner.Options) {
		o.Workers, o.PipelinesPerBatch = 2, 2
	}, []ledgerMsg{{"big.xml", binaryBody(4096)}, {"small.xml", []byte("<order/>")}})
	if err != nil || sum.Delivered != 2 {
		t.Fatalf("RunOnce: %+v, %v; want both delivered (events %v)", sum, err, l.events)
	}
	if !slices.Contains(l.events, "N big.xml") || !slices.Contains(l.events, "W small.xml") {
		t.Errorf("events %v, want big.xml committed at once and small.xml deferred: the test proves nothing", l.events)
	}
}
