// Package runner runs a validated configuration on one server (spec §8 run,
// §9): receive locations publish into the message box, the router records a
// delivery for every subscribing send port, and workers claim deliveries, run
// the port's pipeline with the keys of the host instance on this server, and
// hand the result to the port's transport, retrying and suspending per the
// port's retry policy.
package runner

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
	"github.com/bizpipe/bizpipe/internal/redact"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// Options configures a Runner.
type Options struct {
	Config *model.Config
	// Checked is the result of validation: the stores it loaded are the
	// ones the runner takes keys from.
	Checked *rules.Result
	// Server is the server this process runs as.
	Server string
	// Host, when set, runs only that host's receive locations and send ports.
	Host string
	Box  msgbox.Box
	Log  *slog.Logger
	// Metrics may be nil.
	Metrics *metrics.Metrics
	// Workers is the number of workers, each taking a batch of deliveries
	// at a time, and the most pipelines that run at once (see
	// PipelinesPerBatch); 0 means 16×GOMAXPROCS:
	// a delivery of a small message waits on syncs (the output file, its
	// directory, the box's commit) several times as long as it computes,
	// and the waits of many share each sync. Bodies stream, so workers
	// do not multiply the memory large messages take.
	Workers int
	// MaxDeferredCommits caps the attempts, across workers, whose commit
	// waits for the rest of their batch to share its syncs
	// (component.SharedSync): beyond it an attempt commits at once. 0
	// means DefaultMaxDeferredCommits.
	MaxDeferredCommits int
	// PipelinesPerBatch is how many pipelines of one worker's batch run
	// at once; 0 means DefaultPipelinesPerBatch. 1 runs them in the
	// batch's order.
	PipelinesPerBatch int
	// SpoolDir is a directory on disk where transports keep what they
	// send with its length (HTTP bodies over 1 MiB); empty means
	// os.TempDir().
	SpoolDir string
	// Lease is how long a claimed delivery stays with this process before
	// another may take it over; renewed while working. 0 means 1 minute.
	Lease time.Duration
	// Rand is the randomness for MIME boundaries and content keys; nil
	// means crypto/rand.
	Rand io.Reader
	// IdleWait bounds how long an idle worker sleeps before looking for
	// work again (other servers sharing the box may add some). 0 means 1s.
	IdleWait time.Duration
	// FileSettle is how long a received file must be unchanged before it
	// is picked up. 0 means the receiver's default.
	FileSettle time.Duration
	// Retention, when set, purges the messages that are delivered or
	// terminated and whose history has been quiet that long (see
	// msgbox.Box.Purge): every PurgeEvery while Run runs, and at the end
	// of RunOnce. 0 keeps every message. It must be at least MinRetention:
	// a purged message's source key is forgotten. Never at the start: a
	// source a crash left unacknowledged (a claimed input file) is
	// recognised as a duplicate only while its message is in the box, and
	// after a long stop its message may be older than Retention; the
	// receive locations acknowledge such sources on their first pass.
	Retention time.Duration
	// PurgeEvery is how often Run purges, and removes the staged copies
	// of deliveries ended meanwhile (see purgeLoop); 0 means an hour.
	PurgeEvery time.Duration
	// Now is the clock purges cut off by, a signing rollover switches by
	// and a decoding location judges signers' certificates by (the time
	// of receipt); nil means time.Now.
	Now func() time.Time
	// StopGrace is how long a stop waits for the receive locations'
	// messages in progress (an upload still arriving) before it cancels
	// them: nothing of theirs is stored, and their senders, never
	// acknowledged, send again. A file being stored (and decoded) is
	// finished whatever the grace, as work in flight is (file.Poller.Run):
	// a very large one holds the stop up for as long. 0 means
	// DefaultStopGrace.
	StopGrace time.Duration
}

// DefaultStopGrace is Options.StopGrace when it is 0: 30 s, the http
// receive location's body idle timeout, so an upload that is merely slow
// gets as long to finish as one that pauses may pause. It is a tenth of
// the README's systemd TimeoutStopSec (5 min), which leaves the rest to
// the deliveries in flight; a longer upload is better cancelled (the
// client sends it again to the next process) than killed with the process.
const DefaultStopGrace = 30 * time.Second

// MinRetention is the least Options.Retention (and the least age `bizpipe
// messages purge` takes): a purged message's source key is forgotten, so
// a source seen again would be received again, and a minute is far longer
// than a receive location takes to acknowledge its source.
const MinRetention = time.Minute

// CheckRetention reports a retention (or purge age) below MinRetention,
// in words that name d.
func CheckRetention(d time.Duration) error {
	if d < MinRetention {
		return fmt.Errorf("%v: give at least %v (e.g. 30d)", d, MinRetention)
	}
	return nil
}

// MinLease is the shortest lease run takes (--lease): the lease is
// renewed every third of it, and a shorter one would expire under an
// ordinary attempt and suspend every delivery as interrupted.
const MinLease = time.Second

// CheckLease reports a lease shorter than MinLease.
func CheckLease(d time.Duration) error {
	if d < MinLease {
		return fmt.Errorf("%v: give at least %v (e.g. 1m, the default)", d, MinLease)
	}
	return nil
}

// Summary counts what one Run did.
type Summary struct {
	Received  int // messages published by this run's receive locations
	Delivered int
	Retried   int // failed attempts scheduled for a retry
	Suspended int // deliveries suspended, plus routing failures
	// Waiting is the number of deliveries of this server's ports still
	// waiting for a retry when the run ended.
	Waiting int
	// AwaitingMDN is the number of deliveries of this server's ports
	// sent and awaiting an asynchronous MDN when the run ended
	// (language §11: --once does not wait for them).
	AwaitingMDN int
}

// Runner is a provisioned engine for one server.
type Runner struct {
	opts     Options
	log      *slog.Logger
	owner    string
	ports    map[string]*port // this server's send ports, by name
	portList []string
	routes   []*route // every send port of the configuration, for routing
	recv     []*receiver
	// judges are the send ports this runner does not run whose
	// asynchronous MDNs it judges all the same, and unjudged why it
	// cannot judge those of the others (buildJudges).
	judges   map[string]*port
	unjudged map[string]error
	// closers are the built components that are io.Closers, in the order
	// they were built (see Close).
	closers []io.Closer
	// locWho names the instance each of this server's receive locations
	// runs on, for the log lines about their messages (messageLog).
	locWho map[string]string
	// locAttrs are, by receive location, the attributes of messageLog's
	// lines after the message's: the location and its instance, secrets
	// (hide) replaced once.
	locAttrs map[string][]slog.Attr
	// copyBufs holds the buffers bodies flow through (*[]byte of
	// copyBuffer): a delivery of a few KiB must not allocate 256 KiB.
	copyBufs sync.Pool
	// excepts holds the lists of deliveries in flight claims pass to the
	// box (*[]int64, see claim).
	excepts sync.Pool
	// sharedVals are the resources components share (ReceiveEnv.Shared,
	// SendEnv.Shared).
	sharedMu   sync.Mutex
	sharedVals map[string]any
	// inFlight is the deliveries the workers hold, which their claims
	// pass over.
	inFlight inFlight
	// handed is what receives claimed for the workers (handOver).
	handed handedOff
	// hide are the sensitive variables' values: log (opts.Log) and the
	// reasons the runner stores show none of them.
	hide secrets

	// wake holds a token per idle worker to wake (see notify).
	wake chan struct{}
	// deferrals holds a slot per commit left for the rest of its batch
	// (Options.MaxDeferredCommits).
	deferrals slots
	// pipelines holds a slot per pipeline running (Options.Workers of
	// them): the pipelines a worker runs at once from its batch
	// (Options.PipelinesPerBatch) use the cores when few batches are in
	// hand, and never make more pipelines, and the memory they hold, run
	// at once than there are workers.
	pipelines chan struct{}
	// stop is closed when Run or RunOnce is asked to stop (its ctx ends):
	// from then on no attempt begins (see pipeline). Set by each run
	// before its workers start.
	stop atomic.Pointer[<-chan struct{}]
	// claimFails and sweepFails are a long run's claims and routing
	// sweeps failing (see outage).
	claimFails, sweepFails outage
	// stopProgress is how often a stop says which deliveries in flight
	// it still waits for (stopProgressEvery; tests shorten it).
	stopProgress time.Duration
	// released counts the deliveries a stop returned to the box
	// unattempted (see release), for the log line of the stop.
	released atomic.Int64

	// mdnAwaited is signalled each time this runner records a delivery
	// as awaiting its asynchronous MDN: an MDN that came first waits for
	// it (SettleReceipt), and each time attempts end. earlyMDNWait is
	// how long such an MDN waits; earlyMDNPoll how often it also looks in
	// the box, for a wait another process records; earlyWaits holds a
	// slot per MDN polling.
	mdnAwaited   broadcast
	earlyMDNWait time.Duration
	earlyMDNPoll time.Duration
	earlyWaits   slots

	mu  sync.Mutex
	sum Summary
	// troubles are what kept a --once run from doing its work (see
	// troubled), distinct texts only, at most maxTroubles of them.
	troubles []error
}

// maxTroubles bounds the problems a --once run keeps for its error: the
// log has each one anyway.
const maxTroubles = 3

// New provisions the runner: it resolves the host instances on the server,
// takes their keys from the validated stores, builds pipelines and
// transports. Any error means nothing can run.
func New(opts Options) (*Runner, error) {
	if opts.Config == nil || opts.Checked == nil || opts.Box == nil {
		return nil, errors.New("runner: Config, Checked and Box are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Workers <= 0 {
		opts.Workers = 16 * runtime.GOMAXPROCS(0)
	}
	if opts.MaxDeferredCommits <= 0 {
		opts.MaxDeferredCommits = DefaultMaxDeferredCommits
	}
	if opts.PipelinesPerBatch <= 0 {
		opts.PipelinesPerBatch = DefaultPipelinesPerBatch
	}
	if opts.Lease <= 0 {
		opts.Lease = time.Minute
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.IdleWait <= 0 {
		opts.IdleWait = time.Second
	}
	if opts.Retention != 0 {
		if err := CheckRetention(opts.Retention); err != nil {
			return nil, fmt.Errorf("runner: retention %w, or 0 to keep every message", err)
		}
	}
	if opts.PurgeEvery <= 0 {
		opts.PurgeEvery = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = DefaultStopGrace
	}
	hide := variableSecrets(opts.Config)
	r := &Runner{
		opts:       opts,
		log:        hide.logger(opts.Log),
		hide:       hide,
		owner:      processOwner(opts.Server, opts.Host),
		ports:      map[string]*port{},
		judges:     map[string]*port{},
		unjudged:   map[string]error{},
		locWho:     map[string]string{},
		locAttrs:   map[string][]slog.Attr{},
		sharedVals: map[string]any{},
		wake:       make(chan struct{}, opts.Workers),
		deferrals:  make(slots, opts.MaxDeferredCommits),
		pipelines:  make(chan struct{}, opts.Workers),

		stopProgress: stopProgressEvery,
		claimFails:   outage{failed: "claiming a delivery failed", works: "claiming deliveries works again", now: time.Now},
		sweepFails:   outage{failed: "routing sweep failed", works: "the routing sweep works again", now: time.Now},

		earlyMDNWait: defaultEarlyMDNWait,
		earlyMDNPoll: defaultEarlyMDNPoll,
		earlyWaits:   make(slots, maxEarlyMDNPolls),
	}
	r.inFlight.init()
	if err := r.provision(); err != nil {
		r.Close()
		return nil, err
	}
	if m := opts.Metrics; m != nil {
		var receipts []string
		for _, name := range r.portList {
			if _, ok := r.ports[name].sender.(component.ReceiptChecker); ok {
				receipts = append(receipts, name)
			}
		}
		m.Serving(sortedNames(r.locWho), r.portList, receipts)
	}
	return r, nil
}

// Ports returns the names of the send ports this runner delivers for.
func (r *Runner) Ports() []string { return append([]string(nil), r.portList...) }

// Run runs until ctx is cancelled, then stops taking new work, finishes what
// is in flight and returns. In once mode (see RunOnce) it returns by itself.
func (r *Runner) Run(ctx context.Context) (Summary, error) {
	ctx, stop := context.WithCancelCause(ctx) // a stop of the run's own (ErrNameLost)
	defer stop(nil)
	bg := context.WithoutCancel(ctx) // in-flight work finishes after a stop
	release, run, err := r.begin(ctx, bg, stop)
	if !run {
		return r.summary(), err
	}
	defer release()
	for _, rc := range r.recv {
		if err := rc.start(ctx); err != nil {
			r.stopReceivers(bg)
			// The locations started before may have claimed deliveries
			// for the workers, which never started: they go back to the
			// box unattempted, lest the next start recover them as
			// interrupted attempts never made.
			r.releaseHanded(bg)
			r.logReleased()
			return r.summary(), err
		}
	}
	var wg sync.WaitGroup
	for i := range r.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.workLoop(ctx, bg, r.workerName(i), nil)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.sweepUnrouted(ctx, bg)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.purgeLoop(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.announceRollover(ctx)
	}()
	<-ctx.Done()
	r.log.Info("stopping: no new work is taken; waiting for the receive locations' messages in progress, then for deliveries in flight",
		"stop_grace", r.opts.StopGrace.String(), "deliveries", r.deliveriesInFlight())
	// What the receive locations handed over and no worker took goes
	// back to the box now, not once the deliveries in flight end, and so
	// does what they hand over from now on: beside their stop, which a
	// box slow to answer would otherwise hold up, or be held up by.
	handedReleased := make(chan struct{})
	go func() {
		defer close(handedReleased)
		r.releaseHanded(bg)
	}()
	// The receive locations get StopGrace to finish what they are
	// storing; then what is left is cancelled, not stored and not
	// acknowledged, so a trickling client cannot hold the stop.
	gctx, cancel := context.WithTimeout(bg, r.opts.StopGrace)
	r.stopReceivers(gctx)
	cancel()
	<-handedReleased
	if args := r.inFlightAttrs(); args != nil {
		r.log.Info("stopping: receive locations stopped; waiting for deliveries in flight", args...)
	}
	r.awaitStopped(&wg, ctx.Done())
	r.logReleased()
	// As at the end of a --once run: the summary says what is left to
	// retry, which a stopped server does not deliver until it runs again.
	r.countLeft(bg)
	if err := context.Cause(ctx); errors.Is(err, ErrNameLost) {
		return r.summary(), err
	}
	return r.summary(), nil
}

// awaitStopped waits for wg, the workers and loops of a run, and once
// stopping is closed says every stopProgress how many deliveries in
// flight it still waits for and on which send ports, so that a stop held
// by a partner slow to answer is not taken for a hung process (a --once
// run not stopped waits for its workers without a word). Each attempt
// ends when its transport does (the partner answers, or its timeout
// passes): one abandoned could have been delivered, and be delivered
// again by the next start.
func (r *Runner) awaitStopped(wg *sync.WaitGroup, stopping <-chan struct{}) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-stopping:
	}
	t := time.NewTicker(r.stopProgress)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if args := r.inFlightAttrs(); args != nil {
				r.log.Info("stopping: still waiting for deliveries in flight; each ends when its partner answers or its transport's timeout passes", args...)
			}
		}
	}
}

// setStop makes ctx's end the runner's stop (see pipeline).
func (r *Runner) setStop(ctx context.Context) {
	done := ctx.Done()
	r.stop.Store(&done)
}

// stopping is closed once the current run is asked to stop; nil (never
// ready) outside a run.
func (r *Runner) stopping() <-chan struct{} {
	if p := r.stop.Load(); p != nil {
		return *p
	}
	return nil
}

// logReleased says how many deliveries the stop returned to the box
// unattempted, if any.
func (r *Runner) logReleased() {
	if n := r.released.Swap(0); n > 0 {
		r.log.Info("stopped: deliveries claimed but not yet attempted were returned to the box, due again",
			"deliveries", n)
	}
}

// countLeft sets the summary's Waiting and AwaitingMDN at the end of a
// long run, or of a --once run cut short (a stop, a receive that failed).
// A count that fails is logged and left 0: the run itself did
// its work, and the summary is only a report.
func (r *Runner) countLeft(ctx context.Context) {
	waiting, err := r.countWaiting(ctx)
	if err != nil {
		r.log.Warn("the summary's count of deliveries waiting for a retry is unknown", "error", err)
	}
	awaiting, err := r.countAwaiting(ctx)
	if err != nil {
		r.log.Warn("the summary's count of deliveries awaiting an MDN is unknown", "error", err)
	}
	r.mu.Lock()
	r.sum.Waiting, r.sum.AwaitingMDN = waiting, awaiting
	r.mu.Unlock()
}

// announceRollover logs the instant the group's signing_rollover takes
// effect, if it is ahead (the stages switch by themselves, per message:
// this is for the operator reading the log), unless ctx ends first.
func (r *Runner) announceRollover(ctx context.Context) {
	g := r.opts.Config.Group
	if g == nil {
		return
	}
	ro := g.SigningRollover
	at, ok := ro.When()
	if !ok {
		return
	}
	wait := at.Sub(r.opts.Now())
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		shown := redact.Shown
		if tp, err := thumbprint.Parse(ro.Thumbprint.V); err == nil {
			shown = shownThumbprint(ro.Thumbprint, tp)
		}
		r.log.Info("signing_rollover takes effect: messages and MDNs are signed with the new certificate from now on",
			"group", g.Name, "certificate", shown, "at", ro.At.V.UTC().Format(time.RFC3339))
	}
}

// RunOnce picks up what is present, processes until nothing more can be done
// now (every delivery delivered, suspended, or waiting for a retry) and returns.
// Cancelling ctx stops it as it stops Run: nothing new is taken, and the
// deliveries in flight are finished and recorded.
func (r *Runner) RunOnce(ctx context.Context) (Summary, error) {
	r.mu.Lock()
	r.sum = Summary{} // each call reports what it did
	r.troubles = nil
	r.mu.Unlock()
	ctx, stop := context.WithCancelCause(ctx) // a stop of the run's own (ErrNameLost)
	defer stop(nil)
	release, run, err := r.begin(ctx, ctx, stop)
	if !run {
		return r.summary(), err
	}
	defer release()
	// As in Run, a stop ends the claiming, not the deliveries in flight:
	// one whose transport succeeded must have its outcome recorded, or
	// the next run would redo it.
	bg := context.WithoutCancel(ctx)
	// Receiving and delivering overlap: workers start at once and drain
	// deliveries as the receivers route them; they stop when receiving is
	// done and nothing more is due.
	receiving := make(chan struct{})
	// At a stop, what the receive locations handed over and no worker
	// took goes back to the box at once, as in Run.
	workersDone := make(chan struct{})
	releasedHanded := make(chan struct{})
	go func() {
		defer close(releasedHanded)
		select {
		case <-ctx.Done():
			r.releaseHanded(bg)
		case <-workersDone:
		}
	}()
	var wg sync.WaitGroup
	for i := range r.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.workLoop(ctx, bg, r.workerName(i), receiving)
		}()
	}
	var recvErr error
	for {
		published, failed, err := r.pollReceivers(ctx)
		if err == nil {
			err = r.routeUnrouted(ctx)
		}
		if err != nil || published == 0 {
			// The last pass's problems are what the run leaves undone: a
			// file an earlier pass failed on may have gone in since, and
			// one that fails at every pass is named once.
			for _, f := range failed {
				r.troubled(f)
			}
			recvErr = err
			break
		}
	}
	close(receiving)
	r.awaitStopped(&wg, ctx.Done())
	close(workersDone)
	<-releasedHanded
	// What the receive locations claimed for the workers after they
	// stopped (when the box failed their claims) is in flight too:
	// left, it would wait for its lease, and the next run would count an
	// attempt never made. At a stop it went back to the box
	// (releaseHanded).
	for batch := r.nextHanded(bg); batch != nil; batch = r.nextHanded(bg) {
		r.processBatch(bg, batch)
	}
	r.logReleased()
	if recvErr != nil || ctx.Err() != nil {
		// The summary, printed all the same, says what is left to retry,
		// as a long run's stop does (countLeft).
		r.countLeft(bg)
		if recvErr != nil {
			return r.summary(), recvErr
		}
		return r.summary(), context.Cause(ctx)
	}
	waiting, err := r.countWaiting(ctx)
	if err != nil {
		return r.summary(), err
	}
	awaiting, err := r.countAwaiting(ctx)
	if err != nil {
		return r.summary(), err
	}
	r.mu.Lock()
	r.sum.Waiting, r.sum.AwaitingMDN = waiting, awaiting
	r.mu.Unlock()
	// Last: every source this run took is acknowledged by now.
	r.purge(ctx)
	return r.summary(), r.troubleErr()
}

// ErrNameLost is wrapped by the error of a run stopped because another
// process took its server's name on the message box (see holdOwner).
var ErrNameLost = errors.New("another process took this server's name on the message box, so this run stopped")

// ErrIncomplete is wrapped by the error of a --once run that could not do
// all it was asked: a receive location could not be read, or the message
// box failed to store, claim or record. What it did is in the summary
// all the same, and nothing is lost: the next run picks up what is left.
var ErrIncomplete = errors.New("the run could not do all its work")

// troubled notes a problem that keeps a --once run from doing its work,
// already logged where it happened, so that the run's error (and exit
// status) tells a job scheduler, where a log line would go unnoticed.
// A problem met at every pass (an unreadable directory) is kept once.
// It reports whether the problem is new to this run.
func (r *Runner) troubled(err error) bool {
	if err == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.troubles {
		if e.Error() == err.Error() {
			return false
		}
	}
	if len(r.troubles) < maxTroubles {
		r.troubles = append(r.troubles, err)
	}
	return true
}

// troubleErr is what troubled noted, joined under ErrIncomplete, or nil.
func (r *Runner) troubleErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.troubles) == 0 {
		return nil
	}
	return fmt.Errorf("%w (each problem is logged; the next run takes up what is left): %w",
		ErrIncomplete, errors.Join(r.troubles...))
}

// processOwner names the process that runs server (and only host, when
// not ""), as the lease owner Recover takes back when that process starts
// again: "server", or "server@host". Each `run --host` process on a server
// is an owner of its own (host names cannot contain "@"), so that one
// starting, whose previous run's leases are all it may take back, leaves
// the deliveries in flight in its siblings alone; they share the box, but
// never a send port. The workers' names and the receive's extend it
// ("srv1@send_host/w3"), so the history tells the processes apart too.
func processOwner(server, host string) string { return component.Owner(server, host) }

// workerName is the lease owner of worker i: "owner/wN". Each worker
// holds its own leases, so that one worker can never finish a delivery a
// sibling took over unbeknown to it (a sibling that takes over one in
// flight hands the lease to its attempt, see inFlight); Recover(owner)
// covers them all.
func (r *Runner) workerName(i int) string { return fmt.Sprintf("%s/w%d", r.owner, i) }

func (r *Runner) summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum
}

func (r *Runner) count(f func(*Summary)) {
	r.mu.Lock()
	f(&r.sum)
	r.mu.Unlock()
}

// begin readies Run and RunOnce: it makes ctx's end the stop (setStop),
// holds the owner (holdOwner), then recovers under work (recover). run is false when they must return at
// once: with err, or with none when ctx was cancelled while the owner was
// awaited (stopped before it started). release is for a run that goes on.
func (r *Runner) begin(ctx, work context.Context, stop context.CancelCauseFunc) (release func(), run bool, err error) {
	r.setStop(ctx)
	r.handed.mu.Lock()
	r.handed.stopped = false // a previous run's stop
	r.handed.mu.Unlock()
	release, err = r.holdOwner(ctx, stop)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, nil
		}
		return nil, false, err
	}
	if err := r.recover(work); err != nil {
		release()
		if cause := context.Cause(ctx); errors.Is(cause, ErrNameLost) {
			return nil, false, cause // what cut the recovery short
		}
		return nil, false, err
	}
	return release, true, nil
}

// holdOwner makes this process the only one running as its owner on a box
// that processes on several servers share (msgbox.OwnerHolder): another
// one, taken at its start for a crashed predecessor, would take this one's
// deliveries in flight for interrupted ones (Recover). The embedded box's
// own lock covers that for the embedded box.
//
// A hold lost to another process (its connection cut, a network
// partition, and the other started meanwhile) stops the run, as a stop
// does, with ErrNameLost: the two would otherwise claim under the same
// workers' names, each renewing and finishing the other's leases, and
// send the same deliveries twice for as long as both ran.
func (r *Runner) holdOwner(ctx context.Context, stop context.CancelCauseFunc) (release func(), err error) {
	h, ok := r.opts.Box.(msgbox.OwnerHolder)
	if !ok {
		return func() {}, nil
	}
	var once sync.Once
	release, err = h.HoldOwner(ctx, r.owner, func(err error) {
		once.Do(func() {
			r.log.Error("another process took this server's name on the message box while this one's hold was lost: stopping, "+
				"lest each take the other's deliveries in flight for interrupted ones and send them twice; "+
				"give each process its own --server or --host", "error", err)
			stop(fmt.Errorf("%w: %w", ErrNameLost, err))
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%w; stop it first, or give each process its own --server (or --host)", err)
	}
	return release, nil
}

// recover returns deliveries this process (its owner: this server, or this
// host on it) held when it last stopped (killed) to the pool, and routes
// messages a crash left unrouted.
func (r *Runner) recover(ctx context.Context) error {
	n, err := r.opts.Box.Recover(ctx, r.owner)
	if err != nil {
		return fmt.Errorf("recovering deliveries of %q: %w", r.owner, err)
	}
	if n > 0 {
		r.log.Info("recovered deliveries interrupted by the previous stop", "count", n)
	}
	r.sweepStaged(ctx)
	return r.routeUnrouted(ctx)
}

// sweepStaged removes the staged copies a crash left behind after the box
// had recorded their deliveries as done (between Finish and Cleanup), those
// of deliveries terminated (which no Cleanup follows), and old leftovers of
// interrupted attempts. Copies of deliveries not done stay:
// Redo finishes those. A copy whose delivery the box does not know is
// removed too: the transport names its copies with the box's identity, so
// the delivery was this box's, and only a purge (`messages purge`, or
// --retention) deletes deliveries, done ones. Problems are logged, not fatal: a leftover is
// harmless, and a missing output directory is reported by its deliveries.
func (r *Runner) sweepStaged(ctx context.Context) {
	for _, name := range r.portList {
		st, ok := r.ports[name].sender.(component.Stager)
		if !ok {
			continue
		}
		log := r.ports[name].log.With("send_port", name, "instance", r.ports[name].who)
		// The age spares attempts in flight on other servers sharing the
		// directory.
		if n, err := st.SweepStale(2 * r.opts.Lease); err != nil {
			log.Warn("removing leftovers of interrupted attempts failed", "error", err)
		} else if n > 0 {
			log.Info("removed leftovers of interrupted attempts", "count", n)
		}
		ids, err := st.Staged()
		if err != nil {
			log.Warn("listing staged copies failed", "error", err)
			continue
		}
		if len(ids) == 0 {
			continue
		}
		states, err := r.opts.Box.DeliveryStates(ctx, ids)
		if err != nil {
			log.Warn("looking up the deliveries of staged copies failed", "error", err)
			continue
		}
		removed := 0
		for _, id := range ids {
			if state, known := states[id]; known && state != msgbox.DeliveryDelivered && state != msgbox.DeliveryTerminated {
				continue
			}
			if err := st.Cleanup(&component.Delivery{ID: id, Port: name}); err != nil {
				log.Warn("removing a staged copy failed", "delivery", id, "error", err)
				continue
			}
			removed++
		}
		if removed > 0 {
			log.Info("removed staged copies of deliveries delivered, terminated or purged", "count", removed)
		}
	}
}

// purge applies Options.Retention. A failure is logged, not fatal: the
// next purge tries again, and meanwhile the box only grows.
func (r *Runner) purge(ctx context.Context) {
	if r.opts.Retention <= 0 {
		return
	}
	n, err := r.opts.Box.Purge(ctx, r.opts.Now().Add(-r.opts.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		r.log.Warn("purging old messages failed; retried at the next purge", "retention", r.opts.Retention.String(), "purged_before_failure", n, "error", err)
	case n > 0:
		r.log.Info("purged old messages", "count", n, "retention", r.opts.Retention.String())
	}
}

// purgeLoop purges (with a Retention) and sweeps the staged copies every
// PurgeEvery until ctx ends. The sweep is for the copies of deliveries
// ended while the run runs (`messages terminate`, a purge): Cleanup
// follows only a delivery made, and a terminated message's output must
// not stay in the partner's directory until the next start.
func (r *Runner) purgeLoop(ctx context.Context) {
	t := time.NewTicker(r.opts.PurgeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.purge(ctx)
			r.sweepStaged(ctx)
		}
	}
}

// countWaiting counts this server's deliveries waiting for a retry.
func (r *Runner) countWaiting(ctx context.Context) (int, error) {
	n, err := r.opts.Box.Retrying(ctx, r.portList)
	if err != nil {
		return 0, fmt.Errorf("counting deliveries waiting for a retry: %w", err)
	}
	return n, nil
}

// notify wakes as many idle workers as n new deliveries need: one per
// claimBatch of them. Waking every idle worker for each routed batch
// would send most of them to claim nothing (measured: 942 empty claims,
// each with a probe and a NextDue query, for 125 that took 16, in a
// 2,000-message run). A worker that is busy claims again when its batch
// is done, without a token; a token nobody is waiting for stays in wake
// and makes one claim later, perhaps for nothing: never a lost wakeup.
func (r *Runner) notify(n int) {
	r.wakeWorkers((n + claimBatch - 1) / claimBatch)
}

// wakeWorkers wakes up to n idle workers (see notify).
func (r *Runner) wakeWorkers(n int) {
	for range n {
		select {
		case r.wake <- struct{}{}:
		default:
			return // every worker has a token already
		}
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// stopProgressEvery is how often a stop waiting for deliveries in flight
// says which ones it still waits for.
const stopProgressEvery = 10 * time.Second
