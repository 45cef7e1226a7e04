//go:build unix

package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport"
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

// oneByOne is a sink that stores one message at a time (no
// PublishBatch), so that the poller takes the path of single files.
type oneByOne struct{ box msgbox.Box }

func (s oneByOne) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	return s.box.ReceiveRouted(ctx, in, body, nil)
}

// TestClaimHeldByAnotherProcess: a claim another live process holds (it is
// storing the file: two processes of one server name on one directory, or
// an owner that is slow, not dead; or a producer still holding a lock on
// it) is not stored while it is held, whichever way this poller meets it:
// recovering its own owner's claims at start, its own fresh claim locked
// by another between the rename and the open (not given back, which would
// have the file stored twice), or another owner's claim old enough to take
// over. It stays claimed, with a warning, and is received by a later pass
// once nobody holds it.
func TestClaimHeldByAnotherProcess(t *testing.T) {
	received := func(t *testing.T, f *Poller, box msgbox.Box, dir string) {
		t.Helper()
		if _, err := pollNoHang(t, f, dir); err != nil {
			t.Fatal(err)
		}
		if n := boxCount(t, box); n != 1 || len(names(t, dir)) != 0 {
			t.Errorf("after the holder let go: %d messages, directory %v; want it received", n, names(t, dir))
		}
	}
	t.Run("recovered at start", func(t *testing.T) {
		dir := t.TempDir()
		claim := claimName("srv1", "00000000000000aa", "a.xml")
		release := holdLock(t, writeFile(t, dir, claim, "<a/>"))
		box := transporttest.NewBox(t)
		f, lr := newTestFile(t, fileOpts(dir), transporttest.BoxSink{Box: box})
		for range 2 {
			if _, err := pollNoHang(t, f, dir); err != nil {
				t.Fatal(err)
			}
		}
		if n := boxCount(t, box); n != 0 {
			t.Fatalf("stored %d messages from a claim another process holds", n)
		}
		if got := names(t, dir); !slices.Equal(got, []string{claim}) {
			t.Errorf("directory holds %v, want the claim left as it is", got)
		}
		if n := lr.Count(slog.LevelWarn, "locked by another process"); n != 1 {
			t.Errorf("%d warnings over two passes about the claim another process holds, want 1", n)
		}
		release()
		received(t, f, box, dir)
	})

	for _, batch := range []bool{true, false} {
		t.Run(fmt.Sprintf("fresh claim locked by another, batch %v", batch), func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "b.xml", "<b/>")
			box := transporttest.NewBox(t)
			var sink transport.Sink = transporttest.BoxSink{Box: box}
			if !batch {
				sink = oneByOne{box}
			}
			f, lr := newTestFile(t, fileOpts(dir), sink)
			var release func()
			// The lock is the inode's: taken under the file's name, it
			// holds the claim the rename makes of it.
			f.beforeClaim = func(string) {
				if release == nil {
					release = holdLock(t, path)
				}
			}
			if _, err := pollNoHang(t, f, dir); err != nil {
				t.Fatalf("a claim another process locked is no failure here: %v", err)
			}
			if release == nil {
				t.Fatal("the file was not claimed")
			}
			left := names(t, dir)
			if n := boxCount(t, box); n != 0 || len(left) != 1 || left[0] == "b.xml" {
				t.Fatalf("%d messages stored, directory %v; want nothing stored and the claim kept, not given back", n, left)
			}
			if _, ok := lr.Find("locked by another process"); !ok {
				t.Error("nothing logged about the claim another process holds")
			}
			release()
			received(t, f, box, dir)
		})
	}

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
		received(t, f, box, dir)
	})
}

// TestFileStrayClaimHeldIsNotReported: another server's claim of a name
// this location does not take, old enough to be taken over, is not
// reported as one no location takes over while its owner holds it (alive,
// storing a large file slowly); it is once the owner lets go and stays
// gone.
func TestFileStrayClaimHeldIsNotReported(t *testing.T) {
	const warning = "no receive location of this process takes over"
	dir := t.TempDir()
	claim := claimName("srv9", "00000000000000cc", "c.txt")
	release := holdLock(t, writeFile(t, dir, claim, "<c/>"))
	o := fileOpts(dir)
	o.Pattern = "*.xml"
	o.TakeoverAfter = time.Nanosecond
	f, lr := newTestFile(t, o, transporttest.NewRecorder())
	for range 2 {
		if _, err := pollNoHang(t, f, dir); err != nil {
			t.Fatal(err)
		}
	}
	if n := lr.Count(slog.LevelWarn, warning); n != 0 {
		t.Fatalf("%d warnings %q while its owner holds the claim, want 0", n, warning)
	}
	release()
	for range 2 {
		if _, err := pollNoHang(t, f, dir); err != nil {
			t.Fatal(err)
		}
	}
	if n := lr.Count(slog.LevelWarn, warning); n != 1 {
		t.Errorf("%d warnings %q once its owner let go, want 1", n, warning)
	}
}

// gateSink stores into box, but each Publish first says it began
// (entered) and waits for go-ahead.
type gateSink struct {
	box     msgbox.Box
	entered chan struct{}
	proceed chan struct{}
}

func (s *gateSink) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	s.entered <- struct{}{}
	<-s.proceed
	return s.box.ReceiveRouted(ctx, in, body, nil)
}

// failSink fails every Publish.
type failSink struct{}

func (failSink) Publish(context.Context, msgbox.Incoming, io.Reader) (msgbox.Message, bool, error) {
	return msgbox.Message{}, false, errors.New("the box is down")
}

// TestTwoProcessesOneOwner: a second process of the same server name that
// starts just as the first gives back a file it failed to store does not
// store it under the first one's claim while the first puts it back under
// its name (where it is claimed and stored again): the claim is locked
// until it is given back, and a claim locked once gone is not stored.
func TestTwoProcessesOneOwner(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "e.xml", "<e/>")
	box := transporttest.NewBox(t)
	gate := &gateSink{box: box, entered: make(chan struct{}, 1), proceed: make(chan struct{})}
	a, _ := newTestFile(t, fileOpts(dir), failSink{})
	b, _ := newTestFile(t, fileOpts(dir), gate)
	bDone := make(chan error, 1)
	a.beforeGiveBack = func() {
		// B starts, and recovers A's claim, while A gives it back.
		go func() {
			_, err := b.Poll(context.Background())
			bDone <- err
		}()
		select {
		case <-gate.entered: // B is storing it: A renames it back meanwhile
		case err := <-bDone:
			bDone <- err // B left it alone
		case <-time.After(10 * time.Second):
			t.Error("B's pass neither stored nor left the claim")
		}
	}
	if _, err := pollNoHang(t, a, dir); err == nil {
		t.Fatal("the failed publish was not reported")
	}
	close(gate.proceed)
	if err := <-bDone; err != nil {
		t.Logf("B's first pass: %v", err)
	}
	// The file given back is claimed and stored by whichever polls next.
	a.sink = gate
	go func() {
		for range gate.entered {
		}
	}()
	for _, p := range []*Poller{b, a, b} {
		if _, err := pollNoHang(t, p, dir); err != nil {
			t.Fatal(err)
		}
	}
	if n := boxCount(t, box); n != 1 || len(names(t, dir)) != 0 {
		t.Errorf("%d messages stored, directory %v; want the file stored once", n, names(t, dir))
	}
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
// take its lock. That it stays locked after, until its file is removed, is
// TestClaimLockedUntilRemoved's.
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

// lockProbeFile is a claim the poller opened (wrapping what its open
// returned). When the poller closes it, and so lets its lock go, it tries,
// as another process finding the claim would, to open and lock the claim
// by its path: a claim it can still lock then could be stored a second
// time (a process of the server's name restarting beside this one).
type lockProbeFile struct {
	inputFile
	path  string
	probe *lockProbe
}

// lockProbe gathers what the lockProbeFiles of one poller found; the
// poller opens and closes claims concurrently.
type lockProbe struct {
	mu       sync.Mutex
	opened   int
	lockable []string
}

func (f lockProbeFile) Fd() uintptr {
	return f.inputFile.(interface{ Fd() uintptr }).Fd()
}

func (f lockProbeFile) Close() error {
	err := f.inputFile.Close()
	if other, oerr := os.Open(f.path); oerr == nil {
		if unix.Flock(int(other.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			f.probe.mu.Lock()
			f.probe.lockable = append(f.probe.lockable, filepath.Base(f.path))
			f.probe.mu.Unlock()
		}
		other.Close()
	}
	return err
}

// TestClaimLockedUntilRemoved: a stored claim stays locked until its file
// is removed; no other process can lock it once this one closed it, since
// it names nothing then. Closing it first, and removing it after, would
// leave a moment in which another process could lock the claim and store
// it again. Both ways of publishing, one by one and by batch.
func TestClaimLockedUntilRemoved(t *testing.T) {
	for _, batch := range []bool{true, false} {
		t.Run(fmt.Sprintf("batch %v", batch), func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "d.xml", "<d/>")
			writeFile(t, dir, "e.xml", "<e/>")
			box := transporttest.NewBox(t)
			var sink transport.Sink = transporttest.BoxSink{Box: box}
			if !batch {
				sink = oneByOne{box}
			}
			f, _ := newTestFile(t, fileOpts(dir), sink)
			probe := &lockProbe{}
			open := f.open
			f.open = func(path string) (inputFile, error) {
				file, err := open(path)
				if err != nil {
					return nil, err
				}
				if _, ok := file.(interface{ Fd() uintptr }); !ok {
					t.Fatalf("an input without a descriptor (%T): nothing to lock", file)
				}
				probe.mu.Lock()
				probe.opened++
				probe.mu.Unlock()
				return lockProbeFile{inputFile: file, path: path, probe: probe}, nil
			}
			if n, err := pollNoHang(t, f, dir); n != 2 || err != nil {
				t.Fatalf("Poll = %d, %v", n, err)
			}
			if probe.opened != 2 || boxCount(t, box) != 2 || len(names(t, dir)) != 0 {
				t.Fatalf("%d claims opened, %d messages stored, directory %v; want both files stored", probe.opened, boxCount(t, box), names(t, dir))
			}
			if len(probe.lockable) != 0 {
				t.Errorf("claims %v could be locked by another process once closed, while they still named their files; want each removed before it is closed", probe.lockable)
			}
		})
	}
}

// TestClaimGivenBackBeforeLocked: a claim whose name no longer names the
// file opened once it is locked (its holder gave it back, renaming it to
// its file name, or removed it, between this process's open and its lock)
// is not this process's to store: storing it would store the file given
// back a second time when it is claimed again. Met recovering a claim of
// this server's name, as a second process of that name starting beside
// the first does.
func TestClaimGivenBackBeforeLocked(t *testing.T) {
	for _, tc := range []struct {
		name string
		// meanwhile is what the holder does with the claim between
		// this process's open and its lock.
		meanwhile func(t *testing.T, dir, claim string)
	}{
		{"given back", func(t *testing.T, dir, claim string) {
			if err := os.Rename(filepath.Join(dir, claim), filepath.Join(dir, "a.xml")); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced by another file", func(t *testing.T, dir, claim string) {
			if err := os.Rename(filepath.Join(dir, claim), filepath.Join(dir, "a.xml")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, claim, "<other/>")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			claim := claimName("srv1", "00000000000000aa", "a.xml")
			writeFile(t, dir, claim, "<a/>")
			box := transporttest.NewBox(t)
			f, _ := newTestFile(t, fileOpts(dir), oneByOne{box})
			open := f.open
			moved := false
			f.open = func(path string) (inputFile, error) {
				file, err := open(path)
				if err == nil && !moved && filepath.Base(path) == claim {
					moved = true
					tc.meanwhile(t, dir, claim)
				}
				return file, err
			}
			if _, err := pollNoHang(t, f, dir); err != nil {
				t.Logf("first pass: %v", err)
			}
			if !moved {
				t.Fatal("the claim was not opened")
			}
			if n := boxCount(t, box); n != 0 {
				t.Fatalf("stored %d messages from a claim that no longer named the file opened once locked, want none", n)
			}
			if got := names(t, dir); !slices.Contains(got, "a.xml") {
				t.Fatalf("directory %v, want a.xml given back", got)
			}
			// The file given back is stored once, by a later pass.
			f.open = open
			for range 3 {
				if _, err := pollNoHang(t, f, dir); err != nil {
					t.Fatal(err)
				}
			}
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			for _, m := range msgs {
				count[m.FileName]++
			}
			if count["a.xml"] != 1 {
				t.Errorf("a.xml stored %d times, want once: %v", count["a.xml"], count)
			}
		})
	}
}
