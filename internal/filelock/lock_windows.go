//go:build windows

package filelock

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// errWouldBlock is what tryLock returns when another holder has the lock.
var errWouldBlock = errors.New("lock violation")

// tryLock takes an exclusive LockFileEx lock on f without waiting. The
// locked byte is far past the process id the file holds: Windows locks are
// mandatory, and a lock on the first bytes would keep the process that
// finds the file locked from reading who holds it.
func tryLock(f *os.File) error {
	return lockByte(f, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY)
}

// lockShared takes a shared LockFileEx lock on f, on tryLock's byte,
// without waiting.
func lockShared(f *os.File) error {
	return lockByte(f, windows.LOCKFILE_FAIL_IMMEDIATELY)
}

// lockByte is LockFileEx with flags on byte 4 GiB, beyond any content.
func lockByte(f *os.File, flags uint32) error {
	ol := windows.Overlapped{OffsetHigh: 1}
	err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errWouldBlock
	}
	return err
}

// unlock releases the lock on tryLock's byte.
func unlock(f *os.File) error {
	ol := windows.Overlapped{OffsetHigh: 1}
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}
