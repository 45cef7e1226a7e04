package fsop

import (
	"io/fs"
	"syscall"
	"time"
)

// ChangeTime is when the file info describes last had its inode changed
// (a rename, a link, a change of mode), which its modification time, kept
// by those, does not tell: a file receive location's claim is aged from
// its rename, a message box's kept input from its link.
func ChangeTime(info fs.FileInfo) time.Time {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec))
	}
	return info.ModTime()
}
