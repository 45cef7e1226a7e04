package sqlitebox

import (
	"errors"
	"io/fs"
	"syscall"
)

// syncWALRaw is syncWAL in three system calls: os.OpenFile would add four
// fcntl(2) calls (switching the file to non-blocking mode and back) and an
// epoll registration to every sync.
func syncWALRaw(path string) error {
	fd, err := retryEINTR(func() (int, error) { return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0) })
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	_, err = retryEINTR(func() (int, error) { return 0, syscall.Fsync(fd) })
	if cerr := syscall.Close(fd); err == nil && cerr != nil {
		return &fs.PathError{Op: "close", Path: path, Err: cerr}
	}
	if err != nil {
		return &fs.PathError{Op: "fsync", Path: path, Err: err}
	}
	return nil
}

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}
