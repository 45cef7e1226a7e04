//go:build unix

package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// syncWatch is an attempt's own file that notes, at each Sync, how much
// of the file was written and whether the staged name existed yet.
type syncWatch struct {
	attemptFile
	staged string
	syncs  []string
}

func (f *syncWatch) Sync() error {
	err := f.attemptFile.Sync()
	var st unix.Stat_t
	size := int64(-1)
	if unix.Fstat(int(f.Fd()), &st) == nil {
		size = st.Size
	}
	_, lerr := os.Lstat(f.staged)
	f.syncs = append(f.syncs, fmt.Sprintf("size %d, staged %v", size, lerr == nil))
	return err
}

// TestFileAttemptSyncsItsOwnData: an attempt that commits on its own (never
// flushed, told it is Alone after a Flush, or on a file system without
// syncfs(2) rounds) syncs its file once it is written whole, before the
// file gets its staged name: a power failure must not leave a staged or
// delivered name on a file whose data never reached the disk.
func TestFileAttemptSyncsItsOwnData(t *testing.T) {
	data := []byte("an order, synced before it is staged\n")
	for _, unnamed := range unnamedModes(t) {
		for _, how := range []string{"never flushed", "alone", "no syncfs"} {
			t.Run(fmt.Sprintf("unnamed=%v/%s", unnamed, how), func(t *testing.T) {
				f, dir := newFileTransport(t, false)
				f.unnamed = unnamed
				playSyncFS(t, f, how != "no syncfs")
				w, err := f.Begin(context.Background(), fileDelivery(5, "o.xml"))
				if err != nil {
					t.Fatal(err)
				}
				watch := &syncWatch{attemptFile: w.fh, staged: f.reserved(5, suffixStaged)}
				w.fh = watch
				if _, err := w.Write(data); err != nil {
					t.Fatal(err)
				}
				switch how {
				case "alone":
					if share, err := w.Flush(); err != nil || !share {
						t.Fatalf("Flush = %v, %v; want share", share, err)
					}
					w.Alone()
				case "no syncfs":
					if _, err := w.Flush(); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
				assertContent(t, filepath.Join(dir, "o.xml"), data)
				want := []string{fmt.Sprintf("size %d, staged false", len(data))}
				if !slices.Equal(watch.syncs, want) {
					t.Errorf("the attempt's file was synced %q; want once, written whole and not yet staged: %q", watch.syncs, want)
				}
			})
		}
	}
}
