//go:build unix

package file

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testfs"
	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestFileGiveBackInterruptedByCrash: giving a file back after a failed
// publish (renameNoReplace) links the claim to the file's name, then
// removes the claim. A kill between the two leaves the file under both
// names. After the restart it must be received, once: neither name may
// stay refused as a hard link forever. The same for another (dead)
// server's claim, taken over.
func TestFileGiveBackInterruptedByCrash(t *testing.T) {
	for _, owner := range []string{"srv1", "srv9"} {
		t.Run(owner, func(t *testing.T) {
			dir := t.TempDir()
			claim := claimName(owner, "00000000000000aa", "a.xml")
			writeFile(t, dir, claim, "<a/>")
			// What renameNoReplace has done when the kill comes: the link.
			if err := linkNoFollow(filepath.Join(dir, claim), filepath.Join(dir, "a.xml")); err != nil {
				t.Fatal(err)
			}
			box := transporttest.NewBox(t)
			o := fileOpts(dir)
			o.TakeoverAfter = time.Nanosecond
			f, lr := newTestFile(t, o, transporttest.BoxSink{Box: box})
			for range 3 {
				pollNoHang(t, f, dir)
			}
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil || len(msgs) != 1 || msgs[0].FileName != "a.xml" {
				t.Errorf("the box holds %+v, %v; want a.xml received once", msgs, err)
			}
			if got := names(t, dir); len(got) != 0 {
				t.Errorf("directory holds %v, want nothing left", got)
			}
			if _, ok := lr.Find("finished giving back"); !ok {
				t.Error("no log line about the interrupted give-back")
			}
		})
	}
}

// TestFileGiveBackInProgressIsLeftAlone: a claim with the file's name as
// its second name whose lock another process holds is a give-back under
// way (the process holds the claim's lock until it is done): it is not
// touched, and the file keeps both names until that process ends.
func TestFileGiveBackInProgressIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	claim := claimName("srv1", "00000000000000aa", "a.xml")
	path := writeFile(t, dir, claim, "<a/>")
	if err := linkNoFollow(path, filepath.Join(dir, "a.xml")); err != nil {
		t.Fatal(err)
	}
	other, err := os.Open(path) // another open file description: another process's
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := unix.Flock(int(other.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	rec := transporttest.NewRecorder()
	f, _ := newTestFile(t, fileOpts(dir), rec)
	pollNoHang(t, f, dir)
	if got := rec.All(); len(got) != 0 {
		t.Errorf("published %v while the give-back was under way", got)
	}
	if got, want := names(t, dir), []string{claim, "a.xml"}; !slices.Equal(got, want) {
		t.Errorf("directory holds %v, want %v untouched", got, want)
	}
}

// TestFileCreateNewExistingSwappedForFIFO: create_new compares the
// delivery with a file of the same name already there. Whoever can write
// to the output directory can swap a FIFO in for that file after it was
// looked at: the comparison must not wait on it (an open of a FIFO for
// reading waits for a writer, for ever, and no context ends it) but fail
// the attempt, naming the file.
func TestFileCreateNewExistingSwappedForFIFO(t *testing.T) {
	f, dir := newFileTransport(t, false)
	final := filepath.Join(dir, "x.eml")
	writeBytes(t, final, entity)
	f.hook = func(step string) {
		if step == "comparing" {
			if err := os.Remove(final); err != nil {
				t.Error(err)
			}
			testfs.MakeFIFO(t, final)
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- f.Send(context.Background(), fileDelivery(7, "x.eml"), transport.Payload{Data: entity})
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		if w, err := os.OpenFile(final, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			w.Close() // let the hung open return
		}
		<-done
		t.Fatal("Send hung on a FIFO swapped in for the existing file")
	}
	if err == nil || !strings.Contains(err.Error(), "x.eml") {
		t.Fatalf("Send = %v, want an error naming x.eml", err)
	}
}

// TestFileRecoveredClaimStillWritten: a claim found at start whose file
// is still being written (its producer paused past the settle time before
// the crash, and resumes) fails the first publish as changed while read.
// Once the file stops changing it must be received, under the claim's
// key, not refused as changed on every pass for ever against the size
// and time listed at start.
func TestFileRecoveredClaimStillWritten(t *testing.T) {
	dir := t.TempDir()
	claim := claimName("srv1", "00000000000000bb", "a.xml")
	path := writeFile(t, dir, claim, "<a>part")
	rec := transporttest.NewRecorder()
	var once sync.Once
	rec.SetBefore(func(context.Context, msgbox.Incoming) error {
		once.Do(func() { // the producer resumes
			fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Error(err)
				return
			}
			fh.WriteString(" and the rest</a>")
			fh.Close()
		})
		return nil
	})
	f, _ := newTestFile(t, fileOpts(dir), rec)
	for range 4 {
		pollNoHang(t, f, dir)
	}
	got := rec.All()
	if len(got) != 1 || string(got[0].Body) != "<a>part and the rest</a>" || got[0].In.SourceKey != "orders_in/"+claimKey(claim) {
		t.Fatalf("published %+v; want the whole file once, under the claim's key", got)
	}
	if left := names(t, dir); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}
