//go:build !unix

package live_test

import "testing"

// fileGID fails the test: files have no owning group on this platform.
func fileGID(t *testing.T, path string) int {
	t.Helper()
	t.Fatalf("%s: no owning group on this platform", path)
	return 0
}
