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
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
