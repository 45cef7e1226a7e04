//go:build unix

package main

import (
	"os"
	"syscall"
)

// stopSignals are the signals that stop run cleanly: it stops taking new
// work, finishes what is in flight, prints its summary and exits 0.
// SIGHUP is one of them: its default action would kill the process
// mid-delivery (a closed terminal or SSH session, a supervisor that sends
// it to stop). It does not reload the configuration: bizpipe has no
// reload, so a restart is how a changed configuration takes effect.
func stopSignals() []os.Signal {
	return []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}
}
