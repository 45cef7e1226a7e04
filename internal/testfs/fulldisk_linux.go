package testfs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size bytes at dir (made if missing) and
// returns dir, so that a test can fill a disk for real: ENOSPC from the
// kernel, not from a fake. A cleanup registered on t unmounts it, lazily
// if something still holds it, and fails t if that fails too; it runs
// before the cleanups registered earlier, such as t.TempDir's removal.
//
// Mounting needs root (CAP_SYS_ADMIN). Without it, or when the mount
// fails for any other reason, t fails saying so: a full-disk test that
// skipped would leave what it checks unchecked. Run such tests as root,
// as .ci/run does.
func MountTmpfs(t testing.TB, dir string, size int64) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testfs: making the mount point for a tmpfs: %v", err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, sizeOption(size)); err != nil {
		t.Fatalf("testfs: the test needs root (CAP_SYS_ADMIN) to mount a tmpfs of %d bytes at %s, to fill a disk: run it as root, as .ci/run does: mount: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := unmount(dir); err != nil {
			t.Errorf("testfs: %v", err)
		}
	})
	return dir
}

// ResizeTmpfs sets the size of the tmpfs MountTmpfs mounted at dir, to
// free space on a full disk (or take it away) without touching the files.
func ResizeTmpfs(t testing.TB, dir string, size int64) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, sizeOption(size)); err != nil {
		t.Fatalf("testfs: resizing the tmpfs at %s to %d bytes: %v", dir, size, err)
	}
}

func sizeOption(size int64) string { return fmt.Sprintf("size=%d", size) }

// unmount unmounts dir, detaching it if it is busy: a process the test
// started, or a file it left open, may still use it, and the kernel frees
// a detached tmpfs when its last user goes.
func unmount(dir string) error {
	err := syscall.Unmount(dir, 0)
	if errors.Is(err, syscall.EBUSY) {
		err = syscall.Unmount(dir, syscall.MNT_DETACH)
	}
	if err != nil {
		return fmt.Errorf("unmounting the tmpfs at %s: %w", dir, err)
	}
	return nil
}
