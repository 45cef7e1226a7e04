package sqlitebox

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSweepSkipsFileInUse: on Windows a stale body file that a Receive
// still holds open cannot be removed (ERROR_SHARING_VIOLATION, as package
// os does not share deletion). The sweeps leave it and go on: before, the
// first such file failed the sweep, Open's (so a `bizpipe messages` beside
// a run receiving an upload older than StaleUploadAfter could not open the
// box) as the periodic one's, and the stale files after it stayed.
func TestSweepSkipsFileInUse(t *testing.T) {
	b := openTemp(t, Options{})
	dir := b.bodiesDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	file := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("partial body"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, sweep := range []struct {
		name string
		run  func() error
	}{
		{"periodic", func() error { return b.sweepTemp(time.Now().Add(-time.Hour)) }},
		{"at open", func() error { return b.sweep(t.Context(), time.Now().Add(-time.Hour), false) }},
	} {
		held := file(tempPrefix + "1held" + tempSuffix) // listed first
		stale := file(tempPrefix + "2stale" + tempSuffix)
		f, err := os.Open(held)
		if err != nil {
			t.Fatal(err)
		}
		if err := sweep.run(); err != nil {
			t.Errorf("%s sweep with a file in use: %v", sweep.name, err)
		}
		if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s sweep: stale file not removed (%v)", sweep.name, err)
		}
		if _, err := os.Stat(held); err != nil {
			t.Errorf("%s sweep: file in use: %v", sweep.name, err)
		}
		f.Close()
		if err := os.Remove(held); err != nil {
			t.Fatal(err)
		}
	}
}
