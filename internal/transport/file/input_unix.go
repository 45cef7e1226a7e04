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
// The descriptor is opened with open(2), not os.OpenFile, which would
// switch a regular file to non-blocking mode and back: four fcntl(2) calls
// per input that change nothing. openedInput makes it an inputFile.
func openNoFollow(path string) (inputFile, error) {
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
	return openedInput(fd, path), nil
}

// sameFile is os.SameFile for file infos of any origin: a rawFile's Stat
// is not one os.SameFile takes. Both carry the device and inode.
func sameFile(a, b fs.FileInfo) bool {
	sa, okA := a.Sys().(*syscall.Stat_t)
	sb, okB := b.Sys().(*syscall.Stat_t)
	if !okA || !okB {
		return os.SameFile(a, b)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// pinIdentity: on Unix a FileInfo from Lstat carries its device and inode.
func pinIdentity(fs.FileInfo) {}

// identify: on Unix a listing's FileInfo (an Lstat) carries the device and
// inode that opening the file must match.
func identify(_ string, listed fs.FileInfo) (fs.FileInfo, error) { return listed, nil }

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
