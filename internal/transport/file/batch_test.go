//go:build unix

package file

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestFileBatch: with a BatchSink a pass claims its files, syncs the
// directory once for all the claims, stores them in one batch and removes
// them; a file refused (swapped for a link between the listing and the
// claim) is given back and nothing of it stored, and when the box fails
// every file is given back under its name, nothing lost.
func TestFileBatch(t *testing.T) {
	files := map[string]string{"a.xml": "<a/>", "b.xml": "<b/>", "c.xml": "<c/>", "d.xml": "", "e.xml": "<e/>"}
	tests := []struct {
		name      string
		swap      string // a file replaced by a symbolic link before its claim
		closeBox  bool
		wantAcked []string
		wantLeft  []string // names left in the directory
		wantErr   bool     // a refused input is not an error of the pass
		wantSyncs int
	}{
		{name: "all", wantAcked: []string{"a.xml", "b.xml", "c.xml", "d.xml", "e.xml"}, wantSyncs: 1},
		{name: "one swapped", swap: "c.xml", wantAcked: []string{"a.xml", "b.xml", "d.xml", "e.xml"},
			wantLeft: []string{"c.xml"}, wantSyncs: 2},
		{name: "box closed", closeBox: true, wantLeft: []string{"a.xml", "b.xml", "c.xml", "d.xml", "e.xml"},
			wantErr: true, wantSyncs: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, b := range files {
				writeFile(t, dir, n, b)
			}
			secret := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(secret, []byte("key material"), 0o600); err != nil {
				t.Fatal(err)
			}
			box := newBox(t)
			o := fileOpts(dir)
			o.Concurrency = 64
			f, _ := newTestFile(t, o, transporttest.BoxSink{Box: box})
			var syncs atomic.Int32
			f.dirs.SyncFunc = func(string) error { syncs.Add(1); return nil }
			if tc.swap != "" {
				f.beforeClaim = func(path string) {
					if filepath.Base(path) == tc.swap {
						swapIn(t, path, "symlink", secret)
					}
				}
			}
			if tc.closeBox {
				box.Close()
			}
			n, err := f.Poll(context.Background())
			if n != len(tc.wantAcked) || (err != nil) != tc.wantErr {
				t.Errorf("Poll = %d, %v; want %d acknowledged, an error: %v", n, err, len(tc.wantAcked), tc.wantErr)
			}
			if got := int(syncs.Load()); got != tc.wantSyncs {
				t.Errorf("directory synced %d times, want %d", got, tc.wantSyncs)
			}
			if left := names(t, dir); !slices.Equal(left, tc.wantLeft) {
				t.Errorf("left in the directory: %v, want %v", left, tc.wantLeft)
			}
			if tc.closeBox {
				return
			}
			msgs, err := box.List(context.Background(), msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var stored []string
			for _, m := range msgs {
				stored = append(stored, m.FileName)
				rc, err := box.Body(context.Background(), m.ID)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || string(body) != files[m.FileName] {
					t.Errorf("%s: body %q, %v; want %q", m.FileName, body, err, files[m.FileName])
				}
			}
			slices.Sort(stored)
			if !slices.Equal(stored, tc.wantAcked) {
				t.Errorf("stored %v, want %v", stored, tc.wantAcked)
			}
			if tc.swap != "" {
				if fi, err := os.Lstat(filepath.Join(dir, tc.swap)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("%s not given back as the link it was: %v", tc.swap, err)
				}
			}
			// A second pass finds nothing new: each file once.
			if n, _ := f.Poll(context.Background()); n != 0 {
				t.Errorf("second Poll acknowledged %d", n)
			}
			if msgs2, _ := box.List(context.Background(), msgbox.Filter{}); len(msgs2) != len(msgs) {
				t.Errorf("second pass stored %d more", len(msgs2)-len(msgs))
			}
		})
	}
}
