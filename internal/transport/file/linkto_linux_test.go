package file

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLinkToRefusesFileOpenForWriting: a file some process still has open
// for writing, or has mapped writable (its descriptor closed since), is
// never kept by a link: the writer could change the stored body after the
// input was acknowledged. It is read (copied) instead, as it is now. Once
// nobody writes it, it is kept; and the lease that tells is released, so
// a writer opening the file later does not wait.
func TestLinkToRefusesFileOpenForWriting(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		writer func(t *testing.T, path string) (stop func())
	}{
		{"open for writing", func(t *testing.T, path string) func() {
			w, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			return func() { w.Close() }
		}},
		{"mapped writable", func(t *testing.T, path string) func() {
			w, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			m, err := syscall.Mmap(int(w.Fd()), 0, 7, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
			w.Close() // the mapping alone keeps the file writable
			if err != nil {
				t.Fatal(err)
			}
			return func() { syscall.Munmap(m) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, tc.name, "payload")
			stop := tc.writer(t, path)
			f, seen := openSeen(t, path)
			r := &inputReader{ctx: context.Background(), file: f, seen: seen}
			target := filepath.Join(t.TempDir(), "kept")
			if r.LinkTo(target) {
				t.Fatal("LinkTo kept a file another holder can still write")
			}
			if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("refused, yet %s exists (%v)", target, err)
			}
			if got, err := io.ReadAll(r); err != nil || string(got) != "payload" {
				t.Errorf("then read %q, %v; want the whole file", got, err)
			}
			f.Close()

			// Nobody writes it any more: kept.
			stop()
			f, seen = openSeen(t, path)
			defer f.Close()
			r = &inputReader{ctx: context.Background(), file: f, seen: seen}
			if !r.LinkTo(target) {
				t.Fatal("LinkTo refused a file nobody writes")
			}
			// The lease is gone: a writer opens the file at once, not
			// after the kernel's lease-break time.
			opened := make(chan error, 1)
			go func() {
				w, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err == nil {
					w.Close()
				}
				opened <- err
			}()
			select {
			case err := <-opened:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("opening the kept file for writing still waits for a lease")
			}
		})
	}
}

// TestLinkToWriterDuringLease: a process that opens the file for writing
// while LinkTo holds its lease waits for the release, and may then write:
// LinkTo must not keep the file then. The open breaks the lease, which
// LinkTo sees before it lets go: nothing is linked, the input is read
// instead, and the writer's open goes through.
func TestLinkToWriterDuringLease(t *testing.T) {
	path := writeFile(t, t.TempDir(), "in.xml", "payload")
	f, seen := openSeen(t, path)
	defer f.Close()
	opened := make(chan error, 1)
	r := &inputReader{ctx: context.Background(), file: f, seen: seen}
	r.linking = func() {
		go func() {
			w, err := os.OpenFile(path, os.O_WRONLY, 0) // waits for the lease
			if err == nil {
				w.Close()
			}
			opened <- err
		}()
		// Wait for the open to reach the lease: its break is pending.
		fd := f.(interface{ Fd() uintptr }).Fd()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			lease, err := unix.FcntlInt(fd, unix.F_GETLEASE, 0)
			if err != nil {
				t.Error(err)
				return
			}
			if lease != unix.F_RDLCK {
				return
			}
			if time.Now().After(deadline) {
				t.Error("the writer's open never reached the lease")
				return
			}
		}
	}
	target := filepath.Join(t.TempDir(), "kept")
	if r.LinkTo(target) {
		t.Fatal("LinkTo kept a file a writer opened while the lease was held")
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused, yet %s exists (%v)", target, err)
	}
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("the writer's open: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer's open still waits after LinkTo returned")
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "payload" {
		t.Errorf("then read %q, %v; want the whole file", got, err)
	}
}
