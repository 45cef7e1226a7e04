// Package filelock takes the exclusive lock a process holds on a file for as
// long as it runs (Lock), and the shared ones by which other processes ask
// a busy process for a turn at what it holds (Turn): flock on Unix,
// LockFileEx on Windows. The lock belongs to
// the open file, so the process's exit releases it however it ends, even by
// SIGKILL, and no stale lock file is ever left to clean up. It is advisory:
// it keeps out only the processes that take it too.
//
// The lock is on the file's inode, not its name: every path that reaches the
// file (a symbolic link, "..", a bind mount of its directory) meets the same
// lock.
package filelock

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrHeld is what Acquire's error wraps when another holder has the lock:
// another process, or another Acquire in this one.
var ErrHeld = errors.New("lock held by another process")

// HeldError reports a lock that another process holds.
type HeldError struct {
	// Path is the lock file.
	Path string
	// PID is the process id the holder wrote into the lock file, 0 if it
	// could not be read (the holder may be between locking and writing it).
	PID int
}

func (e *HeldError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s: held by process %d", e.Path, e.PID)
	}
	return fmt.Sprintf("%s: held by another process", e.Path)
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Lock is a held lock.
type Lock struct {
	f *os.File
}

// Acquire creates the file at path (mode 0600) if it does not exist and
// locks it, without waiting: a lock held elsewhere fails at once with a
// *HeldError. The holder's process id is written into the file, for the
// error another process gets. The file is never removed: removing it would
// let a process lock a new file of the same name while another holds the
// old one.
func Acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, &HeldError{Path: path, PID: readPID(path)}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// The process id is information, not part of the lock: failing to
	// write it leaves the lock as good.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release unlocks the file by closing it. A second Release returns nil.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	return closeOnce(&l.f)
}

// closeOnce closes *f and clears it; nil when it is already.
func closeOnce(f **os.File) error {
	if *f == nil {
		return nil
	}
	err := (*f).Close()
	*f = nil
	return err
}

// readPID reads the process id a holder wrote into path; 0 if there is none.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
