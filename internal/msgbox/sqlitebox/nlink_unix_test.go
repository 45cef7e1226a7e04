//go:build unix

package sqlitebox

import (
	"os"
	"syscall"
)

// linkCount is how many names fi's file has; ok false where the platform
// does not say.
func linkCount(fi os.FileInfo) (n uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}
