//go:build unix

package file

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// lockClaim takes an exclusive lock (flock) on the claimed file f, opened
// by path and described by info, which lasts as long as f is open: while
// it is held, another process that finds the claim (one of the same owner
// name restarting beside this one, or taking it over) cannot lock it, and
// leaves it alone (errHeld) instead of storing it a second time. Once
// locked, path must still name f: a claim given back (renamed to its file
// name) or removed by its holder between this open and this lock is gone
// (fs.ErrNotExist), not this process's to store. A file system without
// such locks (ENOLCK, EOPNOTSUPP, EBADF on some network file systems)
// claims without them, as before.
func lockClaim(f inputFile, path string, info fs.FileInfo) error {
	d, ok := f.(interface{ Fd() uintptr })
	if !ok {
		return nil
	}
	for {
		err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			if now, err := os.Lstat(path); err != nil || !sameFile(now, info) {
				return &fs.PathError{Op: "lock", Path: path, Err: fs.ErrNotExist}
			}
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return errHeld
		default:
			return nil
		}
	}
}

// removeOpen: an open file can be removed here, so a claim's lock is held
// until its file is gone (see acknowledge).
const removeOpen = true
