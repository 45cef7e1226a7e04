package lsp

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/lsp/jsonrpc"
)

// TestClosedDirectoryForgotten: once the last document of a directory is
// closed, the server keeps nothing of it (its parsed files, its loaded
// certificate stores, its state) and checks it no more: not when it is
// closed, whose findings are only cleared, nor when a certificate file
// changes on disk. It kept them for the rest of the session, every
// directory ever opened, and checked each again at every change of a
// certificate file.
func TestClosedDirectoryForgotten(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(dir, "bizpipe.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(jsonrpc.NewConn(strings.NewReader(""), io.Discard), Options{Debounce: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checks := 0
	s.check = func(dir string, overlay map[string][]byte) *snapshot {
		checks++ // the checks of a server are one at a time (checking)
		return s.checker.check(dir, overlay)
	}
	// wait waits for the runs that what was sent scheduled.
	wait := func() {
		s.wg.Wait()
	}
	uri := pathToURI(filepath.Join(dir, "bizpipe.hcl"))
	s.open(uri, 1, text)
	wait()
	if checks != 1 || s.checker.caches[dir] == nil || s.dirs[dir] == nil {
		t.Fatalf("after open: %d checks, cache %v, state %v; want one check, kept", checks, s.checker.caches[dir], s.dirs[dir])
	}

	s.close(uri)
	wait()
	pem := pathToURI(filepath.Join(dir, "stores", "srv1_other_people", "fabrikam.pem"))
	s.filesChanged(didChangeWatchedFilesParams{Changes: []struct {
		URI string `json:"uri"`
	}{{URI: pem}}})
	wait()
	if checks != 1 {
		t.Errorf("%d checks after the directory was closed, want none", checks-1)
	}
	if s.checker.caches[dir] != nil {
		t.Error("the closed directory's caches (parsed files, certificate stores) are kept")
	}
	if s.dirs[dir] != nil {
		t.Error("the closed directory's state is kept")
	}

	// Opened again: checked again, from the files.
	s.open(uri, 1, text)
	wait()
	if checks != 2 || s.dirs[dir] == nil || s.dirs[dir].snap == nil {
		t.Errorf("after opening again: %d checks, state %v; want a second check", checks, s.dirs[dir])
	}

	// Closed, and a change on disk reported after the run of the close
	// has started (its timer fired, the run waits for the server's
	// lock): that run sees the change, forgets the directory, and the
	// change's own run, which comes after, finds nothing to do. Timers
	// of an hour are fired by hand, in that order.
	s.debounce = time.Hour
	s.close(uri)
	s.filesChanged(didChangeWatchedFilesParams{Changes: []struct {
		URI string `json:"uri"`
	}{{URI: uri}}})
	pending := s.dirs[dir].timer
	s.run(dir) // the close's, whose timer had fired
	if s.dirs[dir] != nil {
		t.Fatal("the closed directory's state is kept")
	}
	pending.Reset(0) // the change's
	wait()
	if checks != 2 || s.dirs[dir] != nil {
		t.Errorf("after the change's run: %d checks, state %v; want no check, no state", checks-2, s.dirs[dir])
	}
	s.stop()
}
