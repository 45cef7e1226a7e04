//go:build unix

package dirsync

import "syscall"

// openDirFlags opens a directory to sync it. O_DIRECTORY: whatever was put
// at its path since (a FIFO, a link to one) fails with ENOTDIR instead of
// being opened - the open of a FIFO would wait for a writer for ever.
const openDirFlags = syscall.O_RDONLY | syscall.O_DIRECTORY
