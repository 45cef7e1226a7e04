package dirsync

import (
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
