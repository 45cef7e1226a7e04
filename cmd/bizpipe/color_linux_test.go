//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal: the controller side, to read what
// is written to the terminal, and the terminal side.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	ptmx = os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pseudo-terminal: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the terminal side: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return ptmx, tty
}

// onTerminal runs the CLI with stdout and stderr on a new terminal and
// returns the exit status and what appeared on the terminal.
func onTerminal(t *testing.T, args ...string) (int, string) {
	ptmx, tty := openPTY(t)
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&out, ptmx) // ends with EIO once the terminal side is closed
		close(done)
	}()
	code := run(args, tty, tty, lookupIn(nil))
	tty.Close()
	<-done
	return code, out.String()
}

// TestColorOnTerminal is the positive control of TestNoColorOffTerminal: on
// a real terminal there is colour, unless NO_COLOR is set to a value (an
// empty one does not count: https://no-color.org) or TERM is "dumb".
func TestColorOnTerminal(t *testing.T) {
	_, tty := openPTY(t)
	cases := []struct {
		vars map[string]string
		want bool
	}{
		{map[string]string{}, true},
		{map[string]string{"TERM": "xterm-256color"}, true},
		{map[string]string{"NO_COLOR": "1"}, false},
		{map[string]string{"NO_COLOR": ""}, true},
		{map[string]string{"TERM": "dumb"}, false},
	}
	for _, c := range cases {
		if got := wantsColor(tty, lookupIn(c.vars)); got != c.want {
			t.Errorf("terminal with environment %v: colour %v, want %v", c.vars, got, c.want)
		}
	}

	// End to end: the text report on a terminal is coloured (the same
	// report as in the no_color script, which has none); JSON never is.
	code, out := onTerminal(t, "validate", examplesDir+"/misconfigured")
	if code != exitFindings {
		t.Errorf("validate exit status %d, want %d", code, exitFindings)
	}
	if !strings.Contains(out, "[BP3002]") || !strings.Contains(out, "\x1b[") {
		t.Errorf("text report on a terminal: want BP3002 in colour, got %q", out)
	}
	code, out = onTerminal(t, "validate", "--format", "json", examplesDir+"/misconfigured")
	if code != exitFindings {
		t.Errorf("validate exit status %d, want %d", code, exitFindings)
	}
	if !strings.Contains(out, `"code": "BP3002"`) || strings.Contains(out, "\x1b") {
		t.Errorf("JSON report on a terminal: want BP3002 without colour, got %q", out)
	}
}
