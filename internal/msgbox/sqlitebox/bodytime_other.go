//go:build !linux

package sqlitebox

import (
	"io/fs"
	"time"
)

// lastChange is when the file fi describes last changed. Only Linux keeps
// inputs by a link (msgbox.FileBody), whose modification time is their
// producer's; elsewhere a body file's is the box's own.
func lastChange(fi fs.FileInfo) time.Time { return fi.ModTime() }

// linkedInput: no input is kept by a link outside Linux.
func linkedInput(fs.FileInfo) bool { return false }
