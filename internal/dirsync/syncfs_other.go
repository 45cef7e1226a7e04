//go:build !linux

package dirsync

import "errors"

// FileSystemOf tells the file system that holds dir as far as syncing
// goes: SyncFS never stands in for fsyncs on a platform without
// syncfs(2), and nothing else matters.
func FileSystemOf(dir string) (FS, error) { return FS{}, nil }

// ErrNotSyncFS is wrapped by SyncFS's error when syncfs(2) does not stand
// in for an fsync of each file and directory: always, on this platform.
var ErrNotSyncFS = errors.New("syncfs is not available on this platform")

// SyncFS is not available on this platform; see FileSystemOf.
func SyncFS(dir string) error { return ErrNotSyncFS }

func syncFSOn(dir string, dev uint64) error { return ErrNotSyncFS }

// Written syncs fh: without SyncFS there is nothing cheaper.
func Written(fh File, fs FS) error { return fh.Sync() }
