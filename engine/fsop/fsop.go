// Package fsop makes the file system calls of the file transports as single
// system calls. os.Rename first stats the new name (to word the error for a
// directory there), and os.Remove tries rmdir after a failed unlink: for a
// transport that renames and removes several files per message, and often
// removes a name that is not there, that doubles the calls.
package fsop

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// Rename renames oldpath to newpath with one rename(2), replacing a file at
// newpath. The error is an *os.LinkError, as os.Rename's.
func Rename(oldpath, newpath string) error {
	if err := retryEINTR(func() error { return syscall.Rename(oldpath, newpath) }); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// Remove removes the file (not directory) at path with one unlink(2). The
// error is an *fs.PathError, as os.Remove's.
func Remove(path string) error {
	if err := retryEINTR(func() error { return syscall.Unlink(path) }); err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}

// RemoveIfExists is Remove, with a missing file not an error.
func RemoveIfExists(path string) error {
	if err := Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// retryEINTR repeats fn while it is interrupted by a signal, as package os
// does for these calls.
func retryEINTR(fn func() error) error {
	for {
		err := fn()
		if err != syscall.EINTR {
			return err
		}
	}
}
