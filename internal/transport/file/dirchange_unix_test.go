//go:build unix

package file

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testfs"
	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// comeBack renames dir+".away" back to dir, polls three passes, and checks
// that each of files was received once and nothing is left in dir.
func comeBack(t *testing.T, f *Poller, box msgbox.Box, dir string, files ...string) {
	t.Helper()
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := f.Poll(context.Background()); err != nil {
			t.Errorf("pass %d after the directory came back: %v", i, err)
		}
	}
	receivedOnce(t, box, files...)
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("the directory holds %v, want nothing left", got)
	}
}

// receivedOnce checks that the box holds each of files exactly once.
func receivedOnce(t *testing.T, box msgbox.Box, files ...string) {
	t.Helper()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.FileName)
	}
	slices.Sort(got)
	if !slices.Equal(got, files) {
		t.Errorf("the box holds %v, want %v each once", got, files)
	}
}

// TestFileDirectorySwappedForFIFOMidBatch: whoever can write to the parent
// of a receive directory can put a FIFO (or a link to one) in its place
// between a batch's claims and the directory sync that makes them
// durable. The sync must fail, not wait for a writer of the FIFO for ever
// with the pass's lock held (no stop could end it); once the directory is
// back, the claimed file is received, once.
func TestFileDirectorySwappedForFIFOMidBatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "in")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "a.xml", "a")
	writeFile(t, dir, "b.xml", "b")
	box := transporttest.NewBox(t)
	f, lr := newTestFile(t, fileOpts(dir), transporttest.BoxSink{Box: box})
	claims := 0
	f.beforeClaim = func(string) {
		if claims++; claims == 2 { // a.xml is claimed, b.xml not yet
			if err := os.Rename(dir, dir+".away"); err != nil {
				t.Error(err)
			}
			testfs.MakeFIFO(t, dir)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.Poll(context.Background())
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		// Release the hung open, so that the test ends.
		if w, err := os.OpenFile(dir, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatal("Poll hung syncing a receive directory swapped for a FIFO")
	}
	if _, ok := lr.Find("may not survive a power failure"); !ok {
		t.Error("no warning that the claims' sync failed")
	}
	f.beforeClaim = nil
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	comeBack(t, f, box, dir, "a.xml", "b.xml")
}

// afterSink stores into a box, one by one or in batches, then runs after.
type afterSink struct {
	box   msgbox.Box
	after func()
}

func (s afterSink) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	defer s.after()
	return s.box.ReceiveRouted(ctx, in, body, nil)
}

// unbatched hides PublishBatch.
type unbatched struct{ afterSink }

type batchAfterSink struct{ afterSink }

func (s batchAfterSink) PublishBatch(ctx context.Context, items []msgbox.Receipt) []msgbox.ReceiveResult {
	defer s.after()
	return s.box.ReceiveBatch(ctx, items, nil)
}

// TestFileDirectoryMovedAwayMidPass: a receive directory renamed away in
// the middle of a pass (an operator, a deployment swapping directories)
// and back takes this process's claims with it: before they were opened
// (the give-back finds them gone), or once stored (the removal finds them
// gone); or with another directory in its place for a pass before it is
// back. When the directory is back they must be received, each once, and
// removed, not left claimed and unread until the next restart.
func TestFileDirectoryMovedAwayMidPass(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batched bool
		// atClaim: the directory goes away before the claim of this
		// file (counting from 1); 0: once the first store is done.
		atClaim int
		// replaced: an empty directory stands in for it for a pass.
		replaced bool
	}{
		{"before open, batch", true, 3, false},
		{"after store, batch", true, 0, false},
		{"after store, one by one", false, 0, false},
		{"before open, replaced for a pass", true, 2, true},
		{"after store, replaced for a pass", false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "in")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			files := []string{"a.xml", "b.xml", "c.xml", "d.xml"}
			for _, n := range files {
				writeFile(t, dir, n, n)
			}
			gone := false
			away := func() {
				if gone {
					return // once
				}
				gone = true
				if err := os.Rename(dir, dir+".away"); err != nil {
					t.Error(err)
				}
			}
			box := transporttest.NewBox(t)
			sink := afterSink{box: box, after: func() {}}
			if tc.atClaim == 0 {
				sink.after = away
			}
			o := fileOpts(dir)
			o.Concurrency = 1 // one file at a time without batches
			var s transport.Sink = unbatched{sink}
			if tc.batched {
				o.Concurrency = 0
				s = batchAfterSink{sink}
			}
			f, lr := newTestFile(t, o, s)
			claims := 0
			f.beforeClaim = func(string) {
				if claims++; claims == tc.atClaim {
					away()
				}
			}
			f.Poll(context.Background()) // fails: the directory went away
			f.beforeClaim = nil
			if tc.replaced {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if _, err := f.Poll(context.Background()); err != nil {
					t.Errorf("pass over the empty directory: %v", err)
				}
				if err := os.Remove(dir); err != nil {
					t.Fatal(err)
				}
			}
			comeBack(t, f, box, dir, files...)
			if tc.atClaim > 0 {
				if n := lr.Count(slog.LevelWarn, "recovering a claimed file that was out of reach"); n != tc.atClaim-1 {
					t.Errorf("%d lines about recovering a vanished claim, want %d", n, tc.atClaim-1)
				}
			}
		})
	}
}
