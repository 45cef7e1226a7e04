//go:build unix

package certstore

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// storeFileReader reads f without ever waiting for data. Reading f itself is
// not enough: a descriptor opened with O_NONBLOCK that the runtime poller
// accepts (/proc/kmsg, which supports poll) would park the reading goroutine
// until data arrives, possibly forever. This reader makes the read system
// calls itself and turns EAGAIN into errWouldBlock.
func storeFileReader(f *os.File) io.Reader {
	rc, err := f.SyscallConn()
	if err != nil {
		return errReader{&fs.PathError{Op: "read", Path: f.Name(), Err: err}}
	}
	return &noWaitReader{name: f.Name(), rc: rc}
}

type noWaitReader struct {
	name string
	rc   syscall.RawConn
}

func (r *noWaitReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	// The function returns true, so RawConn.Read never waits for
	// readiness: it runs the function once.
	if cerr := r.rc.Read(func(fd uintptr) bool {
		for {
			n, err = syscall.Read(int(fd), p)
			if err != syscall.EINTR {
				return true
			}
		}
	}); cerr != nil {
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: cerr}
	}
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: errWouldBlock}
	case err != nil:
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: err}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
