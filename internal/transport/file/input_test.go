package file

import (
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestFileUnreadableInputIsNotLoggedEveryPass: an input file the service
// account cannot open (EACCES, as for another user's file of mode 0600) is
// given back on every pass, but logged once, again only after minutes while
// it lasts, and once more when it is resolved; other files are received
// meanwhile. The test runs as root, which opens anything, so it makes open
// answer what the system answers the service account; the claim, give-back
// and listing are real.
func TestFileUnreadableInputIsNotLoggedEveryPass(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "locked.xml", "order 1")
	writeFile(t, dir, "ok1.xml", "order 2")
	rec := transporttest.NewRecorder()
	f, lr := newTestFile(t, fileOpts(dir), rec)
	var locked atomic.Bool
	locked.Store(true)
	open := f.open
	f.open = func(path string) (inputFile, error) {
		if locked.Load() && strings.HasSuffix(path, "-locked.xml") {
			return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES}
		}
		return open(path)
	}
	clock := time.Now()
	f.now = func() time.Time { return clock }
	problems := func() int { return lr.CountFile("locked.xml", slog.LevelWarn) }

	for i := range 5 {
		if i == 2 {
			writeFile(t, dir, "ok2.xml", "order 3")
		}
		poll(t, f)
		if got := names(t, dir); !slices.Contains(got, "locked.xml") || slices.ContainsFunc(got, isClaim) {
			t.Fatalf("pass %d left %v, want locked.xml back under its name", i, got)
		}
	}
	if n := problems(); n != 1 {
		t.Fatalf("the unreadable file was logged %d times over 5 passes, want once", n)
	}
	if attrs, ok := lr.FindFile("locked.xml", slog.LevelWarn); !strings.Contains(attrs["error"], "permission denied") {
		t.Errorf("problem log %v, %v; want the error", attrs, ok)
	}
	poll(t, f)
	if got := len(rec.All()); got != 2 {
		t.Fatalf("published %d, want the 2 readable files", got)
	}
	clock = clock.Add(time.Minute)
	poll(t, f)
	if n := problems(); n != 1 {
		t.Fatalf("logged %d times a minute later, want still once", n)
	}
	clock = clock.Add(time.Hour) // still unreadable an hour later: said again, once
	for range 3 {
		poll(t, f)
	}
	if n := problems(); n != 2 {
		t.Fatalf("logged %d times an hour later, want a second time", n)
	}
	locked.Store(false) // the operator fixed the permissions
	for range 3 {
		poll(t, f)
	}
	if got := rec.All(); len(got) != 3 || got[2].In.FileName != "locked.xml" || string(got[2].Body) != "order 1" {
		t.Fatalf("published %v, want locked.xml once it is readable", got)
	}
	if n := problems(); n != 2 {
		t.Errorf("problem logged %d times in all, want 2", n)
	}
	if n := lr.CountFile("locked.xml", slog.LevelInfo) - problems(); n != 1 {
		t.Errorf("the resolution was logged %d times, want once", n)
	}
}

func isClaim(name string) bool { return strings.HasPrefix(name, claimPrefix) }
