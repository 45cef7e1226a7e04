package sqlitebox

import (
	"io/fs"
	"syscall"
	"time"

	"github.com/bizpipe/bizpipe/internal/fsop"
)

// lastChange is when the body file fi describes last changed: its
// modification time, the box's own write; but for a kept input
// (linkedInput), the later of that and its inode's change time. Such a
// file carries its producer's modification time, however old, while
// linking it changed the inode when the box took it: judged by the
// modification time alone, a sweep could remove the link of a Receive in
// progress.
func lastChange(fi fs.FileInfo) time.Time {
	t := fi.ModTime()
	if c := fsop.ChangeTime(fi); linkedInput(fi) && c.After(t) {
		return c
	}
	return t
}

// linkedInput reports whether the body file fi describes has another name
// than the box's: an input kept by a link (msgbox.FileBody) whose claim
// was not yet removed.
func linkedInput(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 1
}
