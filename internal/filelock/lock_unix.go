//go:build unix

package filelock

import (
	"errors"
	"os"
	"syscall"
)

// errWouldBlock is what tryLock returns when another holder has the lock.
var errWouldBlock = syscall.EWOULDBLOCK

// tryLock takes an exclusive flock on f without waiting. A flock conflicts
// with every other open file description of the file, in this process too.
func tryLock(f *os.File) error {
	return flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
}

// lockShared takes a shared flock on f without waiting.
func lockShared(f *os.File) error {
	return flock(f, syscall.LOCK_SH|syscall.LOCK_NB)
}

// unlock releases f's flock.
func unlock(f *os.File) error {
	return flock(f, syscall.LOCK_UN)
}

// flock is syscall.Flock on f, again when interrupted.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
