package sqlitebox

import (
	"time"

	"github.com/bizpipe/bizpipe/internal/filelock"
)

// Turns at the write lock. SQLite gives its write lock to whoever asks
// when it is free, with no queue: a busy engine's writer takes it again
// microseconds after each commit, while another process waiting for it
// (`bizpipe messages resubmit`, `terminate`, `resume`, `purge`) looks
// again only after sleeps that grow to 100 ms. With enough of the engine's
// writes queued, that process would wait seconds, and give up after
// Options.BusyTimeout. So a process that writes asks for a turn while it
// waits and writes (a shared lock on messagebox.db.turn, filelock.Turn),
// and the engine's writer, before each transaction, looks whether one is
// asked and leaves the lock alone until the turn is over.
//
// A waiter that asks and never writes (a process stopped while it waits)
// costs the engine at most turnWait, then nothing for turnRest, which
// doubles with each such turn up to maxTurnRest.
const (
	// turnSuffix names the turn file beside the database.
	turnSuffix = ".turn"
	// turnLook is how often at most the engine's writer looks whether a
	// turn is asked, and how often it looks again while it gives one.
	turnLook = time.Millisecond
	// turnWait is the longest the writer leaves the lock to the waiters:
	// beyond the busy handler's longest sleep (100 ms) and one of their
	// writes (a purge's takes about purgeBudget).
	turnWait = 500 * time.Millisecond
	// turnRest is how long the writer gives no turn after one that
	// lasted turnWait; maxTurnRest bounds its doubling.
	turnRest    = time.Second
	maxTurnRest = time.Minute
	// askTries is how many times a waiter tries to ask: asking fails only
	// for the instant the engine's writer looks.
	askTries = 20
)

// turns is a box's side of the turn file; only the writer goroutine uses
// it.
type turns struct {
	t *filelock.Turn
	// give: this box is the engine's (Options.Lock), which gives turns;
	// any other asks for them.
	give bool

	looked    time.Time     // when the writer last looked (give)
	restUntil time.Time     // no turn is given before then (give)
	rest      time.Duration // the next rest (give)
	// asked and given, when not nil, run when the writer finds a turn
	// asked, and once it is over, with whether the waiters were done
	// within turnWait (tests).
	asked func()
	given func(done bool)
}

// openTurns opens the turn file of the box at real: the engine's creates
// it, another process's opens it only if it is there (nil otherwise: no
// engine ever ran there to give turns).
func openTurns(real string, give bool) *turns {
	t, err := filelock.OpenTurn(real+turnSuffix, give)
	if err != nil {
		return nil
	}
	return &turns{t: t, give: give, rest: turnRest}
}

// before runs before the writer begins a transaction, and returns what
// to call once the transaction is over: the engine's writer gives a turn
// if one is asked; another process's asks for one, which ends then.
func (ts *turns) before() (end func()) {
	switch {
	case ts == nil:
		return func() {}
	case ts.give:
		ts.giveTurn()
		return func() {}
	default:
		return ts.ask()
	}
}

// ask asks for a turn and returns what ends it.
func (ts *turns) ask() (end func()) {
	for range askTries {
		if ts.t.Ask() {
			return ts.t.Done
		}
		time.Sleep(50 * time.Microsecond)
	}
	return func() {} // not asked: the write waits in the busy handler alone
}

// giveTurn waits while a turn is asked, at most turnWait, unless it looked
// less than turnLook ago or rests.
func (ts *turns) giveTurn() {
	now := time.Now()
	if now.Sub(ts.looked) < turnLook || now.Before(ts.restUntil) {
		return
	}
	ts.looked = now
	if !ts.t.Asked() {
		return
	}
	if ts.asked != nil {
		ts.asked()
	}
	done := false
	for end := now.Add(turnWait); !done && time.Now().Before(end); {
		time.Sleep(turnLook)
		done = !ts.t.Asked()
	}
	ts.looked = time.Now()
	if done {
		ts.rest = turnRest
	} else {
		ts.restUntil = ts.looked.Add(ts.rest)
		ts.rest = min(2*ts.rest, maxTurnRest)
	}
	if ts.given != nil {
		ts.given(done)
	}
}

// close closes the turn file.
func (ts *turns) close() error {
	if ts == nil {
		return nil
	}
	return ts.t.Close()
}
