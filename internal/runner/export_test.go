package runner

import "time"

// SetEarlyMDNPoll sets how often r's SettleReceipt asks the box whether
// the delivery an early MDN answers awaits it yet: a test sets it far
// beyond earlyMDNWait to show that r's own recordings wake the wait.
func SetEarlyMDNPoll(r *Runner, d time.Duration) { r.earlyMDNPoll = d }
