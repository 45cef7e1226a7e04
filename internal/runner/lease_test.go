//go:build linux

package runner_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/pgtest"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// pg is the PostgreSQL server of this test binary, started by the first
// test that asks for a database.
var pg = pgtest.New()

func TestMain(m *testing.M) { pg.Main(m) }

// pausedBox is a real message box seen by a process that is paused (SIGSTOP,
// a stall of the whole machine) while its workers have deliveries in flight:
// until resume is closed, lease renewals and the reading of message bodies
// wait, so the attempts stay in flight while their leases run out, as they
// do when nothing of the process runs. Claims go on: they stand for the
// siblings that, after SIGCONT, look for work before the renewer runs.
type pausedBox struct {
	msgbox.Box
	resume chan struct{}

	mu      sync.Mutex
	claimed []*msgbox.Delivery // every delivery every claim returned
	// watchFrom, once set, makes the first claim that starts after it
	// close claimedAfter; so does a claim that takes over a delivery
	// claimed before (which may leave no worker free to claim again).
	watchFrom    time.Time
	claimedAfter chan struct{}
	looked       bool // claimedAfter is closed
	// enough is closed once the claims have returned want deliveries,
	// finished once want outcomes have been recorded.
	want             int
	enough, finished chan struct{}
	outcomes         int
}

func newPausedBox(box msgbox.Box, want int) *pausedBox {
	return &pausedBox{Box: box, resume: make(chan struct{}), claimedAfter: make(chan struct{}), want: want,
		enough: make(chan struct{}), finished: make(chan struct{})}
}

func (p *pausedBox) Finish(ctx context.Context, id int64, owner string, o msgbox.Outcome) error {
	err := p.Box.Finish(ctx, id, owner, o)
	if err == nil {
		p.mu.Lock()
		if p.outcomes++; p.outcomes == p.want {
			close(p.finished)
		}
		p.mu.Unlock()
	}
	return err
}

func (p *pausedBox) FinishBatch(ctx context.Context, items []msgbox.Finishing) []error {
	errs := p.Box.FinishBatch(ctx, items)
	p.mu.Lock()
	for _, err := range errs {
		if err == nil {
			if p.outcomes++; p.outcomes == p.want {
				close(p.finished)
			}
		}
	}
	p.mu.Unlock()
	return errs
}

func (p *pausedBox) wait(ctx context.Context) error {
	select {
	case <-p.resume:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pausedBox) Renew(ctx context.Context, lease time.Duration, items ...msgbox.Renewal) []error {
	if err := p.wait(ctx); err != nil {
		errs := make([]error, len(items))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	return p.Box.Renew(ctx, lease, items...)
}

func (p *pausedBox) Body(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	return p.Box.Body(ctx, id)
}

func (p *pausedBox) ClaimBatch(ctx context.Context, owner string, ports []string, lease time.Duration, max int,
	except []int64) ([]*msgbox.Delivery, error) {
	start := time.Now()
	ds, err := p.Box.ClaimBatch(ctx, owner, ports, lease, max, except)
	for _, d := range ds {
		// The attempt reads the body (Body): a box may have read it with
		// the claim, and the attempt would then not wait for the pause.
		d.Body = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	before := len(p.claimed)
	takeover := false
	for _, d := range ds {
		takeover = takeover || slices.ContainsFunc(p.claimed, func(c *msgbox.Delivery) bool { return c.ID == d.ID })
	}
	p.claimed = append(p.claimed, ds...)
	if before < p.want && len(p.claimed) >= p.want {
		close(p.enough)
	}
	if !p.looked && (takeover || !p.watchFrom.IsZero() && start.After(p.watchFrom)) {
		p.looked = true
		close(p.claimedAfter)
	}
	return ds, err
}

// pauseSetup is the configuration directory of a pause test, whose
// messages (m0.edi, m1.edi, ...) are sent over transport (file or http)
// to a partner on 127.0.0.1, and what the partner got: the POSTs by
// message id.
func pauseSetup(t *testing.T, transport string, messages int) (dir string, requests func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	posts := map[string]int{}
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		posts[r.Header.Get("X-Message-Id")]++
		mu.Unlock()
	}))
	t.Cleanup(partner.Close)
	port := fabrikamFiles
	if transport == "http" {
		port = fabrikamHTTP
	}
	dir = setup(t, newPKI(t), common+port, map[string]string{"URL": partner.URL})
	for i := range messages {
		put(t, dir, fmt.Sprintf("m%d.edi", i), binaryBody(1000+i))
	}
	return dir, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(posts)
	}
}

// runPastLeases runs a runner with opts, whose box is box (or wraps it),
// and returns once every delivery box waits for is claimed and every
// lease has run out while the attempts wait: the pause. stop ends the run,
// which waits for the attempts in flight (see runInBackground).
func runPastLeases(t *testing.T, opts runner.Options, box *pausedBox) (stop func()) {
	t.Helper()
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	stop = runInBackground(t, r)
	select {
	case <-box.enough:
	case <-time.After(time.Minute):
		t.Fatal("the messages were never all claimed")
	}
	if d := time.Until(box.leaseUntil()) + 50*time.Millisecond; d > 0 {
		time.Sleep(d)
	}
	return stop
}

// leaseUntil is the latest lease the claims so far handed out.
func (p *pausedBox) leaseUntil() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var until time.Time
	for _, d := range p.claimed {
		if d.LeaseUntil.After(until) {
			until = d.LeaseUntil
		}
	}
	return until
}

// watch arms claimedAfter for the first claim that starts after now.
func (p *pausedBox) watch() {
	p.mu.Lock()
	p.watchFrom = time.Now()
	p.mu.Unlock()
}

// usePostgres returns a tune for startWith that gives the runner a
// PostgreSQL box, on a database of its own, instead of SQLite.
func usePostgres(t *testing.T) func(*runner.Options) {
	return func(opts *runner.Options) {
		box, err := pgbox.Open(t.Context(), pg.NewDatabase(t), pgbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { box.Close() })
		opts.Box = box
	}
}

// TestHandoffPostgres: TestHandoff with the PostgreSQL box, whose receive
// claims as SQLite's does.
func TestHandoffPostgres(t *testing.T) { testHandoff(t, usePostgres(t)) }

// fabrikamHTTP is fabrikamFiles over HTTP to {{.URL}}/in, each request
// naming its message in X-Message-Id.
const fabrikamHTTP = `
send_port "fabrikam" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Partner}}"
  filter                 = message.properties.partner == "fabrikam"
  transport "http" {
    url     = "{{.URL}}/in"
    headers = { "X-Message-Id" = message.id }
  }
}
`

// TestPausePastLease: a process paused for longer than the lease while its
// workers have deliveries in flight (finding 5 of issue 9: SIGSTOP with
// --lease 5s) must not, once it runs again, have other workers of its own
// take those deliveries over and redo them: every message reaches the HTTP
// partner once and the output directory once, each delivery's one attempt
// is recorded by the worker that made it, and nothing is suspended. The
// leases expired, but nobody else took them, so their holders still hold
// them. Both boxes: the claim's passing over work in flight is the box's.
func TestPausePastLease(t *testing.T) {
	const messages = 4
	// Long enough that a claim slowed down by a loaded machine still
	// ends within it: a claim that took longer would have passed over
	// what was in flight when it started, and taken over, as it should,
	// deliveries whose claims committed meanwhile and had expired (the
	// box then records their holder's attempt as abandoned, and this
	// test's one attempt per message fails: seen with 200 ms).
	const lease = time.Second
	boxes := []struct {
		name string
		open func(t *testing.T, dir string, opts *runner.Options)
	}{
		{"sqlite", func(*testing.T, string, *runner.Options) {}},
		{"postgres", func(t *testing.T, _ string, opts *runner.Options) { usePostgres(t)(opts) }},
	}
	for _, bx := range boxes {
		for _, transport := range []string{"http", "file"} {
			t.Run(bx.name+"/"+transport, func(t *testing.T) {
				dir, requests := pauseSetup(t, transport, messages)
				opts := testOptions(t, dir)
				bx.open(t, dir, &opts)
				box := newPausedBox(opts.Box, messages)
				opts.Box = box
				// Idle workers to look for work while the others wait.
				opts.Workers = messages + 2
				opts.Lease = lease
				// The pause; then a claim that starts after it is what a
				// sibling worker does when the process runs again.
				stop := runPastLeases(t, opts, box)
				box.watch()
				select {
				case <-box.claimedAfter:
				case <-time.After(time.Minute):
					t.Fatal("no worker looked for work after the leases expired")
				}
				close(box.resume)
				// An outcome recorded for every message; then stop, which
				// waits for every attempt still in flight.
				select {
				case <-box.finished:
				case <-time.After(time.Minute):
					t.Fatal("the outcomes were never all recorded")
				}
				stop()

				msgs, err := msgbox.Collect(context.Background(), opts.Box, msgbox.Filter{})
				if err != nil || len(msgs) != messages {
					t.Fatalf("List = %d messages, %v; want %d", len(msgs), err, messages)
				}
				var ids []string
				for _, m := range msgs {
					ids = append(ids, m.ID)
					d, err := opts.Box.Get(context.Background(), m.ID)
					if err != nil {
						t.Fatal(err)
					}
					if m.Status != msgbox.StatusDelivered {
						t.Errorf("message %s %s (%s), want delivered", m.ID, m.Status, m.Reason)
					}
					// An attempt taken over would show as an abandoned one
					// (LeaseExpiredError) before the one that delivered.
					if len(d.Attempts) != 1 || d.Attempts[0].Outcome != msgbox.DeliveryDelivered ||
						!strings.HasPrefix(d.Attempts[0].Owner, "srv1/w") {
						t.Errorf("message %s: attempts %+v, want one, delivered by the worker that claimed it", m.ID, d.Attempts)
					}
				}
				if transport == "http" {
					posts := requests()
					for _, id := range ids {
						if posts[id] != 1 {
							t.Errorf("message %s POSTed %d times, want once", id, posts[id])
						}
					}
					if len(posts) != messages {
						t.Errorf("partner got %d distinct messages (%v), want %d", len(posts), posts, messages)
					}
					return
				}
				names := dirNames(t, filepath.Join(dir, "out"))
				var want []string
				for i := range messages {
					want = append(want, fmt.Sprintf("m%d.edi.p7m", i))
				}
				if !slices.Equal(names, want) {
					t.Errorf("output directory %q, want exactly %q", names, want)
				}
			})
		}
	}
}
