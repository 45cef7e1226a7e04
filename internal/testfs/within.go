package testfs

import (
	"testing"
	"time"
)

// HangLimit is how long a call may take before Within calls it a hang. It
// detects a call that waits forever (on a FIFO, a device); it is not a
// performance bound.
const HangLimit = time.Minute

// Within runs fn in a goroutine and returns its result, failing t if it
// does not return within HangLimit. The goroutine of a hung call is left
// behind.
func Within[T any](t testing.TB, what string, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	select {
	case v := <-done:
		return v
	case <-time.After(HangLimit):
		t.Fatalf("%s did not return within %v: it hangs", what, HangLimit)
		panic("unreachable")
	}
}
