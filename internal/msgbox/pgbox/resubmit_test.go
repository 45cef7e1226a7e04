//go:build linux

package pgbox

import (
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/pgtest"
)

// TestResumeWhileResubmitted: see msgboxtest.ResumeWhileResubmitted. The
// copy is stored through a second handle on the database (another
// operator's bizpipe messages, or another server): it waits for the lock
// Resume's transaction holds on the message, which the server shows.
func TestResumeWhileResubmitted(t *testing.T) {
	t.Parallel()
	b, url := openNew(t, Options{})
	other := openURL(t, url, Options{})
	watch := pgtest.Connect(t, url)
	msgboxtest.ResumeWhileResubmitted(t, b, other, func(fn func()) { b.resumeChecked = fn }, func(done <-chan struct{}) {
		for {
			if lockWaited(t, watch) {
				return
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond): // polls a condition; no timing is assumed
			}
		}
	})
}
