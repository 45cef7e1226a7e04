//go:build !windows

package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// renameNoReplace renames oldpath to newpath unless newpath exists, in which
// case it returns an error satisfying errors.Is(err, fs.ErrExist). os.Rename
// would silently replace newpath: when a claimed file is given back after a
// failed publish, a new file dropped meanwhile under the same name must not
// be overwritten and lost.
//
// It links newpath to the file and then removes oldpath; link fails
// atomically when newpath exists. On a file system without hard links it
// falls back to checking then renaming, which leaves a narrow window in
// which a file created at that very moment would be replaced. Neither step
// follows a symbolic link: a refused link is given back as the link itself.
func renameNoReplace(oldpath, newpath string) error {
	err := linkNoFollow(oldpath, newpath)
	if err == nil {
		if err := os.Remove(oldpath); err != nil {
			// Two names for one file would publish it twice (once per
			// name): undo the link rather than leave both.
			if uerr := os.Remove(newpath); uerr != nil {
				return fmt.Errorf("removing %s after linking it to %s: %w (and undoing the link: %v)", oldpath, newpath, err, uerr)
			}
			return fmt.Errorf("removing %s after linking it to %s: %w", oldpath, newpath, err)
		}
		return nil
	}
	if errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Hard links not supported here (FAT, some network shares), or not to
	// a symbolic link (macOS).
	if _, serr := os.Lstat(newpath); serr == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return fmt.Errorf("checking %s before renaming onto it: %w", newpath, serr)
	}
	return os.Rename(oldpath, newpath)
}
