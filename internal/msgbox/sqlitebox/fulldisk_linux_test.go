package sqlitebox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testfs"
)

// fillDisk fills the file system of dir and returns the function that
// frees the space again.
func fillDisk(t *testing.T, dir string) func() {
	t.Helper()
	fill := filepath.Join(dir, "fill")
	f, err := os.Create(fill)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write(make([]byte, 4<<20))
	f.Close()
	if err == nil {
		t.Fatal("4 MiB fit on the tmpfs: it is not full")
	}
	return func() {
		if err := os.Remove(fill); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBodyFileDiskFull: a disk that fills up while a body file is written
// fails the Receive with ENOSPC and leaves neither the file nor a message;
// once space is back, the same body is stored. It needs root, to mount a
// small tmpfs.
func TestBodyFileDiskFull(t *testing.T) {
	dir := testfs.MountTmpfs(t, t.TempDir(), 4<<20)
	b, err := Open(filepath.Join(dir, "box.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := mustRead(t, pattern(40, 6<<20))
	src := filepath.Join(t.TempDir(), "input") // not on the tmpfs
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, r := range []io.Reader{plainReader{bytes.NewReader(data)}, bytes.NewReader(data), file} {
		_, _, err = b.ReceiveRouted(t.Context(), in("big"), r, nil)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Receive of 6 MiB onto a 4 MiB disk: %v, want ENOSPC", err)
		}
		if got := bodyFiles(t, b); len(got) != 0 {
			t.Errorf("files left after the failed Receive: %v", got)
		}
		if n := count(t, b, "messages"); n != 0 {
			t.Errorf("%d messages after the failed Receive", n)
		}
	}
	testfs.ResizeTmpfs(t, dir, 16<<20)
	m, _, err := b.ReceiveRouted(context.Background(), in("big"), bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("Receive once space is back: %v", err)
	}
	if got := readAll(t, b, m.ID); !bytes.Equal(got, data) {
		t.Errorf("body differs")
	}
}

// TestReadOnFullDisk: `bizpipe messages list/show` (Open with NoCreate, or
// ReadOnly) can read a box nobody has open on a full disk. Such a box has
// no -shm file, which even a read-only connection must create, and the
// open failed with "reading the application id: disk I/O error". Writes
// through such a box fail saying the disk is full; once there is space
// the box opens for writing as before, intact.
func TestReadOnFullDisk(t *testing.T) {
	dir := testfs.MountTmpfs(t, t.TempDir(), 1<<20)
	path := filepath.Join(dir, "messagebox.db")
	w, err := Open(path, Options{Lock: true})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := w.ReceiveRouted(t.Context(), in("a.xml"), strings.NewReader("order"), nil)
	if err != nil {
		t.Fatal(err)
	}
	free := fillDisk(t, dir)

	// With run running, its -shm file exists: a plain read-only open,
	// which sees what the writer has committed.
	r, err := Open(path, Options{NoCreate: true})
	if err != nil {
		t.Fatalf("Open beside a running writer on a full disk: %v", err)
	}
	if r.immutableOpen() {
		t.Errorf("opened as an immutable snapshot beside a running writer; want a live read-only box")
	}
	if got := readAll(t, r, m.ID); string(got) != "order" {
		t.Errorf("body beside the writer %q, want order", got)
	}
	if err := r.Terminate(t.Context(), m.ID); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("Terminate through the read-only box: %v; want an error saying the disk is full", err)
	}
	r.Close()
	w.Close() // its checkpoint may fail on the full disk: the box is idle all the same

	for _, opts := range []Options{{NoCreate: true}, {ReadOnly: true}} {
		b, err := Open(path, opts)
		if err != nil {
			t.Fatalf("Open(%+v) of an idle box on a full disk: %v", opts, err)
		}
		d, err := b.Get(t.Context(), m.ID)
		if err != nil || d.Message.ID != m.ID {
			t.Errorf("Get = %+v, %v", d, err)
		}
		if got := readAll(t, b, m.ID); string(got) != "order" {
			t.Errorf("body %q, want order", got)
		}
		if err := b.Terminate(t.Context(), m.ID); err == nil {
			t.Errorf("Terminate through a box opened read-only on a full disk succeeded")
		} else if opts.NoCreate && !strings.Contains(err.Error(), "no space left") {
			t.Errorf("Terminate through the read-only box: %v; want an error saying the disk is full", err)
		}
		b.Close()
	}

	free()
	w, err = Open(path, Options{Lock: true})
	if err != nil {
		t.Fatalf("Open for writing once there is space: %v", err)
	}
	defer w.Close()
	if got := readAll(t, w, m.ID); string(got) != "order" {
		t.Errorf("body after the full disk %q, want order", got)
	}
	if _, _, err := w.ReceiveRouted(t.Context(), in("b.xml"), strings.NewReader("more"), nil); err != nil {
		t.Errorf("Receive once there is space: %v", err)
	}
	if _, err := w.Purge(t.Context(), time.Now()); err != nil {
		t.Errorf("Purge once there is space: %v", err)
	}
}

// TestReadOnFullDiskIdle: the box nobody has open, no -wal or -shm file
// left: a read-only open reads the file as immutable.
func TestReadOnFullDiskIdle(t *testing.T) {
	dir := testfs.MountTmpfs(t, t.TempDir(), 1<<20)
	path := filepath.Join(dir, "messagebox.db")
	w, err := Open(path, Options{Lock: true})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := w.ReceiveRouted(t.Context(), in("a.xml"), strings.NewReader("order"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path + "-wal", path + "-shm"} {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s after the last close: %v; want it removed", f, err)
		}
	}
	free := fillDisk(t, dir)
	for range 2 { // the first attempt leaves an empty -wal and a stub -shm
		b, err := Open(path, Options{NoCreate: true})
		if err != nil {
			t.Fatalf("Open of an idle box on a full disk: %v", err)
		}
		if !b.immutableOpen() {
			t.Errorf("not opened immutable")
		}
		ms, err := msgbox.Collect(t.Context(), b, msgbox.Filter{})
		if err != nil || len(ms) != 1 || ms[0].ID != m.ID {
			t.Errorf("List = %+v, %v", ms, err)
		}
		if err := b.Terminate(t.Context(), m.ID); err == nil || !strings.Contains(err.Error(), "no space left") {
			t.Errorf("Terminate through the snapshot: %v; want an error saying the disk is full", err)
		}
		b.Close()
	}
	free()
	w, err = Open(path, Options{Lock: true})
	if err != nil {
		t.Fatalf("Open for writing once there is space: %v", err)
	}
	defer w.Close()
	if err := w.Terminate(t.Context(), m.ID); err != nil {
		t.Errorf("Terminate once there is space: %v", err)
	}
}

func (b *Box) immutableOpen() bool { return b.immutable }
