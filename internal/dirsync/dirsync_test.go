package dirsync

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/testfs"
)

func TestSync(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Sync(dir); err != nil {
		t.Errorf("Sync(%s): %v", dir, err)
	}
	missing := filepath.Join(dir, "missing")
	if err := Sync(missing); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Sync of a missing directory: %v, want ErrNotExist naming it", err)
	}
}

// TestSyncFIFO: a FIFO put where the directory was (by whoever may write
// to its parent) fails the sync; it is not opened, which would wait for a
// writer for ever.
func TestSyncFIFO(t *testing.T) {
	fifo := testfs.MakeFIFO(t, filepath.Join(t.TempDir(), "in"))
	if err := testfs.Within(t, "Sync of a FIFO", func() error { return Sync(fifo) }); err == nil {
		t.Error("Sync of a FIFO: nil error, want it refused as not a directory")
	}
}

// TestGroupShares: callers arriving while a sync runs share the next one,
// and every caller's sync starts after its call.
func TestGroupShares(t *testing.T) {
	var (
		calls   atomic.Int64
		started = make(chan struct{})
		release = make(chan struct{})
		mu      sync.Mutex
		starts  []time.Time
	)
	g := &Group{SyncFunc: func(dir string) error {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		if calls.Add(1) == 1 {
			close(started)
			<-release // hold the first sync while the others queue
		}
		return nil
	}}
	first := make(chan error, 1)
	go func() { first <- g.Sync("d") }()
	<-started

	const n = 20
	var wg sync.WaitGroup
	callAt := make([]time.Time, n)
	for i := range n {
		wg.Add(1)
		callAt[i] = time.Now()
		go func() {
			defer wg.Done()
			if err := g.Sync("d"); err != nil {
				t.Errorf("Sync: %v", err)
			}
		}()
	}
	// Let every waiter queue behind the held sync, then release it.
	for end := time.Now().Add(time.Minute); g.waiting("d") < n; {
		if time.Now().After(end) {
			t.Fatalf("%d of %d callers queued behind the held sync", g.waiting("d"), n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("%d syncs for %d concurrent callers behind one running sync, want 2", got, n+1)
	}
	mu.Lock()
	defer mu.Unlock()
	last := starts[len(starts)-1]
	for i, at := range callAt {
		if last.Before(at) {
			t.Errorf("caller %d called at %v, after the last sync started (%v)", i, at, last)
		}
	}
}

// waiting returns how many callers wait for dir's next round.
func (g *Group) waiting(dir string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.dirs[dir]; st != nil && st.next != nil {
		return st.next.joined
	}
	return 0
}

func TestGroupError(t *testing.T) {
	boom := errors.New("boom")
	g := &Group{SyncFunc: func(string) error { return boom }}
	if err := g.Sync("d"); !errors.Is(err, boom) {
		t.Errorf("Sync: %v, want the sync's error", err)
	}
	// A failed round does not poison the next one.
	g.SyncFunc = func(string) error { return nil }
	if err := g.Sync("d"); err != nil {
		t.Errorf("Sync after a failed round: %v", err)
	}
}

// TestGroupDirs: different directories are synced separately.
func TestGroupDirs(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	g := &Group{SyncFunc: func(dir string) error {
		mu.Lock()
		seen[dir]++
		mu.Unlock()
		return nil
	}}
	for _, d := range []string{"a", "b", "a"} {
		if err := g.Sync(d); err != nil {
			t.Fatal(err)
		}
	}
	if seen["a"] != 2 || seen["b"] != 1 {
		t.Errorf("syncs per directory = %v, want a:2 b:1 (sequential calls share nothing)", seen)
	}
}

func TestGroupReal(t *testing.T) {
	dir := t.TempDir()
	var g Group
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := filepath.Join(dir, string(rune('a'+i)))
			if err := os.WriteFile(name, nil, 0o600); err != nil {
				t.Error(err)
				return
			}
			if err := g.Sync(dir); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := g.Sync(filepath.Join(dir, "missing")); err == nil {
		t.Error("Sync of a missing directory: no error")
	}
}

// TestFSGroupShares: callers syncing one file system through different
// directories share rounds, each round run with its leader's directory;
// callers on another file system get rounds of their own.
func TestFSGroupShares(t *testing.T) {
	var (
		mu      sync.Mutex
		rounds  []string // the directory each round synced through
		started = make(chan struct{})
		release = make(chan struct{})
	)
	g := &FSGroup{SyncFunc: func(dir string) error {
		mu.Lock()
		rounds = append(rounds, dir)
		first := len(rounds) == 1
		mu.Unlock()
		if first {
			close(started)
			<-release // hold the first round while the others queue
		}
		return nil
	}}
	one, other := FS{Dev: 1, SyncFS: true}, FS{Dev: 2, SyncFS: true}
	first := make(chan error, 1)
	go func() { first <- g.Sync("a", one) }()
	<-started

	var wg sync.WaitGroup
	for i := range 20 {
		dir := []string{"a", "b"}[i%2]
		wg.Go(func() {
			if err := g.Sync(dir, one); err != nil {
				t.Errorf("Sync: %v", err)
			}
		})
	}
	// All 20 queue behind the held round.
	for end := time.Now().Add(time.Minute); g.g.waiting("1") < 20; {
		if time.Now().After(end) {
			t.Fatalf("%d of 20 callers queued behind the held round", g.g.waiting("1"))
		}
		time.Sleep(time.Millisecond)
	}
	// Another file system's round is not held up by file system 1's.
	if err := g.Sync("c", other); err != nil {
		t.Fatal(err)
	}
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Directories a and b sharing rounds by directory would take a round
	// each.
	if len(rounds) != 3 || rounds[0] != "a" || !slices.Contains(rounds, "c") {
		t.Errorf("rounds through %v for 21 callers on one file system through a and b behind a held round, and one on another: "+
			"want the held one, c's own, and one for the 20", rounds)
	}
}
