// Package fanout runs a slice's worth of work on a few goroutines.
package fanout

import (
	"sync"
	"sync/atomic"
)

// Each calls fn(0) to fn(n-1), each once, on up to limit goroutines that
// take the indexes in order, and returns once all calls have returned.
// With one call or a limit of 1 or less it calls fn in the caller's
// goroutine, in order.
func Each(n, limit int, fn func(i int)) {
	if n == 1 || limit <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var all sync.WaitGroup
	for range min(n, limit) {
		all.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				fn(int(i))
			}
		})
	}
	all.Wait()
}
