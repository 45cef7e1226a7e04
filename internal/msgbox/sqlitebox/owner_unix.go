//go:build unix

package sqlitebox

import (
	"fmt"
	"os"
	"syscall"
)

// A fileOwner is the owner and group that the files a process creates
// beside a box's database (its marker, the bodies directory and the body
// files in it, the lock a migration takes) are given: the database file's,
// when the process runs as root and the database is another user's. An
// operator may run bizpipe messages as root (sudo) on the box of a run
// that runs as a service account; a file left root's and private (0600)
// would lock that run out: a marker it cannot read stops it at start, a
// body file it cannot open fails the message's deliveries. SQLite gives
// the -wal and -shm files it creates the database file's owner so, for the
// same reason. The zero value changes nothing.
type fileOwner struct {
	uid, gid int
	set      bool
}

// ownerOf returns the fileOwner of the box whose database file is db:
// its owner and group when this process runs as root and they are not
// root's; the zero value otherwise (db does not exist yet: this process
// creates the box, and owns it).
func ownerOf(db string) fileOwner {
	if os.Geteuid() != 0 {
		return fileOwner{}
	}
	fi, err := os.Stat(db)
	if err != nil {
		return fileOwner{}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (int(st.Uid) == os.Geteuid() && int(st.Gid) == os.Getegid()) {
		return fileOwner{}
	}
	return fileOwner{uid: int(st.Uid), gid: int(st.Gid), set: true}
}

// give gives the file or directory name the owner o holds, if any.
func (o fileOwner) give(name string) error {
	if !o.set {
		return nil
	}
	if err := os.Lchown(name, o.uid, o.gid); err != nil {
		return fmt.Errorf("giving %s the owner of the box's database (uid %d, gid %d): %w", name, o.uid, o.gid, err)
	}
	return nil
}
