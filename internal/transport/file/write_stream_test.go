package file

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestFileStreams checks that a payload written in pieces of every size,
// larger than the write buffer, lands exactly, and that while it is written
// the directory holds the attempt's partial file (or, with unnamed
// temporary files, nothing), and the staged copy only after Commit.
func TestFileStreams(t *testing.T) {
	for _, unnamed := range unnamedModes(t) {
		for _, size := range []int{1, fileWriteBuffer - 1, fileWriteBuffer, 3*fileWriteBuffer + 7} {
			t.Run(fmt.Sprintf("unnamed=%v/%d", unnamed, size), func(t *testing.T) {
				testFileStreams(t, unnamed, size)
			})
		}
	}
}

// unnamedModes are the ways attempts write here: named partial files
// always, unnamed temporary files where the platform has them.
func unnamedModes(t *testing.T) []bool {
	if f, _ := newFileTransport(t, false); f.unnamed {
		return []bool{false, true}
	}
	return []bool{false}
}

func testFileStreams(t *testing.T, unnamed bool, size int) {
	f, dir := newFileTransport(t, false)
	f.unnamed = unnamed
	data := transporttest.Pattern(uint64(size), size)
	w, err := f.Begin(context.Background(), fileDelivery(3, "big.bin"))
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	transporttest.WriteInPieces(t, w, data, []int{1, 4095, 78, 65536})
	names := listDir(t, dir)
	if unnamed && len(names) != 0 {
		t.Fatalf("while writing, dir holds %q, want nothing (an unnamed file)", names)
	}
	if !unnamed && (len(names) != 1 || filepath.Ext(names[0]) != suffixPartial) {
		t.Fatalf("while writing, dir holds %q, want one partial file", names)
	}
	if err := w.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	assertContent(t, filepath.Join(dir, "big.bin"), data)
	if got, want := listDir(t, dir), []string{".bizpipe-3.staged", "big.bin"}; !slices.Equal(got, want) {
		t.Fatalf("after Commit dir holds %q, want %q", got, want)
	}
	if err := w.Commit(context.Background()); err == nil {
		t.Fatal("a second Commit succeeded")
	}
}

// TestFileAbortLeavesNothing checks that an aborted attempt (the pipeline
// failed halfway) removes its partial file and stages nothing.
func TestFileAbortLeavesNothing(t *testing.T) {
	for _, unnamed := range unnamedModes(t) {
		t.Run(fmt.Sprintf("unnamed=%v", unnamed), func(t *testing.T) { testFileAbortLeavesNothing(t, unnamed) })
	}
}

func testFileAbortLeavesNothing(t *testing.T, unnamed bool) {
	f, dir := newFileTransport(t, false)
	f.unnamed = unnamed
	w, err := f.Begin(context.Background(), fileDelivery(4, "x.bin"))
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	transporttest.WriteInPieces(t, w, transporttest.Pattern(4, 2*fileWriteBuffer), []int{1000})
	w.Abort()
	if got := listDir(t, dir); len(got) != 0 {
		t.Fatalf("after Abort dir holds %q, want nothing", got)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Abort succeeded")
	}
	if err := w.Commit(context.Background()); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
}

// TestFileBeginWithStagedCopyDiscards checks that an attempt of a delivery
// already staged (`messages resume` after a crash) places the staged copy
// and drops what it is given.
func TestFileBeginWithStagedCopyDiscards(t *testing.T) {
	f, dir := newFileTransport(t, false)
	d := fileDelivery(5, "o.bin")
	writeBytes(t, filepath.Join(dir, ".bizpipe-5.staged"), []byte("first rendering"))
	w, err := f.Begin(context.Background(), d)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	transporttest.WriteInPieces(t, w, []byte("second rendering"), []int{3})
	if err := w.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	assertContent(t, filepath.Join(dir, "o.bin"), []byte("first rendering"))
}

// TestFileCommitCancelled checks that a Commit whose context ended leaves
// nothing and fails.
func TestFileCommitCancelled(t *testing.T) {
	f, dir := newFileTransport(t, false)
	w, err := f.Begin(context.Background(), fileDelivery(6, "c.bin"))
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	transporttest.WriteInPieces(t, w, []byte("payload"), []int{7})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Commit(ctx); err == nil {
		t.Fatal("Commit with an ended context succeeded")
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Fatalf("dir holds %q, want nothing", got)
	}
}
