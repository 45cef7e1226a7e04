// Package cpubench reports, for benchmarks, the CPU time (user and
// system) the whole process spent per operation: on this shared machine
// wall time says little, and the work a benchmark measures is often done
// by goroutines other than its own (a message box's writer, its log
// syncer).
package cpubench

import (
	"testing"
)

// Start notes the process's CPU time so far and returns the function that
// reports, as the metric "cpu-µs/"+unit, the CPU time since then divided by
// b.N. Call it once the measured work is done. Where the platform does not
// tell (not Unix), the metric is 0.
func Start(b *testing.B, unit string) (report func()) {
	start := processCPU(b)
	return func() {
		b.ReportMetric(float64((processCPU(b)-start).Microseconds())/float64(b.N), "cpu-µs/"+unit)
	}
}
