// Package fsop makes the file system calls of the file transports as single
// system calls where the platform allows. On Unix, os.Rename first stats the
// new name (to word the error for a directory there), os.Remove tries
// rmdir after a failed unlink, and os.OpenFile switches a regular file to
// non-blocking mode and back around a failed poller registration (five
// calls that change nothing): for a transport that opens, renames and
// removes several files per message, and often removes a name that is not
// there, that doubles the calls. Elsewhere (Windows) the os functions are used:
// they also clear a read-only attribute that would make a removal fail.
package fsop

import (
	"errors"
	"io/fs"
	"os"
)

// OpenFile is os.OpenFile for a regular file or a directory (never a FIFO,
// a terminal or a socket, whose reads should go through the poller).
func OpenFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	return openFile(path, flag, perm)
}

// Rename renames oldpath to newpath, replacing a file at newpath. The error
// is an *os.LinkError, as os.Rename's.
func Rename(oldpath, newpath string) error { return rename(oldpath, newpath) }

// Remove removes the file (never a directory) at path. The error is an
// *fs.PathError, as os.Remove's.
func Remove(path string) error { return remove(path) }

// RemoveIfExists is Remove, with a missing file not an error.
func RemoveIfExists(path string) error {
	if err := Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// TypeName names the type of a file that is not a regular file, for an
// operator: "named pipe (FIFO)", "block device", ... (without an article).
func TypeName(m fs.FileMode) string {
	switch t := m.Type(); {
	case t&fs.ModeSymlink != 0:
		return "symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case t&fs.ModeDir != 0:
		return "directory"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "block device"
	default:
		return "special file"
	}
}

// NoSpace reports whether the file system holding dir has no space left
// for this process, so that an error that does not say so (SQLite's "disk
// I/O error" when it cannot grow its shared-memory file) can be explained.
// It is false when that cannot be told.
func NoSpace(dir string) bool { return noSpace(dir) }
