//go:build unix

package lang

import (
	"os"
	"syscall"
)

// openNoWait opens a configuration file for reading without waiting:
// O_NONBLOCK makes opening a FIFO return at once instead of waiting for a
// writer, O_NOCTTY keeps a terminal from becoming the controlling terminal.
// Neither changes reading a regular file, the only kind read after it.
func openNoWait(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}
