package fanout

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestEach: fn is called once for each index, whatever n and limit, with
// at most limit calls in flight; with a limit of 1, in order.
func TestEach(t *testing.T) {
	for _, tc := range []struct{ n, limit int }{{0, 4}, {1, 4}, {3, 4}, {4, 4}, {100, 4}, {10, 1}, {10, 0}} {
		calls := make([]atomic.Int32, tc.n)
		var inFlight, most, last atomic.Int32
		last.Store(-1)
		// Written by the calls, which may run at once.
		var outOfOrder atomic.Bool
		Each(tc.n, tc.limit, func(i int) {
			now := inFlight.Add(1)
			for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
			}
			if prev := last.Swap(int32(i)); prev != int32(i)-1 {
				outOfOrder.Store(true)
			}
			time.Sleep(100 * time.Microsecond) // long enough for the others to start
			calls[i].Add(1)
			inFlight.Add(-1)
		})
		for i := range calls {
			if c := calls[i].Load(); c != 1 {
				t.Errorf("n=%d limit=%d: fn(%d) called %d times", tc.n, tc.limit, i, c)
			}
		}
		if m := int(most.Load()); m > max(tc.limit, 1) {
			t.Errorf("n=%d limit=%d: %d calls in flight at once", tc.n, tc.limit, m)
		}
		if tc.limit <= 1 && outOfOrder.Load() {
			t.Errorf("n=%d limit=%d: calls out of order", tc.n, tc.limit)
		}
	}
}

// TestEachPanic: a call that panics in one of Each's goroutines does not
// end the process: the other calls all run, and Each panics in the
// caller's goroutine, where it can be recovered, with what the call
// panicked with and the stack where it did.
func TestEachPanic(t *testing.T) {
	calls := make([]atomic.Int32, 20)
	var got any
	func() {
		defer func() { got = recover() }()
		Each(len(calls), 4, func(i int) {
			calls[i].Add(1)
			if i == 7 {
				panic("a bug")
			}
		})
	}()
	p, ok := got.(*Panic)
	if !ok || p.Value != "a bug" || !strings.Contains(string(p.Stack), "TestEachPanic") {
		t.Fatalf("recovered %#v; want a *Panic with the value and the stack of the call", got)
	}
	for i := range calls {
		if c := calls[i].Load(); c != 1 {
			t.Errorf("fn(%d) called %d times", i, c)
		}
	}
}
