//go:build !unix

package lang

import "os"

// openNoWait opens a configuration file for reading (Windows has no FIFOs
// that opening would wait on).
func openNoWait(name string) (*os.File, error) { return os.Open(name) }
