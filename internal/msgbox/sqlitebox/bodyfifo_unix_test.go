//go:build unix

package sqlitebox

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBodyFileNotARegularFile: a body file replaced by a FIFO, or by a
// link to one, fails Body naming the message and the file, where opening
// it blocked for ever: a delivery's worker (and so run's stop), or a
// bizpipe messages body.
func TestBodyFileNotARegularFile(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	for _, tc := range []struct {
		name string
		make func(path string) error
	}{
		{"fifo", func(path string) error { return syscall.Mkfifo(path, 0o600) }},
		{"link to a fifo", func(path string) error {
			if err := syscall.Mkfifo(path+".fifo", 0o600); err != nil {
				return err
			}
			return os.Symlink(path+".fifo", path)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := b.ReceiveRouted(ctx, in(tc.name), pattern(33, 2*ChunkSize), nil)
			if err != nil {
				t.Fatal(err)
			}
			path := fileOf(t, b, m.ID)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(path); err != nil {
				t.Fatal(err)
			}
			opened := make(chan error, 1)
			go func() {
				rc, err := b.Body(ctx, m.ID)
				if err == nil {
					rc.Close()
				}
				opened <- err
			}()
			select {
			case err := <-opened:
				if err == nil || !strings.Contains(err.Error(), "not a regular file") ||
					!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), m.ID) {
					t.Errorf("Body = %v; want an error naming the message and its body file, not a regular file", err)
				}
			case <-time.After(time.Minute):
				// A generous bound: the open reads nothing.
				t.Fatal("Body still opening the body file after a minute")
			}
		})
	}
}
