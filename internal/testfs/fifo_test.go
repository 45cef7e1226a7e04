//go:build unix

package testfs

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestMakeFIFO(t *testing.T) {
	path := MakeFIFO(t, filepath.Join(t.TempDir(), "pipe"))
	info, err := os.Lstat(path)
	if err != nil || info.Mode().Type() != fs.ModeNamedPipe {
		t.Fatalf("Lstat = %v, %v; want a named pipe", info, err)
	}
}
