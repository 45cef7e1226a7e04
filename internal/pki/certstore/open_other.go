//go:build !unix

package certstore

import (
	"io"
	"os"
)

// openStoreFile opens a store file for reading. Outside Unix there are no
// FIFOs or devices among a directory's files to wait on (Windows named pipes
// live in their own namespace), and readFile still refuses anything that is
// not a regular file before reading it.
func openStoreFile(path string) (*os.File, error) { return os.Open(path) }

// storeFileReader is f itself.
func storeFileReader(f *os.File) io.Reader { return f }
