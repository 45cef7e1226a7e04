//go:build unix

package live_test

import (
	"os"
	"syscall"
	"testing"
)

func fileGID(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Gid)
}
