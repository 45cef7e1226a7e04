package sqlitebox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

func receiveOne(b *Box, name string) error {
	_, _, err := b.ReceiveRouted(context.Background(), msgbox.Incoming{ReceiveLocation: "in", FileName: name,
		ContentType: "text/plain"}, strings.NewReader("body of "+name), nil)

	return err
}

// TestWritesWaitForLogSync: a write returns only after a sync of the log
// that started after its commit, and the writer does not wait for syncs:
// writes queued meanwhile commit, and one sync answers them all.
func TestWritesWaitForLogSync(t *testing.T) {
	b := openTemp(t, Options{})
	var syncs atomic.Int64
	entered := make(chan struct{}, 100)
	release := make(chan struct{})
	b.syncLog = func() error {
		entered <- struct{}{}
		<-release
		syncs.Add(1)
		return syncWAL(b.path + "-wal")
	}
	first := make(chan error, 1)
	go func() { first <- receiveOne(b, "first") }()
	<-entered // the first commit's sync is under way, and held
	select {
	case err := <-first:
		t.Fatalf("Receive returned (%v) before its log sync ended", err)
	case <-time.After(50 * time.Millisecond):
	}
	commits := b.commits.Load()
	const n = 10
	others := make(chan error, n)
	for i := range n {
		go func() { others <- receiveOne(b, "other"+string(rune('a'+i))) }()
	}
	// The writer goes on committing while the sync is held.
	deadline := time.Now().Add(10 * time.Second)
	for b.commits.Load() < commits+1 {
		if time.Now().After(deadline) {
			t.Fatal("no commit while a log sync was in progress: the writer waits for syncs")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the others queue up
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-others; err != nil {
			t.Fatal(err)
		}
	}
	if got := syncs.Load(); got >= 1+n {
		t.Errorf("%d log syncs for %d writes committed while one sync ran: each write synced alone", got, 1+n)
	}
	if got := count(t, b, "messages"); got != 1+n {
		t.Errorf("%d messages stored, want %d", got, 1+n)
	}
}

// TestLogSyncFailure: a failed log sync fails the writes it was to cover,
// as commits in doubt (msgbox.ErrCommitUncertain: the source must keep
// them under their key), and the box then refuses writes (what it
// committed may not be on disk), which committed nothing, while reads go
// on.
func TestLogSyncFailure(t *testing.T) {
	b := openTemp(t, Options{})
	if err := receiveOne(b, "before"); err != nil {
		t.Fatal(err)
	}
	eio := errors.New("input/output error")
	b.syncLog = func() error { return eio }
	if err := receiveOne(b, "lost"); !errors.Is(err, eio) || !errors.Is(err, msgbox.ErrCommitUncertain) {
		t.Fatalf("Receive with a failing log sync: %v, want the sync's error, a commit in doubt", err)
	}
	b.syncLog = func() error { return nil } // the disk came back: too late
	err := receiveOne(b, "after")
	if err == nil || !strings.Contains(err.Error(), "refusing writes") || !errors.Is(err, eio) {
		t.Fatalf("Receive after a failed sync: %v, want refused, naming the sync error", err)
	}
	if errors.Is(err, msgbox.ErrCommitUncertain) {
		t.Errorf("Receive refused after a failed sync: %v, a commit in doubt; nothing was committed", err)
	}
	if msgs, err := msgbox.Collect(context.Background(), b, msgbox.Filter{}); err != nil || len(msgs) == 0 {
		t.Errorf("List after a failed sync = %d messages, %v; reads should go on", len(msgs), err)
	}
}

// TestLogSyncFailureBatch: each item of a batch whose log sync failed is
// a commit in doubt, as a single Receive's.
func TestLogSyncFailureBatch(t *testing.T) {
	b := openTemp(t, Options{})
	eio := errors.New("input/output error")
	b.syncLog = func() error { return eio }
	var items []msgbox.Receipt
	for _, n := range []string{"a", "b", "c"} {
		items = append(items, msgbox.Receipt{In: msgbox.Incoming{ReceiveLocation: "in", FileName: n,
			ContentType: "text/plain", SourceKey: "in/" + n}, Body: strings.NewReader("body of " + n)})
	}
	for i, r := range b.ReceiveBatch(context.Background(), items, nil) {
		if !errors.Is(r.Err, eio) || !errors.Is(r.Err, msgbox.ErrCommitUncertain) {
			t.Errorf("item %d of a batch whose log sync failed: %v, want the sync's error, a commit in doubt", i, r.Err)
		}
	}
}

func TestSyncWAL(t *testing.T) {
	dir := t.TempDir()
	if err := syncWAL(filepath.Join(dir, "missing-wal")); err != nil {
		t.Errorf("syncWAL of a missing log: %v, want nil (nothing to sync)", err)
	}
	p := filepath.Join(dir, "box.db-wal")
	if err := os.WriteFile(p, []byte("frames"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syncWAL(p); err != nil {
		t.Errorf("syncWAL: %v", err)
	}
	if err := os.Chmod(dir, 0o000); err == nil && os.Geteuid() != 0 {
		defer os.Chmod(dir, 0o700)
		if err := syncWAL(p); err == nil {
			t.Error("syncWAL of an unreadable log: no error")
		}
	}
}

// TestDuplicateWaitsForLogSync: a duplicate found by a read is answered
// only once the log holding the original is synced: the caller deletes its
// source on that answer.
func TestDuplicateWaitsForLogSync(t *testing.T) {
	b := openTemp(t, Options{})
	entered := make(chan struct{}, 100)
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free) // before the box's Close, which waits for the syncer
	b.syncLog = func() error {
		entered <- struct{}{}
		<-release
		return syncWAL(b.path + "-wal")
	}
	in := msgbox.Incoming{ReceiveLocation: "in", FileName: "a", ContentType: "text/plain", SourceKey: "in/a"}
	first := make(chan error, 1)
	go func() {
		_, _, err := b.ReceiveRouted(context.Background(), in, strings.NewReader("a"), nil)
		first <- err
	}()
	<-entered // committed, its sync held
	second := make(chan bool, 1)
	go func() {
		_, dup, err := b.ReceiveRouted(context.Background(), in, strings.NewReader("a"), nil)
		if err != nil {
			t.Error(err)
		}
		second <- dup
	}()
	select {
	case <-second:
		t.Fatal("the duplicate was answered before the original's log sync ended")
	case <-time.After(100 * time.Millisecond):
	}
	free()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if dup := <-second; !dup {
		t.Error("second Receive of the same source: dup = false")
	}
}
