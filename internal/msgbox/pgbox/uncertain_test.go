package pgbox

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// TestCommitUncertainIsTheBoxs: a commit this box cannot tell is
// msgbox.ErrCommitUncertain to a source, which then keeps its message
// under its key (a file receive location's claim) instead of sending it
// again as new; pgbox.ErrCommitUncertain still tells it too.
func TestCommitUncertainIsTheBoxs(t *testing.T) {
	if !errors.Is(ErrCommitUncertain, msgbox.ErrCommitUncertain) {
		t.Error("pgbox.ErrCommitUncertain does not wrap msgbox.ErrCommitUncertain")
	}
	u := (&Box{name: "pg"}).wrap(&uncertainError{err: io.ErrUnexpectedEOF}, "receive from %s", "in")
	if !errors.Is(u, msgbox.ErrCommitUncertain) || !errors.Is(u, ErrCommitUncertain) || !errors.Is(u, io.ErrUnexpectedEOF) {
		t.Errorf("an uncertain commit (%v): not msgbox.ErrCommitUncertain, pgbox.ErrCommitUncertain and its cause", u)
	}
	if lost := lostConn(&uncertainError{err: io.ErrUnexpectedEOF}); errors.Is(lost, msgbox.ErrCommitUncertain) {
		t.Errorf("a commit found not made (%v) is still uncertain", lost)
	}
}

// TestLookContext: the look after a lost commit outlives its caller's
// context, which may be what cut the commit short, by lateCommitWait, and
// no more: a stop during an outage is not held up for the look's retries
// (Options.ReconnectTimeout).
func TestLookContext(t *testing.T) {
	t.Parallel()
	ctx, end := context.WithCancel(t.Context())
	look, cancel := lookContext(ctx)
	defer cancel()
	end()
	ended := time.Now()
	time.Sleep(10 * time.Millisecond)
	if look.Err() != nil {
		t.Fatalf("the look ended with its caller's context: %v", look.Err())
	}
	select {
	case <-look.Done():
		if took := time.Since(ended); took < lateCommitWait {
			t.Errorf("the look ended %v after its caller's context, want %v", took, lateCommitWait)
		}
	case <-time.After(lateCommitWait + 5*time.Second):
		t.Errorf("the look lasts more than %v after its caller's context", lateCommitWait+5*time.Second)
	}

	look, cancel = lookContext(t.Context())
	cancel()
	if look.Err() == nil {
		t.Error("the look outlived its cancel")
	}
}
