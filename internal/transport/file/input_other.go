//go:build !unix

package file

import (
	"io/fs"
	"os"
)

// openNoFollow opens path for reading, refusing a symbolic link (or other
// reparse point) or special file. Without O_NOFOLLOW (Windows), this is
// Lstat then Open: something swapped in between is opened, but it is not
// the file the listing saw, and the caller's identity check (volume serial
// and file index, os.SameFile) refuses it.
func openNoFollow(path string) (inputFile, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, notRegular(info.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// sameFile is os.SameFile: every input is an *os.File here.
func sameFile(a, b fs.FileInfo) bool { return os.SameFile(a, b) }

// linkNoFollow makes newpath a hard link to oldpath (on Windows, to a
// symbolic link itself, not its target).
func linkNoFollow(oldpath, newpath string) error { return os.Link(oldpath, newpath) }

// pinIdentity reads the identity of a listed file now. On Windows a
// FileInfo from a listing or Lstat may load its volume serial and file
// index only when os.SameFile first needs them, by opening the path again:
// by then a swapped-in file would lend its own.
func pinIdentity(info fs.FileInfo) { os.SameFile(info, info) }

// identify returns the FileInfo that opening the file listed as listed at
// path, under this name or another it is renamed to, must match
// (sameFile), with its identity read now. A listing's FileInfo carries a
// file index only on a volume with object IDs that opens files by ID
// (NTFS): package os leaves it zero, never to be loaded, on ReFS, FAT32,
// exFAT and other volumes without object IDs, and no opened file matches
// it. Lstat's FileInfo reads the index from the file itself when
// os.SameFile first needs it: that is done here, while the name is the
// listed file's. errNotAsListed: path holds something other than what was
// listed (changed or replaced since).
func identify(path string, listed fs.FileInfo) (fs.FileInfo, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() || info.Size() != listed.Size() || !info.ModTime().Equal(listed.ModTime()) {
		return nil, errNotAsListed
	}
	pinIdentity(info)
	return info, nil
}

// keepable: a message box copies inputs on platforms without Unix
// ownership and link counts (see msgbox.FileBody).
func keepable(fs.FileInfo) bool { return false }

// linkCount: a listing's FileInfo does not carry the number of links on
// Windows (hard links there need the file's owner to make, or admin).
func linkCount(fs.FileInfo) (uint64, bool) { return 0, false }

// holdUnwritten: inputs are not kept by a link here (see keepable).
func holdUnwritten(inputFile) (release func() (held bool), ok bool) { return nil, false }
