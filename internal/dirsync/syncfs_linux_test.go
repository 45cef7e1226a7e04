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
// FileSystemOf and SyncFS name a directory that is not, and Written
// reports a file it cannot check, or that is on another file system than
// the one synced.
func TestSyncFS(t *testing.T) {
	dir := t.TempDir()
	if _, err := FileSystemOf(dir); err != nil {
		t.Fatalf("FileSystemOf(%s): %v", dir, err)
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
	fs, err := FileSystemOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Written(fh, fs); err != nil {
		t.Fatalf("Written: %v", err)
	}
	if err := Written(fh, FS{Dev: fs.Dev + 1, SyncFS: true}); !errors.Is(err, ErrNotSyncFS) {
		t.Errorf("Written of a file on another file system than synced: %v, want ErrNotSyncFS", err)
	}
	fh.Close()
	if err := Written(fh, fs); err == nil {
		t.Error("Written on a closed file succeeded")
	}
	missing := filepath.Join(dir, "missing")
	if _, err := FileSystemOf(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("FileSystemOf(missing) = %v, want an error naming it", err)
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

// TestFileSystemOfByMounts: FileSystemOf agrees with the mount table (an
// independent source: file system names, not statfs magic numbers) for
// the test's directory, and /proc is no file system to syncfs: SyncFS
// refuses it, syncing nothing. Two directories of one file system have
// its device, /proc another.
func TestFileSystemOfByMounts(t *testing.T) {
	trusted := map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "f2fs": true, "tmpfs": true}
	tmp := t.TempDir()
	sub := filepath.Join(tmp, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	devs := map[string]uint64{}
	for _, dir := range []string{tmp, sub, "/proc"} {
		typ := mountType(t, dir)
		got, err := FileSystemOf(dir)
		if err != nil || got.SyncFS != trusted[typ] {
			t.Errorf("FileSystemOf(%s on %s) = %+v, %v; want SyncFS %v", dir, typ, got, err, trusted[typ])
		}
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		if got.Dev != uint64(st.Dev) {
			t.Errorf("FileSystemOf(%s).Dev = %d, stat says %d", dir, got.Dev, st.Dev)
		}
		devs[dir] = got.Dev
	}
	if devs[tmp] != devs[sub] || devs[tmp] == devs["/proc"] {
		t.Errorf("devices %v: want %s and its subdirectory on one, /proc on another", devs, tmp)
	}
	if err := SyncFS("/proc"); !errors.Is(err, ErrNotSyncFS) {
		t.Errorf("SyncFS(/proc) = %v, want ErrNotSyncFS", err)
	}
}

// TestFSGroupChecksTheDirectory: a round syncs only when the directory it
// syncs through is still on the file system the callers named: a round
// whose directory is on another device (mounted over since) syncs nothing
// and fails with ErrNotSyncFS, and so does one on a file system syncfs
// does not stand in for.
func TestFSGroupChecksTheDirectory(t *testing.T) {
	dir := t.TempDir()
	fs, err := FileSystemOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fs.SyncFS {
		t.Skipf("%s is on a file system syncfs does not stand in for", dir)
	}
	var g FSGroup
	if err := g.Sync(dir, fs); err != nil {
		t.Errorf("Sync on its own file system: %v", err)
	}
	moved := FS{Dev: fs.Dev + 1, SyncFS: true}
	if err := g.Sync(dir, moved); !errors.Is(err, ErrNotSyncFS) || !strings.Contains(err.Error(), dir) {
		t.Errorf("Sync through a directory on another device: %v, want ErrNotSyncFS naming it", err)
	}
	proc, err := FileSystemOf("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Sync("/proc", FS{Dev: proc.Dev, SyncFS: true}); !errors.Is(err, ErrNotSyncFS) {
		t.Errorf("Sync of /proc: %v, want ErrNotSyncFS", err)
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
