//go:build !unix

package fsop

import (
	"errors"
	"io/fs"
	"os"
)

var errIsDir = errors.New("is a directory")

func rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// remove refuses a directory, as unlink(2) does, and otherwise is os.Remove.
func remove(path string) error {
	if info, err := os.Lstat(path); err == nil && info.IsDir() {
		return &fs.PathError{Op: "remove", Path: path, Err: errIsDir}
	}
	return os.Remove(path)
}

func openFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}

// OpenNoWait opens path for reading (Windows has no FIFOs that opening
// would wait on).
func OpenNoWait(path string) (*os.File, error) { return os.Open(path) }

// NoWriteAccess is false where the access rights are not looked up
// (Windows).
func NoWriteAccess(string) bool { return false }

// ReadOnlyFS is false where the access rights are not looked up (Windows).
func ReadOnlyFS(string) bool { return false }
