//go:build !linux && !darwin && !freebsd && !netbsd

package fsop

import (
	"io/fs"
	"time"
)

// ChangeTime falls back to the modification time where syscall does not
// give the inode change time (Windows, OpenBSD, ...): a claim is then
// judged by the producer's time, so set TakeoverAfter generously there.
func ChangeTime(info fs.FileInfo) time.Time { return info.ModTime() }
