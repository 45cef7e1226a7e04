//go:build !windows

package fsop

// InUse is false: elsewhere an open file can be removed or renamed.
func InUse(error) bool { return false }
