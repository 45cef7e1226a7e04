//go:build unix

package file

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testfs"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

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
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := f.Poll(context.Background()); err != nil {
			t.Errorf("pass %d after the directory came back: %v", i, err)
		}
	}
	receivedOnce(t, box, "a.xml", "b.xml")
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("the directory holds %v, want nothing left", got)
	}
}
