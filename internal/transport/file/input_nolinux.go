//go:build unix && !linux

package file

import "os"

// openedInput wraps fd, an input opened by openNoFollow, in an *os.File,
// which sees O_NONBLOCK and leaves the flags alone.
func openedInput(fd int, path string) inputFile { return os.NewFile(uintptr(fd), path) }

// holdUnwritten: without leases there is no telling whether another
// process still has a file open for writing, and may rewrite it after the
// box kept it as a body (see the Linux version): inputs are copied.
func holdUnwritten(inputFile) (release func() (held bool), ok bool) { return nil, false }
