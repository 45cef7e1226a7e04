package sqlitebox

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
)

// TestReadOnlyMount: on a file system mounted read-only, a bizpipe
// messages command still reads the box, and the errors say that the mount
// is read-only, not that this user lacks write access and should run it as
// another ("the one bizpipe run runs as"), who could not write there
// either. It needs root, to mount a tmpfs and remount it read-only.
func TestReadOnlyMount(t *testing.T) {
	dir := testfs.MountTmpfs(t, filepath.Join(t.TempDir(), "mnt"), 16<<20)
	path := filepath.Join(dir, "idle", "messagebox.db")
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := w.ReceiveRouted(t.Context(), in("x"), strings.NewReader("body"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the box while w has it open, without the log's index: its
	// log holds the commits, the database file not yet.
	live := filepath.Join(dir, "live")
	copyTree(t, filepath.Dir(path), live, "messagebox.db-shm")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remounting the tmpfs read-only: %v", err)
	}

	for _, opts := range []Options{{NoCreate: true}, {NoCreate: true, Reading: true}} {
		b, err := Open(path, opts)
		if err != nil {
			t.Fatalf("Open(%+v) on a read-only mount: %v", opts, err)
		}
		if _, err := b.Get(t.Context(), m.ID); err != nil {
			t.Errorf("Get on a read-only mount: %v", err)
		}
		err = b.Terminate(t.Context(), m.ID)
		if err == nil || !strings.Contains(err.Error(), "mounted read-only") || strings.Contains(err.Error(), "as a user who has") {
			t.Errorf("Terminate on a read-only mount: %v; want it to say the file system is mounted read-only", err)
		}
		b.Close()

		_, err = Open(filepath.Join(live, "messagebox.db"), opts)
		if err == nil || !strings.Contains(err.Error(), "mounted read-only") || !strings.Contains(err.Error(), live) ||
			strings.Contains(err.Error(), "as a user who has") {
			t.Errorf("Open(%+v) of a box with a non-empty log on a read-only mount: %v; want it to name %s and say it is mounted read-only", opts, err, live)
		}
	}
}
