//go:build !unix

package main

import (
	"os"
	"syscall"
)

// stopSignals are the signals that stop run cleanly (see signals_unix.go);
// these platforms have no SIGHUP to stop on.
func stopSignals() []os.Signal {
	return []os.Signal{os.Interrupt, syscall.SIGTERM}
}
