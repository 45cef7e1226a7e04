//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// checkWritable says, as an error, why this process may not write the
// file at path: its mode makes it read-only (chmod a-w), or its file
// system. A rename replaces it whatever its mode, as long as the directory
// is writable: fmt asks first, and leaves a read-only file alone, as
// terraform fmt and gofmt -w, which write in place, do.
func checkWritable(path string) error {
	if err := unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("it is read-only to this user (%w), so it is not rewritten", err)
	}
	return nil
}

// keepOwner gives the open file f the owner and group that info, the file
// it replaces, has, unless it has them already.
func keepOwner(f *os.File, info os.FileInfo) error {
	want, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if got, ok := fi.Sys().(*syscall.Stat_t); ok && got.Uid == want.Uid && got.Gid == want.Gid {
		return nil
	}
	if err := f.Chown(int(want.Uid), int(want.Gid)); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the name is the temporary file's: not the user's concern
		}
		return fmt.Errorf("cannot keep its owner and group (uid %d, gid %d), so it is not rewritten: %w", want.Uid, want.Gid, err)
	}
	return nil
}
