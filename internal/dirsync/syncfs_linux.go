package dirsync

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/bizpipe/bizpipe/internal/fsop"
)

// syncFSTypes are the file systems whose syncfs(2) makes durable all that
// an fsync(2) of each changed file and directory would: local journaling
// or copy-on-write file systems, whose sync_fs commits the journal (or
// transaction) after every dirty page is written back. Elsewhere (FUSE,
// SMB, NFS) syncfs may not reach the server or the daemon the way fsync
// does, so callers sync each file and directory there.
var syncFSTypes = map[int64]bool{
	unix.EXT4_SUPER_MAGIC:  true, // ext2 and ext3 too: one magic
	unix.XFS_SUPER_MAGIC:   true,
	unix.BTRFS_SUPER_MAGIC: true,
	unix.F2FS_SUPER_MAGIC:  true,
	unix.TMPFS_MAGIC:       true,
}

// ErrNotSyncFS is wrapped by SyncFS's error when syncfs(2) does not stand
// in for an fsync of each file and directory on dir's file system: sync
// them one by one instead.
var ErrNotSyncFS = errors.New("syncfs does not stand in for fsync on this file system")

// FileSystemOf tells the file system that holds dir: its device, and
// whether SyncFS on it is as good as syncing every file and directory
// changed on it one by one. The error says why it could not be told (dir
// is missing).
func FileSystemOf(dir string) (FS, error) {
	var st unix.Statfs_t
	if err := fsop.RetryEINTR(func() error { return unix.Statfs(dir, &st) }); err != nil {
		return FS{}, &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	var s unix.Stat_t
	if err := fsop.RetryEINTR(func() error { return unix.Stat(dir, &s) }); err != nil {
		return FS{}, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	return FS{Dev: uint64(s.Dev), SyncFS: syncFSTypes[int64(st.Type)]}, nil // Type is int32 on some architectures
}

// SyncFS makes durable every change to the file system that holds dir,
// file contents and directory entries alike, with one syncfs(2). It
// reports the write-back errors of that file system since the directory
// was opened. Use it only where FileSystemOf says it stands in for
// fsyncs: it checks that again, on the directory it opened (a share may
// have been mounted over dir since), and syncs nothing but returns an
// error wrapping ErrNotSyncFS where it no longer holds.
func SyncFS(dir string) error { return syncFS(dir, nil) }

// syncFSOn is SyncFS that also checks that dir is still on the file
// system with device dev: another directory's changes on dev are what a
// round of an FSGroup makes durable.
func syncFSOn(dir string, dev uint64) error { return syncFS(dir, &dev) }

func syncFS(dir string, dev *uint64) error {
	d, err := fsop.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("opening %s to sync its file system: %w", dir, err)
	}
	fd := int(d.Fd())
	var st unix.Statfs_t
	err = fsop.RetryEINTR(func() error { return unix.Fstatfs(fd, &st) })
	if err == nil && !syncFSTypes[int64(st.Type)] {
		err = ErrNotSyncFS
	}
	if err == nil && dev != nil {
		var s unix.Stat_t
		err = fsop.RetryEINTR(func() error { return unix.Fstat(fd, &s) })
		if err == nil && uint64(s.Dev) != *dev {
			err = fmt.Errorf("%w: the directory is on another file system now", ErrNotSyncFS)
		}
	}
	if err == nil {
		err = fsop.RetryEINTR(func() error { return unix.Syncfs(fd) })
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing the file system of %s: %w", dir, err)
	}
	return nil
}

// Written reports the write-back errors of fh since it was opened, once a
// SyncFS of fs, which holds it, has returned: syncfs(2) reports an error
// to the first caller only, whichever file it hit, so the file's own
// record (sync_file_range(2) waiting on pages already clean, which forces
// no journal commit or cache flush as a second fsync would) tells each
// caller whether its data made it. An error wrapping ErrNotSyncFS says
// that fh is not on fs (opened after another file system was mounted over
// its directory): that SyncFS did not sync it.
func Written(fh File, fs FS) error {
	fd := int(fh.Fd())
	var st unix.Stat_t
	if err := fsop.RetryEINTR(func() error { return unix.Fstat(fd, &st) }); err != nil {
		return &os.PathError{Op: "fstat", Path: fh.Name(), Err: err}
	}
	if uint64(st.Dev) != fs.Dev {
		return fmt.Errorf("%s: %w: it is on another file system", fh.Name(), ErrNotSyncFS)
	}
	const all = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	if err := fsop.RetryEINTR(func() error { return unix.SyncFileRange(fd, 0, 0, all) }); err != nil {
		return &os.PathError{Op: "sync_file_range", Path: fh.Name(), Err: err}
	}
	return nil
}
