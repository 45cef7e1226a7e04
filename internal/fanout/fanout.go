// Package fanout runs a slice's worth of work on a few goroutines.
package fanout

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Each calls fn(0) to fn(n-1), each once, on up to limit goroutines that
// take the indexes in order, and returns once all calls have returned.
// With one call or a limit of 1 or less it calls fn in the caller's
// goroutine, in order.
//
// A call that panics in a goroutine of Each's own does not end the
// process: the other calls go on, and once all have returned Each panics
// in the caller's goroutine, with a *Panic holding the first such panic,
// where the caller can recover it as if fn had panicked there.
func Each(n, limit int, fn func(i int)) {
	if n == 1 || limit <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var first atomic.Pointer[Panic]
	call := func(i int) {
		defer func() {
			if p := recover(); p != nil {
				first.CompareAndSwap(nil, &Panic{Value: p, Stack: debug.Stack()})
			}
		}()
		fn(i)
	}
	var all sync.WaitGroup
	for range min(n, limit) {
		all.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				call(int(i))
			}
		})
	}
	all.Wait()
	if p := first.Load(); p != nil {
		panic(p)
	}
}

// Panic is what Each panics with when a call panicked in another
// goroutine: what it panicked with, and that goroutine's stack, which the
// caller's does not show.
type Panic struct {
	Value any
	Stack []byte
}

// String is what the runtime prints of a Panic nobody recovered.
func (p *Panic) String() string {
	return fmt.Sprintf("%v [in a goroutine of fanout.Each]\n\n%s", p.Value, p.Stack)
}
