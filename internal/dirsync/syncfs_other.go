//go:build !linux

package dirsync

import (
	"errors"
	"os"
)

// SyncFSWorks reports whether SyncFS on dir is as good as syncing every
// file and directory changed in that file system one by one: never, on a
// platform without syncfs(2).
func SyncFSWorks(dir string) (bool, error) { return false, nil }

// ErrNotSyncFS is wrapped by SyncFS's error when syncfs(2) does not stand
// in for an fsync of each file and directory: always, on this platform.
var ErrNotSyncFS = errors.New("syncfs is not available on this platform")

// SyncFS is not available on this platform; see SyncFSWorks.
func SyncFS(dir string) error { return ErrNotSyncFS }

// Written syncs fh: without SyncFS there is nothing cheaper.
func Written(fh *os.File) error { return fh.Sync() }
