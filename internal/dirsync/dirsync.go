// Package dirsync makes directory entries (creations, renames, links,
// removals) durable, and lets concurrent callers share one fsync of a
// directory: group commit, as a database does for its log. On Linux it
// also syncs a whole file system at once (SyncFS), which an FSGroup
// shares the same way, where that is as good as an fsync of each file and
// directory (FileSystemOf).
package dirsync

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"github.com/bizpipe/bizpipe/internal/fsop"
)

// Sync fsyncs directory dir, so that the entries changed in it before the
// call survive a power failure. A file system that cannot sync a directory
// (EINVAL: some FUSE and SMB mounts) offers no stronger guarantee, and that
// is not an error; nor on Windows, where NTFS journals its metadata and a
// directory cannot be opened for FlushFileBuffers with os.Open.
func Sync(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := fsop.OpenFile(dir, openDirFlags, 0)
	if err != nil {
		return fmt.Errorf("opening directory %s to sync it: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// Group shares directory syncs among concurrent callers. A caller's sync
// must start after its call; while one sync of a directory runs, the
// callers that arrive meanwhile wait for it to end and then share the next
// one. With n concurrent callers a directory is synced about twice per
// round instead of n times. The zero Group is ready to use and syncs with
// Sync.
type Group struct {
	// SyncFunc, when set, replaces Sync (tests count calls with it).
	SyncFunc func(dir string) error

	mu   sync.Mutex
	dirs map[string]*dirState
}

type dirState struct {
	running bool   // a round is syncing
	next    *round // the round callers join; it starts when running ends
}

type round struct {
	lead   chan struct{} // one token: whoever takes it runs the round
	done   chan struct{}
	err    error
	joined int // callers, under Group.mu: tests wait for them to queue
}

// Sync returns once a sync of dir that started after the call has ended,
// with that sync's error.
func (g *Group) Sync(dir string) error {
	return g.run(dir, func() error {
		if g.SyncFunc != nil {
			return g.SyncFunc(dir)
		}
		return Sync(dir)
	})
}

// run returns once a round of key that started after the call has ended,
// with that round's error. A round runs the sync of the caller that leads
// it: callers of one key must pass syncs that do the same.
func (g *Group) run(key string, sync func() error) error {
	g.mu.Lock()
	if g.dirs == nil {
		g.dirs = map[string]*dirState{}
	}
	st := g.dirs[key]
	if st == nil {
		st = &dirState{}
		g.dirs[key] = st
	}
	r := st.next
	if r == nil {
		r = &round{lead: make(chan struct{}, 1), done: make(chan struct{})}
		st.next = r
		if !st.running {
			r.lead <- struct{}{}
		}
	}
	r.joined++
	g.mu.Unlock()

	select {
	case <-r.done:
		return r.err
	case <-r.lead:
	}
	// This caller runs round r; callers from now on form the next round,
	// as this sync may start before their changes.
	g.mu.Lock()
	st.running = true
	st.next = nil
	g.mu.Unlock()

	r.err = sync()
	close(r.done)

	g.mu.Lock()
	st.running = false
	if st.next != nil {
		st.next.lead <- struct{}{}
	} else {
		delete(g.dirs, key)
	}
	g.mu.Unlock()
	return r.err
}

// File is an open file as Written takes it: an *os.File, or a type of the
// caller's own over a bare descriptor.
type File interface {
	Fd() uintptr
	Name() string
	Sync() error
}

// FS is a file system as syncing it goes.
type FS struct {
	// Dev is its device number: st_dev of every file on it.
	Dev uint64
	// SyncFS says that SyncFS stands in for an fsync of each file and
	// directory changed on it (see FileSystemOf).
	SyncFS bool
}

// FSGroup shares SyncFS rounds as Group shares directory syncs, among
// the callers that sync one file system through any of its directories:
// the outputs of two ports in two directories of one file system take one
// syncfs(2) per round, not one each. The zero FSGroup is ready to use.
type FSGroup struct {
	// SyncFunc, when set, replaces a round's checks and SyncFS (tests
	// count rounds with it).
	SyncFunc func(dir string) error

	g Group
}

// Sync returns once a syncfs(2) of fs, which holds dir, that started after
// the call has ended, with that round's error. A round syncs through the
// directory of the caller that runs it, once it has checked that the
// directory is still on fs and fs still takes SyncFS; when not (a file
// system mounted over that directory since), the round syncs nothing and
// fails, for every caller that shares it, with an error wrapping
// ErrNotSyncFS.
func (g *FSGroup) Sync(dir string, fs FS) error {
	return g.g.run(strconv.FormatUint(fs.Dev, 10), func() error {
		if g.SyncFunc != nil {
			return g.SyncFunc(dir)
		}
		return syncFSOn(dir, fs.Dev)
	})
}
