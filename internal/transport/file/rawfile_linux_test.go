package file

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/transport"
)

// TestInputIsRawFile: on Linux an input is read through its bare
// descriptor (rawFile), which spares os.NewFile's fcntl and epoll_ctl per
// input, and it reads, stats and closes as an *os.File would.
func TestInputIsRawFile(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "a.xml", "payload")
	f, err := openNoFollow(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.(*rawFile); !ok {
		t.Fatalf("openNoFollow gave a %T, want a *rawFile", f)
	}
	if f.Name() != path {
		t.Errorf("Name = %q, want %q", f.Name(), path)
	}
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameFile(info, want) || info.Name() != want.Name() || info.Mode() != want.Mode() ||
		info.Size() != want.Size() || !info.ModTime().Equal(want.ModTime()) || info.IsDir() {
		t.Errorf("Stat = %s %v %d %v, want %s %v %d %v", info.Name(), info.Mode(), info.Size(), info.ModTime(),
			want.Name(), want.Mode(), want.Size(), want.ModTime())
	}
	got, err := io.ReadAll(f)
	if err != nil || string(got) != "payload" {
		t.Errorf("read %q, %v", got, err)
	}
	if n, err := f.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("Read at the end = %d, %v; want io.EOF", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var pe *fs.PathError
	if _, err := f.Read(make([]byte, 8)); !errors.Is(err, os.ErrClosed) || !errors.As(err, &pe) || pe.Path != path {
		t.Errorf("Read after Close = %v, want os.ErrClosed naming the file", err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close = %v, want os.ErrClosed", err)
	}
}

// TestRawInfoMode: a rawFile's Stat reports the mode bits and file type
// as os.Stat does: the refusals name the type from it.
func TestRawInfoMode(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "a.xml", "x")
	if err := os.Chmod(path, 0o640|os.ModeSetgid|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, dir, "/dev/null"} {
		fd, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		f := newRawFile(int(fd.Fd()), p)
		info, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		want, err := fd.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != want.Mode() || info.IsDir() != want.IsDir() {
			t.Errorf("%s: mode %v, want %v", p, info.Mode(), want.Mode())
		}
		fd.Close()
	}
}

// copySourceRecorder is a destination that records the source io.Copy
// hands its ReadFrom (an *os.File is what copy_file_range(2) takes).
type copySourceRecorder struct {
	bytes.Buffer
	sources []io.Reader
}

func (c *copySourceRecorder) ReadFrom(r io.Reader) (int64, error) {
	src := r
	if lr, ok := r.(*io.LimitedReader); ok {
		src = lr.R
	}
	c.sources = append(c.sources, src)
	return c.Buffer.ReadFrom(r)
}

// TestFileBodyWriteToKernelCopy: a large input is handed to the
// destination's ReadFrom as an *os.File, which the kernel copy takes; a
// small one stays a rawFile (the conversion would cost more system calls
// than its reads), and both arrive whole.
func TestFileBodyWriteToKernelCopy(t *testing.T) {
	for _, tc := range []struct {
		size int
		os   bool
	}{{4 << 10, false}, {kernelCopyMin, true}, {3<<20 + 5, true}} {
		dir := t.TempDir()
		payload := strings.Repeat("x", tc.size)
		path := writeFile(t, dir, "in.dat", payload)
		f, seen := openSeen(t, path)
		r := &inputReader{ctx: context.Background(), file: f, seen: seen}
		var dst copySourceRecorder
		n, err := io.Copy(&dst, r)
		if err != nil || n != int64(tc.size) || dst.String() != payload {
			t.Fatalf("%d bytes: copied %d, %v", tc.size, n, err)
		}
		for _, src := range dst.sources {
			if _, isOS := src.(*os.File); isOS != tc.os {
				t.Errorf("%d bytes: copied from a %T, want an *os.File: %v", tc.size, src, tc.os)
			}
		}
		if err := f.Close(); err != nil {
			t.Errorf("%d bytes: Close = %v", tc.size, err)
		}
	}
}

// TestAttemptWritesRawFile: on Linux an attempt writes its unnamed
// temporary file through the bare descriptor (rawFile), which spares
// os.NewFile's fcntl per delivery, and the delivered file holds every
// byte, of writes buffered and of writes larger than the buffer alike.
func TestAttemptWritesRawFile(t *testing.T) {
	dir := t.TempDir()
	f, err := NewWriter(WriterOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !f.unnamed {
		t.Skip("no /proc/self/fd: attempts write named partial files here")
	}
	w, err := f.Begin(context.Background(), transport.Delivery{ID: 1, Port: "p", FileName: "out.dat"})
	if err != nil {
		t.Fatal(err)
	}
	if !w.unnamed {
		t.Skipf("%s has no unnamed temporary files (O_TMPFILE)", dir)
	}
	if _, ok := w.fh.(*rawFile); !ok {
		t.Fatalf("the attempt writes a %T, want a *rawFile", w.fh)
	}
	var want bytes.Buffer
	for _, n := range []int{78, fileWriteBuffer + 3, 5} {
		p := bytes.Repeat([]byte{byte('a' + n%26)}, n)
		want.Write(p)
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "out.dat"))
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("delivered %d bytes (%v), want the %d written", len(got), err, want.Len())
	}
}
