package file

import (
	"os"

	"golang.org/x/sys/windows"
)

// renameNoReplace renames oldpath to newpath unless newpath exists, in which
// case it returns an error satisfying errors.Is(err, fs.ErrExist): when a
// claimed file is given back after a failed publish, a new file dropped
// meanwhile under the same name must not be overwritten and lost.
//
// MoveFileEx without MOVEFILE_REPLACE_EXISTING does that in one step, and
// renames a symbolic link itself. The link-then-remove of other platforms
// does not work here: a file another process holds open without
// FILE_SHARE_DELETE can be linked but not removed, under either name, so
// the undo failed too and the file kept both names, and was published
// once under each.
func renameNoReplace(oldpath, newpath string) error {
	from, err := windows.UTF16PtrFromString(oldpath)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	to, err := windows.UTF16PtrFromString(newpath)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := windows.MoveFileEx(from, to, 0); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}
