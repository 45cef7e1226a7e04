//go:build !unix

package lang

import "testing"

// makeFIFO skips: named pipes are Unix's.
func makeFIFO(t *testing.T, _ string) {
	t.Skip("no named pipes on this system")
}
