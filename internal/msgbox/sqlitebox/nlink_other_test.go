//go:build !unix

package sqlitebox

import "os"

// linkCount is how many names fi's file has: not told on this platform.
func linkCount(os.FileInfo) (n uint64, ok bool) { return 0, false }
