package runner

import (
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// SetEarlyMDNPoll sets how often r's SettleReceipt asks the box whether
// the delivery an early MDN answers awaits it yet: a test sets it far
// beyond earlyMDNWait to show that r's own recordings wake the wait.
func SetEarlyMDNPoll(r *Runner, d time.Duration) { r.earlyMDNPoll = d }

// SetEarlyMDNWait sets how long r's SettleReceipt waits for the delivery
// an early MDN answers to await it.
func SetEarlyMDNWait(r *Runner, d time.Duration) { r.earlyMDNWait = d }

// SetEarlyMDNPolls sets how many early MDNs r's SettleReceipt lets poll
// the box at once.
func SetEarlyMDNPolls(r *Runner, n int) { r.earlyWaits = make(slots, n) }

// EarlyMDNPolling is how many of r's early waits poll now (see
// SetEarlyMDNPolls).
func EarlyMDNPolling(r *Runner) int { return len(r.earlyWaits) }

// SetStopProgress sets how often r's stop says which deliveries in
// flight it still waits for.
func SetStopProgress(r *Runner, d time.Duration) { r.stopProgress = d }

// SetOutageClock sets the clock by which r spaces its lines about claims
// and routing sweeps that keep failing (outage).
func SetOutageClock(r *Runner, now func() time.Time) { r.claimFails.now, r.sweepFails.now = now, now }

// OutageRepeat is how often a long run's claims and routing sweeps that
// keep failing are logged.
const OutageRepeat = outageRepeat

// RoutingOf returns the send ports and the routing-failure reason r's
// router gives msg, for a test of a message no box API can put back in
// the router's way (one an earlier bizpipe resumed after its decoding
// failed).
func RoutingOf(r *Runner, msg msgbox.Message) ([]string, string) {
	rt := r.decide(msg)
	return rt.ports, rt.reason
}
