//go:build !unix

package dirsync

import "os"

// openDirFlags opens a directory to sync it (Sync does not, on Windows).
const openDirFlags = os.O_RDONLY
