//go:build solaris || aix

package file

import (
	"errors"
	"os"
)

// linkNoFollow is not offered where golang.org/x/sys/unix has no linkat:
// link(2) may follow a symbolic link there. renameNoReplace then checks and
// renames instead.
func linkNoFollow(oldpath, newpath string) error {
	return &os.LinkError{Op: "link", Old: oldpath, New: newpath, Err: errors.ErrUnsupported}
}
