//go:build !unix

package sqlitebox

import (
	"testing"
	"time"
)

// cpuTime is not measured here: the benchmarks report 0.
func cpuTime(*testing.B) time.Duration { return 0 }
