//go:build unix

package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// holdLock locks path's file as another process storing it would (its
// claim's lock, lockClaim); the returned func lets it go.
func holdLock(t *testing.T, path string) (release func()) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return func() { f.Close() }
}

// boxCount is how many messages box holds.
func boxCount(t *testing.T, box msgbox.Box) int {
	t.Helper()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

// TestClaimHeldByAnotherProcess: a claim another live process holds (it is
// storing the file: two processes of one server name on one directory, or
// an owner that is slow, not dead) is left to it, whichever way this
// poller meets it: recovering its own owner's claims at start, its own
// fresh claim taken over by the other between the rename and the open
// (not given back, which would have the file stored twice), or another
// owner's claim old enough to take over. Once nobody holds it, it is
// received: by a restart, or by the next takeover pass.
func TestClaimHeldByAnotherProcess(t *testing.T) {
	t.Run("recovered at start", func(t *testing.T) {
		dir := t.TempDir()
		claim := claimName("srv1", "00000000000000aa", "a.xml")
		release := holdLock(t, writeFile(t, dir, claim, "<a/>"))
		box := transporttest.NewBox(t)
		f, lr := newTestFile(t, fileOpts(dir), transporttest.BoxSink{Box: box})
		if _, err := pollNoHang(t, f, dir); err != nil {
			t.Fatal(err)
		}
		if n := boxCount(t, box); n != 0 {
			t.Fatalf("stored %d messages from a claim another process holds", n)
		}
		if got := names(t, dir); !slices.Equal(got, []string{claim}) {
			t.Errorf("directory holds %v, want the claim left as it is", got)
		}
		if _, ok := lr.Find("held by another process"); !ok {
			t.Error("nothing logged about the claim left to its holder")
		}
		release()
		// The holder died: a restart recovers the claim.
		f, _ = newTestFile(t, fileOpts(dir), transporttest.BoxSink{Box: box})
		if _, err := pollNoHang(t, f, dir); err != nil {
			t.Fatal(err)
		}
		if n := boxCount(t, box); n != 1 || len(names(t, dir)) != 0 {
			t.Errorf("after the holder let go: %d messages, directory %v; want it received", n, names(t, dir))
		}
	})

	t.Run("fresh claim taken by another", func(t *testing.T) {
		dir := t.TempDir()
		path := writeFile(t, dir, "b.xml", "<b/>")
		box := transporttest.NewBox(t)
		f, lr := newTestFile(t, fileOpts(dir), transporttest.BoxSink{Box: box})
		var release func()
		// The lock is the inode's: taken under the file's name, it holds
		// the claim the rename makes of it.
		f.beforeClaim = func(string) { release = holdLock(t, path) }
		if _, err := pollNoHang(t, f, dir); err != nil {
			t.Fatalf("a claim another process took is no failure here: %v", err)
		}
		if release == nil {
			t.Fatal("the file was not claimed")
		}
		defer release()
		left := names(t, dir)
		if n := boxCount(t, box); n != 0 || len(left) != 1 || left[0] == "b.xml" {
			t.Fatalf("%d messages stored, directory %v; want nothing stored and the claim left to its holder, not given back", n, left)
		}
		if _, ok := lr.Find("held by another process"); !ok {
			t.Error("nothing logged about the claim left to its holder")
		}
	})

	t.Run("takeover", func(t *testing.T) {
		dir := t.TempDir()
		claim := claimName("srv9", "00000000000000cc", "c.xml")
		release := holdLock(t, writeFile(t, dir, claim, "<c/>"))
		box := transporttest.NewBox(t)
		o := fileOpts(dir)
		o.TakeoverAfter = time.Nanosecond
		f, _ := newTestFile(t, o, transporttest.BoxSink{Box: box})
		if _, err := pollNoHang(t, f, dir); err != nil {
			t.Fatal(err)
		}
		if got := names(t, dir); !slices.Equal(got, []string{claim}) || boxCount(t, box) != 0 {
			t.Fatalf("directory holds %v, box %d messages; want the live owner's claim neither taken over nor stored", got, boxCount(t, box))
		}
		release()
		if _, err := pollNoHang(t, f, dir); err != nil {
			t.Fatal(err)
		}
		if n := boxCount(t, box); n != 1 || len(names(t, dir)) != 0 {
			t.Errorf("after its owner let go: %d messages, directory %v; want it taken over and received", n, names(t, dir))
		}
	})
}

// probeSink stores into a box (one by one: no PublishBatch), first
// trying, as another process would, to lock the claim being published.
type probeSink struct {
	box   msgbox.Box
	dir   string
	probe error
}

func (s *probeSink) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	matches, _ := filepath.Glob(filepath.Join(s.dir, ".bizpipe-claim-*"))
	if len(matches) != 1 {
		s.probe = fmt.Errorf("claims %v, want one", matches)
	} else if f, err := os.Open(matches[0]); err != nil {
		s.probe = err
	} else {
		s.probe = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		f.Close()
	}
	return s.box.ReceiveRouted(ctx, in, body, nil)
}

// TestClaimLockedWhileStored: while a claim is stored, no other process can
// take its lock.
func TestClaimLockedWhileStored(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "d.xml", "<d/>")
	sink := &probeSink{box: transporttest.NewBox(t), dir: dir}
	f, _ := newTestFile(t, fileOpts(dir), sink)
	if n, err := pollNoHang(t, f, dir); n != 1 || err != nil {
		t.Fatalf("Poll = %d, %v", n, err)
	}
	if !errors.Is(sink.probe, unix.EWOULDBLOCK) {
		t.Errorf("locking the claim while it was stored: %v, want EWOULDBLOCK (held)", sink.probe)
	}
}
