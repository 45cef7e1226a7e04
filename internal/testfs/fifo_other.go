//go:build !unix

// Package testfs makes the special files that tests of hostile input
// directories need, and (on Linux) the small disks that full-disk tests fill.
package testfs

import "testing"

// MakeFIFO skips the test: there are no named pipes in the file system on
// this platform, so the case it sets up cannot arise.
func MakeFIFO(t testing.TB, path string) string {
	t.Helper()
	t.Skipf("%s: no named pipes on this platform", path)
	return path
}
