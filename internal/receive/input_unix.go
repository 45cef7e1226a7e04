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
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) {
		return nil, notRegular(fs.ModeSymlink)
	}
	return f, err
}

// pinIdentity: on Unix a FileInfo from Lstat carries its device and inode.
func pinIdentity(fs.FileInfo) {}
