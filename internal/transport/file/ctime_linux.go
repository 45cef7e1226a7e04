package file

import (
	"io/fs"
	"syscall"
	"time"
)

// changeTime is when the file's inode last changed: for a claim, when it was
// renamed to its claim name (a rename keeps the modification time, which is
// the producer's). Other servers judge a claim's age by it.
func changeTime(info fs.FileInfo) time.Time {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	}
	return info.ModTime()
}
