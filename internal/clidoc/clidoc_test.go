package clidoc

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestExitCodes(t *testing.T) {
	codes := []ExitCode{
		{0, "no errors (warnings allowed)"},
		{1, "errors, or warnings with --strict"},
		{2, "validate could not run (bad usage, no configuration files)"},
	}
	cmd := &cobra.Command{Use: "validate", Short: "Validate", Long: "Validate checks.\n"}
	SetExitCodes(cmd, codes...)
	if got := ExitCodes(cmd); !reflect.DeepEqual(got, codes) {
		t.Errorf("ExitCodes = %v, want %v", got, codes)
	}
	// The help states them, wrapped as the hand-written help texts are.
	const want = "Validate checks.\n\nExit status: 0 no errors (warnings allowed); 1 errors, or warnings with\n--strict; 2 validate could not run (bad usage, no configuration files)."
	if cmd.Long != want {
		t.Errorf("Long = %q, want %q", cmd.Long, want)
	}
	if got := LongWithoutExitCodes(cmd); got != "Validate checks." {
		t.Errorf("LongWithoutExitCodes = %q", got)
	}
	if ExitCodes(&cobra.Command{Use: "x"}) != nil {
		t.Error("a command without exit codes has some")
	}
}

// TestExitCodesNoLong checks that a command without long help keeps its
// short description in the help once the exit codes are added.
func TestExitCodesNoLong(t *testing.T) {
	cmd := &cobra.Command{Use: "version", Short: "Print the version"}
	SetExitCodes(cmd, ExitCode{0, "printed"}, ExitCode{2, "bad usage"})
	if cmd.Long != "Print the version.\n\nExit status: 0 printed; 2 bad usage." {
		t.Errorf("Long = %q", cmd.Long)
	}
	if got := LongWithoutExitCodes(cmd); got != "" {
		t.Errorf("LongWithoutExitCodes = %q, want none", got)
	}
}

func TestSetExitCodesRefusesNewlines(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a meaning with a newline was accepted")
		}
	}()
	SetExitCodes(&cobra.Command{Use: "x"}, ExitCode{0, "two\nlines"})
}

func TestWrap(t *testing.T) {
	got := Wrap("aaa bbb ccc dddddddddd e", 7)
	if want := "aaa bbb\nccc\ndddddddddd\ne"; got != want {
		t.Errorf("Wrap = %q, want %q", got, want)
	}
	for _, line := range strings.Split(HelpParagraph([]ExitCode{{0, strings.Repeat("word ", 40)}}), "\n") {
		if len(line) > helpWidth {
			t.Errorf("line longer than %d: %q", helpWidth, line)
		}
	}
}
