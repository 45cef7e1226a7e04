package testfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

const tmpfsMagic = 0x01021994 // statfs(2)

// TestMountTmpfs: the tmpfs has the size asked for and fills up at it;
// a resize frees space and keeps the files; after the test it is gone,
// unmounted even when a file on it is still open.
func TestMountTmpfs(t *testing.T) {
	for _, tc := range []struct {
		name string
		busy bool // a file on the tmpfs is open when the test ends
	}{
		{"idle", false},
		{"busy", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "disk")
			var held *os.File
			defer func() {
				if held != nil {
					held.Close()
				}
			}()
			ok := t.Run("mounted", func(t *testing.T) {
				if got := MountTmpfs(t, dir, 1<<20); got != dir {
					t.Errorf("MountTmpfs returned %s, want %s", got, dir)
				}
				checkTmpfs(t, dir, 1<<20)
				if err := writeZeros(filepath.Join(dir, "fill"), 2<<20); !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("writing 2 MiB on a 1 MiB tmpfs: %v, want ENOSPC", err)
				}
				ResizeTmpfs(t, dir, 4<<20)
				checkTmpfs(t, dir, 4<<20)
				if err := writeZeros(filepath.Join(dir, "fill"), 2<<20); err != nil {
					t.Fatalf("writing 2 MiB once the tmpfs has 4 MiB: %v", err)
				}
				if tc.busy {
					f, err := os.Open(filepath.Join(dir, "fill"))
					if err != nil {
						t.Fatal(err)
					}
					held = f
				}
			})
			if !ok {
				t.Fatal("the test on the tmpfs failed (or its unmount did)")
			}
			if mounted(t, parent, dir) {
				t.Errorf("%s is still a mount point after the test", dir)
			}
			if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
				t.Errorf("the mount point after the test holds %d entries (%v); want the empty directory under the tmpfs", len(entries), err)
			}
		})
	}
}

// TestMountTmpfsUnmountFails: a tmpfs that cannot be unmounted (here:
// it was already) fails the test.
func TestMountTmpfsUnmountFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "disk")
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) }) // if the test ends before it unmounts
	r := record(func(tb testing.TB) { MountTmpfs(tb, dir, 1<<20) })
	if len(r.errs) != 0 || len(r.cleanups) != 1 {
		t.Fatalf("MountTmpfs: errors %q, %d cleanups; want none and one", r.errs, len(r.cleanups))
	}
	if err := syscall.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	r.cleanups[0]()
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "unmounting the tmpfs at "+dir) {
		t.Errorf("errors of the cleanup: %q; want one saying the unmount failed", r.errs)
	}
}

const unprivilegedDirEnv = "TESTFS_UNPRIVILEGED_DIR"

// TestMountTmpfsUnprivileged: without root, MountTmpfs fails the test
// and says what it needs; it does not skip. The test runs this test
// binary again as nobody.
func TestMountTmpfsUnprivileged(t *testing.T) {
	if dir := os.Getenv(unprivilegedDirEnv); dir != "" {
		// The child, as nobody: this must fail.
		MountTmpfs(t, dir, 1<<20)
		return
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root, to run itself again as nobody: run it as root, as .ci/run does")
	}
	// A copy of the test binary that nobody can run, and a mount point.
	top, err := os.MkdirTemp("", "testfs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "testfs.test")
	if err := copyFile(bin, self); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(top, "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestMountTmpfsUnprivileged$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), unprivilegedDirEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the test as nobody: %v, want it to fail:\n%s", err, out)
	}
	for _, want := range []string{"--- FAIL: TestMountTmpfsUnprivileged", "needs root", fmt.Sprintf("tmpfs of %d bytes", 1<<20), ".ci/run"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output of the test as nobody lacks %q:\n%s", want, out)
		}
	}
	if mounted(t, top, dir) {
		syscall.Unmount(dir, syscall.MNT_DETACH)
		t.Errorf("nobody mounted a tmpfs at %s", dir)
	}
}

// checkTmpfs fails t unless dir is the root of a tmpfs of size bytes.
func checkTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != tmpfsMagic {
		t.Errorf("%s: file system type %#x, want tmpfs", dir, st.Type)
	}
	if got := int64(st.Blocks) * st.Bsize; got != size {
		t.Errorf("%s: %d bytes, want %d", dir, got, size)
	}
}

// mounted reports whether dir is on another file system than parent.
func mounted(t *testing.T, parent, dir string) bool {
	t.Helper()
	var p, d syscall.Stat_t
	if err := syscall.Stat(parent, &p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(dir, &d); err != nil {
		t.Fatal(err)
	}
	return p.Dev != d.Dev
}

func writeZeros(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(make([]byte, n))
	return errors.Join(err, f.Close())
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// recorder is a testing.TB that keeps what a helper reports and the
// cleanups it registers, so that a test can check how the helper fails.
type recorder struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (r *recorder) Helper()                   {}
func (r *recorder) Cleanup(fn func())         { r.cleanups = append(r.cleanups, fn) }
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatalf(f string, a ...any) {
	r.Errorf(f, a...)
	runtime.Goexit()
}

// record runs fn with a recorder in a goroutine of its own, which Fatalf
// ends as it ends a test's.
func record(fn func(testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}
