//go:build !(linux || darwin || freebsd || dragonfly)

package fsop

// noSpace is false where the space left is not looked up (Windows, and
// the Unix systems whose syscall package has no statfs).
func noSpace(string) bool { return false }
