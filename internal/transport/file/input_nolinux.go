//go:build unix && !linux

package file

import "os"

// openedInput wraps fd, an input opened by openNoFollow, in an *os.File,
// which sees O_NONBLOCK and leaves the flags alone.
func openedInput(fd int, path string) inputFile { return os.NewFile(uintptr(fd), path) }
