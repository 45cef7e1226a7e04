//go:build unix

package receive

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// openNoFollow opens path for reading. O_NOFOLLOW: a symbolic link as the
// last element is refused (ELOOP; EMLINK on FreeBSD), never followed.
// O_NONBLOCK: the open of a FIFO returns at once instead of waiting for a
// writer (and the caller's fstat refuses it); it changes nothing for
// reading a regular file.
//
// The descriptor is opened with open(2) and wrapped by os.NewFile, which
// sees O_NONBLOCK and leaves the flags alone: os.OpenFile would switch a
// regular file to non-blocking mode and back, four fcntl(2) calls per input
// that change nothing.
func openNoFollow(path string) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) {
		return nil, notRegular(fs.ModeSymlink)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// pinIdentity: on Unix a FileInfo from Lstat carries its device and inode.
func pinIdentity(fs.FileInfo) {}
