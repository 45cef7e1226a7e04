//go:build unix

package live

import (
	"io/fs"
	"strconv"
	"syscall"
)

// fileOwner returns the owner and group ids of the file info describes, as
// os/user spells them.
func fileOwner(info fs.FileInfo) (uid, gid string, ok bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return "", "", false
	}
	return strconv.FormatUint(uint64(st.Uid), 10), strconv.FormatUint(uint64(st.Gid), 10), true
}
