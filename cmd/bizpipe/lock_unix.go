//go:build unix

package main

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on fh without waiting; the lock goes with
// the descriptor, so the process's exit releases it even after SIGKILL.
func lockFile(fh *os.File) error {
	return syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
