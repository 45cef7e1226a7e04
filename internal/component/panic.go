package component

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/bizpipe/bizpipe/internal/fanout"
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
	return fmt.Sprintf("internal error%s (a bug in bizpipe, logged): panic: %v", in, e.Value)
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
