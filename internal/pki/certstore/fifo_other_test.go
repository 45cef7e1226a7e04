//go:build !unix

package certstore

import "testing"

// makeFIFO skips the test: there are no named pipes in the file system
// on this platform, so the case it sets up cannot arise.
func makeFIFO(t *testing.T, path string) {
	t.Helper()
	t.Skipf("%s: no named pipes on this platform", path)
}
