package component_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/component"
)

// TestPanicText: a short panic value is shown, escaped so that it stays on
// one line; a long one (a message's bytes, maybe) only by type and length,
// never a prefix of it.
func TestPanicText(t *testing.T) {
	var nilMap map[string]int
	runtimeErr := func() (p any) {
		defer func() { p = recover() }()
		nilMap["x"] = 1
		return nil
	}()
	long := strings.Repeat("x", 201)
	for _, tc := range []struct {
		name string
		p    any
		want string
	}{
		{"string", "cms: GCM needs a 128-bit block cipher", "cms: GCM needs a 128-bit block cipher"},
		{"runtime error", runtimeErr, "assignment to entry in nil map"},
		{"control characters", "bad\x1b[2J\nline", `"bad\x1b[2J\nline"`},
		{"longest shown", long[:200], long[:200]},
		{"long string", long, "a string, not shown (201 bytes as text: it may hold message data; the stack shows where it was raised)"},
		{"long error", errors.New(long), "a *errors.errorString, not shown (201 bytes as text: it may hold message data; the stack shows where it was raised)"},
		{"long bytes", []byte(long), "a []uint8, not shown (805 bytes as text: it may hold message data; the stack shows where it was raised)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := component.PanicText(tc.p); got != tc.want {
				t.Errorf("PanicText = %q, want %q", got, tc.want)
			}
		})
	}
}
