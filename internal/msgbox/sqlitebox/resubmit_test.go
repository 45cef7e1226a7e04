package sqlitebox

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// TestResumeWhileResubmitted: see msgboxtest.ResumeWhileResubmitted. The
// copy is stored through a second handle on the file (another operator's
// bizpipe messages): it waits for the lock Resume's transaction holds,
// which its writer has asked for once it is inside withWrite.
func TestResumeWhileResubmitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagebox.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	other, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	msgboxtest.ResumeWhileResubmitted(t, b, other, func(fn func()) { b.resumeChecked = fn }, func(done <-chan struct{}) {
		for other.writers.Load() == 0 {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond): // polls a condition; no timing is assumed
			}
		}
	})
}
