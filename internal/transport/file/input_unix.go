//go:build unix

package file

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

// keepable reports whether a message box may keep the input file info
// describes as its own (msgbox.FileBody): owned by this process's user,
// who can then make it private, and with no name but the claim, which is
// unlinked once the message is stored.
func keepable(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 1 && int(st.Uid) == os.Getuid()
}

// linkCount is the number of names the file info describes has; ok is false
// where the platform does not say.
func linkCount(info fs.FileInfo) (n uint64, ok bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}
