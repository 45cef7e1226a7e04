//go:build linux

package sqlitebox

import (
	"errors"
	"io/fs"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/bizpipe/bizpipe/internal/fdtest"
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
	restore := fdtest.UseUp(t)
	defer restore()
	err := receiveOne(b, "in doubt")
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

// TestLogSyncOpenRetried: a log sync whose open fails (EMFILE) is tried
// again before the writes it covers are answered: descriptors short for a
// moment answer no write as a commit in doubt. A failed fsync is not
// tried again.
func TestLogSyncOpenRetried(t *testing.T) {
	b := openTemp(t, Options{})
	var calls atomic.Int64
	b.syncLog = func() error {
		if calls.Add(1) <= 3 {
			return &fs.PathError{Op: "open", Path: b.path + "-wal", Err: syscall.EMFILE}
		}
		return syncWAL(b.path + "-wal")
	}
	if err := receiveOne(b, "short of descriptors"); err != nil {
		t.Fatalf("Receive whose log could not be opened 3 times, then could: %v, want it stored", err)
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("%d log syncs for one write, want 4 (3 opens failed)", n)
	}
	calls.Store(0)
	eio := &fs.PathError{Op: "fsync", Path: b.path + "-wal", Err: syscall.EIO}
	b.syncLog = func() error { calls.Add(1); return eio }
	if err := receiveOne(b, "fsync failed"); !errors.Is(err, syscall.EIO) || !errors.Is(err, msgbox.ErrCommitUncertain) {
		t.Fatalf("Receive whose fsync failed: %v, want EIO, a commit in doubt", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("a failed fsync was tried %d times, want once", n)
	}
}
