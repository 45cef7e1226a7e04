//go:build darwin || freebsd || netbsd

package fsop

import (
	"io/fs"
	"syscall"
	"time"
)

// ChangeTime is when the file info describes last had its inode changed,
// as on Linux (see ctime_linux.go): a rename changes it, so a claim made
// of a file written long ago is aged from its claim, not its writing.
func ChangeTime(info fs.FileInfo) time.Time {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return time.Unix(int64(st.Ctimespec.Sec), int64(st.Ctimespec.Nsec))
	}
	return info.ModTime()
}
