package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestFileUnreadableInputIsNotLoggedEveryPass: an input file the service
// account cannot open (EACCES, as for another user's file of mode 0600) is
// given back on every pass, but logged once, again only after minutes while
// it lasts, and once more when it is resolved; other files are received
// meanwhile. The test runs as root, which opens anything, so it makes open
// answer what the system answers the service account; the claim, give-back
// and listing are real.
func TestFileUnreadableInputIsNotLoggedEveryPass(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "locked.xml", "order 1")
	writeFile(t, dir, "ok1.xml", "order 2")
	rec := transporttest.NewRecorder()
	f, lr := newTestFile(t, fileOpts(dir), rec)
	var locked atomic.Bool
	locked.Store(true)
	open := f.open
	f.open = func(path string) (inputFile, error) {
		if locked.Load() && strings.HasSuffix(path, "-locked.xml") {
			return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES}
		}
		return open(path)
	}
	clock := time.Now()
	f.now = func() time.Time { return clock }
	problems := func() int { return lr.CountFile("locked.xml", slog.LevelWarn) }

	for i := range 5 {
		if i == 2 {
			writeFile(t, dir, "ok2.xml", "order 3")
		}
		poll(t, f)
		if got := names(t, dir); !slices.Contains(got, "locked.xml") || slices.ContainsFunc(got, isClaim) {
			t.Fatalf("pass %d left %v, want locked.xml back under its name", i, got)
		}
	}
	if n := problems(); n != 1 {
		t.Fatalf("the unreadable file was logged %d times over 5 passes, want once", n)
	}
	if attrs, ok := lr.FindFile("locked.xml", slog.LevelWarn); !strings.Contains(attrs["error"], "permission denied") {
		t.Errorf("problem log %v, %v; want the error", attrs, ok)
	}
	poll(t, f)
	if got := len(rec.All()); got != 2 {
		t.Fatalf("published %d, want the 2 readable files", got)
	}
	clock = clock.Add(time.Minute)
	poll(t, f)
	if n := problems(); n != 1 {
		t.Fatalf("logged %d times a minute later, want still once", n)
	}
	clock = clock.Add(time.Hour) // still unreadable an hour later: said again, once
	for range 3 {
		poll(t, f)
	}
	if n := problems(); n != 2 {
		t.Fatalf("logged %d times an hour later, want a second time", n)
	}
	locked.Store(false) // the operator fixed the permissions
	for range 3 {
		poll(t, f)
	}
	if got := rec.All(); len(got) != 3 || got[2].In.FileName != "locked.xml" || string(got[2].Body) != "order 1" {
		t.Fatalf("published %v, want locked.xml once it is readable", got)
	}
	if n := problems(); n != 2 {
		t.Errorf("problem logged %d times in all, want 2", n)
	}
	if n := lr.CountFile("locked.xml", slog.LevelInfo) - problems(); n != 1 {
		t.Errorf("the resolution was logged %d times, want once", n)
	}
}

func isClaim(name string) bool { return strings.HasPrefix(name, claimPrefix) }

// countingFile is an input that counts the reads that found its end.
type countingFile struct {
	inputFile
	atEOF int
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.inputFile.Read(p)
	if n == 0 && err == io.EOF {
		c.atEOF++
	}
	return n, err
}

// openListed opens the input at path as the poller does once a listing
// saw it.
func openListed(t *testing.T, path string) (*inputReader, *countingFile) {
	t.Helper()
	f, seen := openSeen(t, path)
	cf := &countingFile{inputFile: f}
	t.Cleanup(func() { cf.Close() })
	return &inputReader{ctx: context.Background(), file: cf, seen: seen}, cf
}

// TestFileBodyEndsAtListedSize: once the listed size is read, the body
// ends (after its fstat check) without another read to find the end of
// the file, by Read and by WriteTo alike.
func TestFileBodyEndsAtListedSize(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4096, 3<<20 + 7} {
		payload := strings.Repeat("y", size)
		path := writeFile(t, dir, fmt.Sprintf("in%d.dat", size), payload)
		r, cf := openListed(t, path)
		got, err := io.ReadAll(r)
		if err != nil || string(got) != payload {
			t.Fatalf("%d bytes: ReadAll = %d bytes, %v", size, len(got), err)
		}
		if cf.atEOF != 0 {
			t.Errorf("%d bytes: Read read the file %d time(s) at its end, want none", size, cf.atEOF)
		}
		r, cf = openListed(t, path)
		var buf bytes.Buffer
		if n, err := r.WriteTo(&buf); err != nil || n != int64(size) || buf.String() != payload {
			t.Fatalf("%d bytes: WriteTo = %d, %v", size, n, err)
		}
		if cf.atEOF != 0 {
			t.Errorf("%d bytes: WriteTo read the file %d time(s) at its end, want none", size, cf.atEOF)
		}
	}
}

// TestFileBodyGrowsAtListedSize: a file that grows once exactly its listed
// size was read is refused as changed, by Read and by WriteTo, though no
// read finds the new bytes; one that shrank ends early, refused too.
func TestFileBodyGrowsAtListedSize(t *testing.T) {
	dir := t.TempDir()
	grow := func(path string) error {
		fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = fh.WriteString(", part 2")
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		return err
	}
	path := writeFile(t, dir, "read.xml", "part 1")
	r, _ := openListed(t, path)
	if n, err := io.ReadFull(r, make([]byte, 6)); n != 6 || err != nil {
		t.Fatalf("ReadFull = %d, %v", n, err)
	}
	if err := grow(path); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 64)); n != 0 || !errors.Is(err, errChanged) || !errors.Is(r.err, errChanged) {
		t.Errorf("Read after growth = %d, %v (kept %v); want errChanged", n, err, r.err)
	}

	path = writeFile(t, dir, "copy.xml", "part 1")
	r, _ = openListed(t, path)
	grown := false
	dst := writerFunc(func(p []byte) (int, error) {
		if grown {
			return len(p), nil
		}
		grown = true
		return len(p), grow(path)
	})
	if _, err := r.WriteTo(dst); !errors.Is(err, errChanged) || !errors.Is(r.err, errChanged) {
		t.Errorf("WriteTo with growth = %v (kept %v); want errChanged", err, r.err)
	}

	path = writeFile(t, dir, "shrunk.xml", "part 1")
	r, _ = openListed(t, path)
	if err := os.Truncate(path, 3); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); !errors.Is(err, errChanged) {
		t.Errorf("ReadAll of a shrunk file = %q, %v; want errChanged", got, err)
	}
}

// writerFunc is a plain io.Writer (no ReadFrom).
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestFileBodyChangedUnseen: each of the end-of-file checks refuses a
// change the other cannot see, by Read and by WriteTo: a file that grew
// while its modification time stayed as listed (a producer's writes within
// one tick of the file system's clock, which is coarse), and a file
// rewritten in place to the same size.
func TestFileBodyChangedUnseen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string, listed fs.FileInfo)
	}{
		{"grown, modification time as listed", func(t *testing.T, path string, listed fs.FileInfo) {
			fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.WriteString(", part 2"); err != nil {
				t.Fatal(err)
			}
			if err := fh.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, listed.ModTime(), listed.ModTime()); err != nil {
				t.Fatal(err)
			}
		}},
		{"rewritten in place, same size", func(t *testing.T, path string, _ fs.FileInfo) {
			fh, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.WriteString("PART 1"); err != nil {
				t.Fatal(err)
			}
			if err := fh.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		for _, how := range []string{"Read", "WriteTo"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				path := writeFile(t, t.TempDir(), "in.xml", "part 1")
				r, _ := openListed(t, path)
				tc.change(t, path, r.seen)
				now, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if (now.Size() == r.seen.Size()) == now.ModTime().Equal(r.seen.ModTime()) {
					t.Fatalf("the change left size %d (listed %d) and time %v (listed %v): want exactly one of them changed",
						now.Size(), r.seen.Size(), now.ModTime(), r.seen.ModTime())
				}
				var got []byte
				if how == "Read" {
					got, err = io.ReadAll(r)
				} else {
					var buf bytes.Buffer
					_, err = r.WriteTo(writerFunc(buf.Write))
					got = buf.Bytes()
				}
				if !errors.Is(err, errChanged) || !errors.Is(r.err, errChanged) {
					t.Errorf("%s = %q, %v (kept %v); want errChanged", how, got, err, r.err)
				}
			})
		}
	}
}

// failingInput is an input whose reads fail with err once after bytes
// have been read.
type failingInput struct {
	inputFile
	after int
	err   error
}

func (f *failingInput) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, f.err
	}
	n, err := f.inputFile.Read(p[:min(len(p), f.after)])
	f.after -= n
	return n, err
}

// failingWriter is a sink that fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// sizedInfo is a FileInfo that says size.
type sizedInfo struct {
	fs.FileInfo
	size int64
}

func (s sizedInfo) Size() int64 { return s.size }

// TestFileBodyKeepsItsReadError: WriteTo keeps the file's own read error
// (inputReader.err), as Read does, and not the sink's, on both of its
// paths: reads through the reader, and the kernel copy of a large input.
// The poller tells by it a file it cannot read (that file's problem)
// from a box that fails (the location's); before, a read error met in
// WriteTo, the way every body is copied, was taken for the box's.
func TestFileBodyKeepsItsReadError(t *testing.T) {
	dir := t.TempDir()
	eio := syscall.EIO
	for _, tc := range []struct {
		name     string
		body     func(t *testing.T) *inputReader
		sink     func(t *testing.T) io.Writer
		wantFile bool // the error is the file's
	}{
		{"small file, read fails", func(t *testing.T) *inputReader {
			r, _ := openListed(t, writeFile(t, dir, "small.xml", strings.Repeat("x", 4096)))
			r.file = &failingInput{inputFile: r.file, after: 100, err: eio}
			return r
		}, func(*testing.T) io.Writer { return new(bytes.Buffer) }, true},
		{"small file, sink fails", func(t *testing.T) *inputReader {
			r, _ := openListed(t, writeFile(t, dir, "small2.xml", strings.Repeat("x", 4096)))
			return r
		}, func(*testing.T) io.Writer { return failingWriter{} }, false},
		{"kernel copy, read fails", func(t *testing.T) *inputReader {
			// A directory's descriptor: every read of it fails (EISDIR).
			d, err := os.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			info, err := d.Stat()
			if err != nil {
				t.Fatal(err)
			}
			return &inputReader{ctx: context.Background(), file: d, seen: sizedInfo{info, 4 << 20}}
		}, func(t *testing.T) io.Writer { return tempFile(t) }, true},
		{"kernel copy, sink fails", func(t *testing.T) *inputReader {
			r, _ := openListed(t, writeFile(t, dir, "large.xml", strings.Repeat("x", 4<<20)))
			return r
		}, func(*testing.T) io.Writer { return failingWriter{} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.body(t)
			if _, err := r.WriteTo(tc.sink(t)); err == nil {
				t.Fatal("WriteTo succeeded")
			}
			if (r.err != nil) != tc.wantFile {
				t.Errorf("the file's error: %v; want one: %v", r.err, tc.wantFile)
			}
		})
	}
}

// tempFile is a new empty file, open for writing: a sink the kernel
// copies into.
func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "sink")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
