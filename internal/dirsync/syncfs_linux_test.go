package dirsync

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSyncFS: SyncFS and Written succeed on a file system that is there,
// SyncFSWorks and SyncFS name a directory that is not, and Written
// reports a file it cannot check.
func TestSyncFS(t *testing.T) {
	dir := t.TempDir()
	if _, err := SyncFSWorks(dir); err != nil {
		t.Fatalf("SyncFSWorks(%s): %v", dir, err)
	}
	fh, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString("payload"); err != nil {
		t.Fatal(err)
	}
	if err := SyncFS(dir); err != nil {
		t.Fatalf("SyncFS: %v", err)
	}
	if err := Written(fh); err != nil {
		t.Fatalf("Written: %v", err)
	}
	fh.Close()
	if err := Written(fh); err == nil {
		t.Error("Written on a closed file succeeded")
	}
	missing := filepath.Join(dir, "missing")
	if _, err := SyncFSWorks(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("SyncFSWorks(missing) = %v, want an error naming it", err)
	}
	if err := SyncFS(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("SyncFS(missing) = %v, want an error naming it", err)
	}
}

// TestSyncFSTypes: syncfs stands in for fsync only on local file systems
// whose sync_fs commits their journal; network and FUSE file systems keep
// an fsync per file.
func TestSyncFSTypes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		magic int64
		want  bool
	}{
		{"ext4", unix.EXT4_SUPER_MAGIC, true},
		{"xfs", unix.XFS_SUPER_MAGIC, true},
		{"btrfs", unix.BTRFS_SUPER_MAGIC, true},
		{"nfs", unix.NFS_SUPER_MAGIC, false},
		{"fuse", unix.FUSE_SUPER_MAGIC, false},
		{"smb2", unix.SMB2_SUPER_MAGIC, false},
		{"overlayfs", unix.OVERLAYFS_SUPER_MAGIC, false},
	} {
		if got := syncFSTypes[tt.magic]; got != tt.want {
			t.Errorf("%s: syncfs trusted = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestSyncFSWorksByMounts: SyncFSWorks agrees with the mount table (an
// independent source: file system names, not statfs magic numbers) for
// the test's directory, and /proc is no file system to syncfs: SyncFS
// refuses it, syncing nothing.
func TestSyncFSWorksByMounts(t *testing.T) {
	trusted := map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "f2fs": true, "tmpfs": true}
	for _, dir := range []string{t.TempDir(), "/proc"} {
		typ := mountType(t, dir)
		got, err := SyncFSWorks(dir)
		if err != nil || got != trusted[typ] {
			t.Errorf("SyncFSWorks(%s on %s) = %v, %v; want %v", dir, typ, got, err, trusted[typ])
		}
	}
	if err := SyncFS("/proc"); !errors.Is(err, ErrNotSyncFS) {
		t.Errorf("SyncFS(/proc) = %v, want ErrNotSyncFS", err)
	}
}

// mountType is the type of the file system mounted deepest above path,
// from /proc/self/mounts.
func mountType(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	path, err = filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	best, typ := "", ""
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := strings.ReplaceAll(f[1], "\\040", " ")
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, typ = mp, f[2]
		}
	}
	if typ == "" {
		t.Fatalf("no mount above %s", path)
	}
	return typ
}
