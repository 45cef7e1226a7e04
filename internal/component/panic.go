package component

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/bizpipe/bizpipe/internal/fanout"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

// InternalError is a panic recovered in a component's code (a bug): the
// error of the call it happened in, so that it fails the one message that
// found it rather than the whole process, which would die again at every
// retry of that message. It is Permanent (Recover marks it so): a bug
// fails the same way every time.
type InternalError struct {
	// In names what panicked ("transport \"file\""); "" when the error is
	// named by whoever returns it (a stage's, by the runner).
	In    string
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack, for the log
	// reported is set by the first Report: an error shared by several
	// outcomes (a batch commit's) is logged once.
	reported atomic.Bool
}

func (e *InternalError) Error() string {
	in := ""
	if e.In != "" {
		in = " in " + e.In
	}
	return fmt.Sprintf("internal error%s (a bug in bizpipe, logged): panic: %s", in, PanicText(e.Value))
}

// maxPanicText is the longest panic value PanicText shows.
const maxPanicText = 200

// PanicText is p, a value passed to panic, as logs and a message's reason
// show it: its text when short, escaped (safetext.Field) so that a
// control character cannot forge a log line; otherwise only its type and
// the length of its text. A panic that a message finds may carry that
// message's bytes (a body or a header a parser choked on): a partner's
// data, megabytes of it, must not reach the log. Whole or not at all,
// never a prefix: a sensitive value cut in two would no longer be hidden
// by its redaction. Where it was raised is in the stack, logged with it.
func PanicText(p any) string {
	s := fmt.Sprint(p)
	if len(s) <= maxPanicText {
		return safetext.Field(s)
	}
	return fmt.Sprintf("a %T, not shown (%d bytes as text: it may hold message data; the stack shows where it was raised)", p, len(s))
}

// Report reports whether this is the first call: whether the caller is
// the one to log the error with its stack.
func (e *InternalError) Report() bool { return e.reported.CompareAndSwap(false, true) }

// Recover, deferred by a function whose error result is *err, makes a
// panic in that function (in the goroutine that deferred it) its error: a
// Permanent *InternalError naming in, with the stack where it panicked.
// Deferred directly (defer component.Recover(&err, in)), since recover
// works only there.
func Recover(err *error, in string) {
	if p := recover(); p != nil {
		stack := debug.Stack()
		if fp, ok := p.(*fanout.Panic); ok {
			// Raised again by fanout.Each: where it happened is in
			// the stack of the goroutine that panicked first.
			p, stack = fp.Value, fp.Stack
		}
		*err = Permanent(&InternalError{In: in, Value: p, Stack: stack})
	}
}
