//go:build unix

package sqlitebox

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMarkerNotARegularFile: a marker that is not a regular file (a FIFO,
// or a link to one) fails the open, naming it, where reading it hung
// bizpipe messages and run for ever.
func TestMarkerNotARegularFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(marker string) error
	}{
		{"fifo", func(marker string) error { return syscall.Mkfifo(marker, 0o600) }},
		{"link to a fifo", func(marker string) error {
			if err := syscall.Mkfifo(marker+".fifo", 0o600); err != nil {
				return err
			}
			return os.Symlink(marker+".fifo", marker)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "messagebox.db")
			b, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			marker := path + markerSuffix
			if err := os.Remove(marker); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(marker); err != nil {
				t.Fatal(err)
			}
			opened := make(chan error, 1)
			go func() {
				b, err := Open(path, Options{NoCreate: true})
				if err == nil {
					b.Close()
				}
				opened <- err
			}()
			select {
			case err := <-opened:
				if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), marker) {
					t.Errorf("Open = %v; want an error naming the marker, not a regular file", err)
				}
			case <-time.After(time.Minute):
				// A generous bound: the open reads nothing large.
				t.Fatal("Open still reading the marker after a minute")
			}
		})
	}
}
