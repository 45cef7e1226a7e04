//go:build !linux

package certstore

import "os"

// kernelFS reports no kernel pseudo-filesystem: only Linux's are known to
// hold zero-size files that generate content, or have effects, when read.
// readFile still bounds and never waits on such files elsewhere.
func kernelFS(*os.File) string { return "" }
