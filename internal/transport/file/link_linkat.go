//go:build unix && !solaris && !aix

package file

import (
	"os"

	"golang.org/x/sys/unix"
)

// linkNoFollow makes newpath a hard link to oldpath itself, never to what
// oldpath points to when it is a symbolic link: linkat(2) without
// AT_SYMLINK_FOLLOW (POSIX). os.Link calls link(2), which on macOS follows
// the link - giving back a refused link would then make a hard link to its
// target, a regular file the next pass would read.
func linkNoFollow(oldpath, newpath string) error {
	for {
		err := unix.Linkat(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.LinkError{Op: "link", Old: oldpath, New: newpath, Err: err}
		}
		return nil
	}
}
