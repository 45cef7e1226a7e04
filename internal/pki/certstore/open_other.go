//go:build !unix

package certstore

import (
	"io"
	"os"
)

// storeFileReader is f itself.
func storeFileReader(f *os.File) io.Reader { return f }
