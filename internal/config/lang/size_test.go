package lang

import (
	"strings"
	"testing"
)

// TestParseSize: a size (language §3: "sizes accept KiB/MiB/GiB") is a
// whole number of bytes with an optional unit, binary (KiB is 1024 bytes)
// or decimal (KB is 1000), written exactly; anything else, zero, and what
// does not fit in 63 bits are refused with the reason.
func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string // part of the error, "" for none
	}{
		{in: "1", want: 1},
		{in: "512B", want: 512},
		{in: "1KiB", want: 1024},
		{in: "64MiB", want: 64 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "1KB", want: 1000},
		{in: "5MB", want: 5_000_000},
		{in: "1GB", want: 1_000_000_000},
		{in: "3TB", want: 3_000_000_000_000},
		{in: " 64 MiB ", want: 64 << 20},
		{in: "007KiB", want: 7 << 10},
		{in: "8388607TiB", want: 8388607 << 40},
		{in: "8388608TiB", err: "is out of range"},
		{in: "9223372036854775807", want: 1<<63 - 1},
		{in: "9223372036854775808", err: "is out of range"},
		{in: "0", err: "is zero"},
		{in: "0MiB", err: "is zero"},
		{in: "", err: "does not start with a number"},
		{in: "MiB", err: "does not start with a number"},
		{in: "-1MiB", err: "does not start with a number"},
		{in: "+1MiB", err: "does not start with a number"},
		{in: "\u0661MiB", err: "does not start with a number"}, // ARABIC-INDIC DIGIT ONE
		{in: "1.5GiB", err: `unknown unit ".5GiB"`},
		{in: "1e6", err: `unknown unit "e6"`},
		{in: "64mib", err: `unknown unit "mib"`},
		{in: "64Mi", err: `unknown unit "Mi"`},
		{in: "64 M", err: `unknown unit "M"`},
		{in: "64MiB\x00", err: "unknown unit"},
		{in: "64MiBs", err: `unknown unit "MiBs"`},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseSize(%q) = %d, %v; want an error saying %q", tt.in, got, err, tt.err)
		}
	}
	if err := func() error { _, err := ParseSize("1 furlong"); return err }(); err == nil ||
		!strings.Contains(err.Error(), "(use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)") {
		t.Errorf("an unknown unit's error %v does not list the units", err)
	}
}
