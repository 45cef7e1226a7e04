//go:build !unix

package cpubench

import (
	"testing"
	"time"
)

// processCPU is not measured on this platform: the metric reports 0.
func processCPU(*testing.B) time.Duration { return 0 }
