//go:build linux || darwin || freebsd || dragonfly

package fsop

import "syscall"

// noSpace is NoSpace where statfs(2) says how much space is left.
func noSpace(dir string) bool {
	var st syscall.Statfs_t
	if err := RetryEINTR(func() error { return syscall.Statfs(dir, &st) }); err != nil {
		return false
	}
	return st.Bavail == 0
}
