package pgbox

import (
	"errors"
	"io"
	"testing"

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
	u := (&Box{name: "pg"}).wrap(&uncertainError{io.ErrUnexpectedEOF}, "receive from %s", "in")
	if !errors.Is(u, msgbox.ErrCommitUncertain) || !errors.Is(u, ErrCommitUncertain) || !errors.Is(u, io.ErrUnexpectedEOF) {
		t.Errorf("an uncertain commit (%v): not msgbox.ErrCommitUncertain, pgbox.ErrCommitUncertain and its cause", u)
	}
	if lost := lostConn(&uncertainError{io.ErrUnexpectedEOF}); errors.Is(lost, msgbox.ErrCommitUncertain) {
		t.Errorf("a commit found not made (%v) is still uncertain", lost)
	}
}
