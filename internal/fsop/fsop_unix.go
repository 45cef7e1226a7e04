//go:build unix

package fsop

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// rename is one rename(2).
func rename(oldpath, newpath string) error {
	if err := RetryEINTR(func() error { return syscall.Rename(oldpath, newpath) }); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// remove is one unlink(2), which refuses a directory.
func remove(path string) error {
	if err := RetryEINTR(func() error { return syscall.Unlink(path) }); err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}

// RetryEINTR repeats fn, a system call, while it is interrupted by a
// signal (EINTR), as package os does for its own calls.
func RetryEINTR(fn func() error) error {
	for {
		err := fn()
		if err != syscall.EINTR {
			return err
		}
	}
}

// openFile is one open(2) (O_CLOEXEC, as package os adds), wrapped by
// os.NewFile, which leaves a blocking descriptor alone.
func openFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	var fd int
	err := RetryEINTR(func() error {
		var err error
		fd, err = syscall.Open(path, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// OpenNoWait opens path for reading without waiting: O_NONBLOCK makes
// opening a FIFO return at once instead of waiting for a writer, and
// O_NOCTTY keeps a terminal from becoming the controlling terminal.
// Neither changes reading a regular file, the only kind read after it.
func OpenNoWait(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}

// NoWriteAccess reports whether this process may not create files in dir:
// its permission bits deny it to the process's effective user, or dir is
// on a read-only file system. false when that cannot be told.
func NoWriteAccess(dir string) bool {
	err := RetryEINTR(func() error { return unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK, unix.AT_EACCESS) })
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS)
}

// ReadOnlyFS reports whether dir is on a file system mounted read-only,
// where no user may write: the remedy differs from a permission's. false
// when that cannot be told.
func ReadOnlyFS(dir string) bool {
	err := RetryEINTR(func() error { return unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK, unix.AT_EACCESS) })
	return errors.Is(err, unix.EROFS)
}
