//go:build windows

package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive lock on fh without waiting; Windows releases
// it when the process ends, however it ends.
func lockFile(fh *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(fh.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}
