package file

import (
	"os"
	"path/filepath"
	"strings"

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
	from, err := windows.UTF16PtrFromString(longPath(oldpath))
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	to, err := windows.UTF16PtrFromString(longPath(newpath))
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := windows.MoveFileEx(from, to, 0); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// longPath is path as MoveFileEx can take it past MAX_PATH (260), as
// package os does for its own calls: an absolute path of 248 characters
// or more (made absolute first) gets the \\?\ prefix (\\?\UNC\ for a share), which turns off
// the 260 limit along with Win32 normalization; the paths here are clean
// (filepath.Join), so that normalization has nothing to do. Without it a
// claim near 255 characters, taken by os.Rename, could not be given back.
func longPath(path string) string {
	if len(path) < 248 || strings.HasPrefix(path, `\\?\`) {
		return path
	}
	if !filepath.IsAbs(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return path // MoveFileEx says what is wrong with it
		}
		path = abs
	}
	if strings.HasPrefix(path, `\\`) {
		return `\\?\UNC\` + path[2:]
	}
	return `\\?\` + path
}
