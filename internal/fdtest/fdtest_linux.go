// Package fdtest runs a test's code with the process's file descriptors
// used up, so that the next open fails with EMFILE: what a server under a
// low `ulimit -n` meets.
package fdtest

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// UseUp lowers the soft RLIMIT_NOFILE to just above the highest descriptor
// open and takes the free numbers below it, so that the next open fails
// with EMFILE. The returned function gives them back; it may be called
// more than once. The limit is the process's: call it only from a test
// that does not run in parallel with others. It reports a failure with
// t.Errorf, never stopping the goroutine: it may run on one the test
// started (a sink's callback).
func UseUp(t testing.TB) (restore func()) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Errorf("using up descriptors: %v", err)
		return func() {}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Errorf("using up descriptors: %v", err)
		return func() {}
	}
	low := lim
	low.Cur = 0
	for _, e := range fds {
		if fd, err := strconv.ParseUint(e.Name(), 10, 64); err == nil && fd+1 > low.Cur {
			low.Cur = fd + 1
		}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Errorf("using up descriptors: %v", err)
		return func() {}
	}
	var fillers []*os.File
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		for _, f := range fillers {
			f.Close()
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Errorf("giving descriptors back: %v", err)
		}
	}
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Errorf("using up descriptors: %v, want EMFILE", err)
			}
			return restore
		}
		fillers = append(fillers, f)
		if len(fillers) > 1<<16 {
			t.Errorf("%d descriptors opened under a soft limit of %d", len(fillers), low.Cur)
			return restore
		}
	}
}
