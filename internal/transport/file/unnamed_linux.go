package file

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/bizpipe/bizpipe/internal/fsop"
)

// unnamedFiles reports whether attempts can name an unnamed temporary file
// through /proc/self/fd (linkat(2) with AT_EMPTY_PATH would need
// CAP_DAC_READ_SEARCH).
func unnamedFiles() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
}

// openUnnamed opens an unnamed temporary file in dir (O_TMPFILE): it has
// no name until linkUnnamed gives it one, and vanishes with its last
// descriptor, a crash included. errNoUnnamed: the file system has none
// (the caller falls back to a named partial file).
//
// The file is a rawFile: os.NewFile would cost a fcntl(F_GETFL) per
// delivery, to learn flags this call set.
func openUnnamed(dir string) (attemptFile, error) {
	var fd int
	err := fsop.RetryEINTR(func() (err error) {
		fd, err = unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, fileMode)
		return err
	})
	label := filepath.Join(dir, "(unnamed temporary file)")
	switch {
	case err == unix.EOPNOTSUPP || err == unix.EISDIR || err == unix.EINVAL:
		// EISDIR: a kernel older than O_TMPFILE takes it for O_DIRECTORY.
		return nil, errNoUnnamed
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: label, Err: err}
	}
	return newRawFile(fd, label), nil
}

// linkUnnamed names fh, an unnamed temporary file, path; like link(2), it
// never replaces a file there.
func linkUnnamed(fh attemptFile, path string) error {
	from := "/proc/self/fd/" + strconv.Itoa(int(fh.Fd()))
	err := fsop.RetryEINTR(func() error {
		return unix.Linkat(unix.AT_FDCWD, from, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	})
	if err != nil {
		return &os.LinkError{Op: "link", Old: fh.Name(), New: path, Err: err}
	}
	return nil
}

var errNoUnnamed = errors.New("no unnamed temporary files here")
