//go:build unix

// Package testfs makes the special files that tests of hostile input
// directories need, and (on Linux) the small disks that full-disk tests fill.
package testfs

import (
	"syscall"
	"testing"
)

// MakeFIFO makes a named pipe at path and returns path.
func MakeFIFO(t testing.TB, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatalf("testfs: %v", err)
	}
	return path
}
