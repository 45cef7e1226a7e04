//go:build linux

package sqlitebox

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// TestLogSyncTooManyOpenFiles: a log sync that cannot open the log
// (EMFILE, the process's descriptors used up) fails the writes it was to
// cover as commits in doubt, naming the log, but does not stop the box:
// no fsync failed, so once descriptors are back the next write is taken
// and synced, and the one in doubt is on disk with it. Before, the box
// refused every write until a restart ("refusing writes: an earlier sync
// of the write-ahead log failed"), and a `run` stayed up receiving
// nothing.
func TestLogSyncTooManyOpenFiles(t *testing.T) {
	b := openTemp(t, Options{})
	if err := receiveOne(b, "before"); err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// A soft limit just above the highest descriptor open, and its free
	// numbers below taken: the next open fails with EMFILE.
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = 0
	for _, e := range fds {
		if fd, err := strconv.ParseUint(e.Name(), 10, 64); err == nil && fd+1 > low.Cur {
			low.Cur = fd + 1
		}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var fillers []*os.File
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		for _, f := range fillers {
			f.Close()
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	defer restore()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatalf("using up descriptors: %v, want EMFILE", err)
			}
			break
		}
		fillers = append(fillers, f)
		if len(fillers) > 1<<16 {
			t.Fatalf("%d descriptors opened under a soft limit of %d", len(fillers), low.Cur)
		}
	}
	err = receiveOne(b, "in doubt")
	restore()
	if !errors.Is(err, syscall.EMFILE) || !errors.Is(err, msgbox.ErrCommitUncertain) ||
		!strings.Contains(err.Error(), "messagebox.db-wal") {
		t.Fatalf("Receive whose log sync found no descriptor: %v, want EMFILE naming the log, a commit in doubt", err)
	}
	if err := receiveOne(b, "after"); err != nil {
		t.Fatalf("Receive once descriptors are back: %v, want it taken (no fsync failed)", err)
	}
	if got := count(t, b, "messages"); got != 3 {
		t.Errorf("%d messages stored, want 3 (before, in doubt, after)", got)
	}
}
