package lang

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize parses a byte size: a whole number with an optional unit B, KiB,
// MiB, GiB or TiB (binary), or KB, MB, GB, TB (decimal). "64MiB" is 64<<20.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q does not start with a number", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	unit := strings.TrimSpace(t[i:])
	var mult int64
	if unit == "" {
		mult = 1
	}
	for _, u := range sizeUnits {
		if u.name == unit {
			mult = u.bytes
		}
	}
	if mult == 0 {
		return 0, fmt.Errorf("%q has unknown unit %q (use %s)", s, unit, orList(SizeUnits()))
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("%q is zero", s)
	}
	return n * mult, nil
}

// sizeUnits are the units of a size: binary, then decimal. A number without
// a unit is bytes.
var sizeUnits = []struct {
	name  string
	bytes int64
}{
	{"B", 1},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
}

// SizeUnits returns the units a size may have, in the order the reference
// lists them.
func SizeUnits() []string {
	out := make([]string, len(sizeUnits))
	for i, u := range sizeUnits {
		out[i] = u.name
	}
	return out
}

// orList joins xs as "a, b or c".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}
