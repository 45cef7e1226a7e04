//go:build unix

package fsop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
)

// TestReadRegular: a regular file (or a link to one) is read whole; a
// FIFO, a device or a directory is refused at once, naming what it is,
// and a file above the limit is refused without being read into memory
// whole.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(regular, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	fifo := testfs.MakeFIFO(t, filepath.Join(dir, "fifo.pem"))
	for _, tc := range []struct {
		name, path string
		limit      int64
		want       string // "" for the content
	}{
		{"regular", regular, 10, ""},
		{"link to regular", link, 10, ""},
		{"above the limit", regular, 9, "larger than 9 bytes"},
		{"FIFO", fifo, 1 << 20, "named pipe (FIFO), not a regular file"},
		{"device", "/dev/zero", 1 << 20, "not a regular file"},
		{"directory", dir, 1 << 20, "directory, not a regular file"},
		{"missing", filepath.Join(dir, "none"), 1 << 20, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				b   []byte
				err error
			}
			r := testfs.Within(t, "ReadRegular", func() result { b, err := ReadRegular(tc.path, tc.limit); return result{b, err} })
			b, err := r.b, r.err
			switch {
			case tc.want == "" && (err != nil || string(b) != "0123456789"):
				t.Errorf("ReadRegular = %q, %v; want the content", b, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path)):
				t.Errorf("ReadRegular error %v, want one naming %s and saying %q", err, tc.path, tc.want)
			}
		})
	}
}
