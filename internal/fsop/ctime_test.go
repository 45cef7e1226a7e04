//go:build linux || darwin || freebsd || netbsd

package fsop

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ChangeTime tells a rename, which keeps the modification time: a file
// receive location ages a claim of a file written long ago from its claim
// (takeover would otherwise take a live server's claim at once).
func TestChangeTimeIsTheRename(t *testing.T) {
	dir := t.TempDir()
	old, claimed := filepath.Join(dir, "order.xml"), filepath.Join(dir, "claim")
	if err := os.WriteFile(old, []byte("order"), 0o644); err != nil {
		t.Fatal(err)
	}
	written := time.Now().Add(-24 * time.Hour)
	if err := os.Chtimes(old, written, written); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second) // file systems keep coarser times
	if err := os.Rename(old, claimed); err != nil {
		t.Fatal(err)
	}
	info, err := os.Lstat(claimed)
	if err != nil {
		t.Fatal(err)
	}
	if !info.ModTime().Before(before) {
		t.Fatalf("modification time %v: the test's premise, a file written long ago, does not hold", info.ModTime())
	}
	if ct := ChangeTime(info); ct.Before(before) {
		t.Errorf("ChangeTime %v, before the rename at %v: the modification time (%v), not the change", ct, before, info.ModTime())
	}
}
