package filelock

import (
	"errors"
	"fmt"
	"os"
)

// A Turn is a file through which processes that wait for a resource ask
// the process that holds it most of the time for a turn. SQLite's write
// lock is such a resource: a busy engine takes it again microseconds after
// each commit, while another process waiting for it only looks again after
// sleeps of up to 100 ms, so that with enough work queued the waiter may
// wait for seconds, or give up. A waiter holds a shared lock on the file
// while it waits and works (Ask, then Done); the holder, before it takes
// the resource again, asks whether anyone holds one (Asked) and, if so,
// leaves the resource alone for a moment.
//
// Like Lock, it is advisory and on the file's inode; a process's exit
// releases what it held, however it ends.
type Turn struct {
	f *os.File
}

// OpenTurn opens the turn file at path, read-only (the locks need no
// more), creating it (mode 0600, empty) when create is true and it is
// missing.
func OpenTurn(path string, create bool) (*Turn, error) {
	flag := os.O_RDONLY
	if create {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening turn file: %w", err)
	}
	return &Turn{f: f}, nil
}

// Ask takes a shared lock on the file, without waiting, and reports whether
// it did: it fails only while a holder is in Asked, for a moment, or when
// another process holds the file exclusively. Done releases it.
func (t *Turn) Ask() bool {
	return lockShared(t.f) == nil
}

// Done releases what Ask took.
func (t *Turn) Done() {
	_ = unlock(t.f)
}

// Asked reports whether another open file description of the file holds a
// shared lock (Ask): it takes an exclusive lock without waiting, and
// releases it at once when it gets it. An error other than the lock being
// held reports false: a turn nobody can ask for is never given.
func (t *Turn) Asked() bool {
	err := tryLock(t.f)
	if err == nil {
		_ = unlock(t.f)
		return false
	}
	return errors.Is(err, errWouldBlock)
}

// Close closes the file, releasing any lock on it.
func (t *Turn) Close() error {
	if t == nil {
		return nil
	}
	return closeOnce(&t.f)
}
