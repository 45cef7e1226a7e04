package lsp

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/diag"
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

// TestVarFileDocument: a --var-file of the server opened in the editor is
// no configuration of its own: its directory (vars/, var-files alone, as
// the server's start checks) is not checked, which reported the file as
// misplaced in a configuration directory, advising to move it to where
// it is. Saved, or reported changed on disk, it has every configuration
// checked again, as each reads it: the findings its old values made
// stayed until the next edit of a configuration file.
func TestVarFileDocument(t *testing.T) {
	v := newVarFileSession(t, "p12_password = \"wrong-password\"\n")
	dir, text, vars, varFile, s, checked := v.dir, v.text, filepath.Dir(v.varFile), v.varFile, v.s, v.checked
	uri, varURI := pathToURI(filepath.Join(dir, "bizpipe.hcl")), pathToURI(varFile)
	s.open(uri, 1, text)
	s.open(varURI, 1, []byte("p12_password = \"wrong-password\"\n"))
	s.wg.Wait()
	if checked[vars] != 0 || s.dirs[vars] != nil {
		t.Errorf("the var-file's directory was checked as a configuration (%d checks)", checked[vars])
	}
	if checked[dir] != 1 || s.dirs[dir].snap == nil || !hasDiagCode(s.dirs[dir].snap, "BP2003") {
		t.Fatalf("%d checks of the configuration; want one, finding the wrong password (BP2003)", checked[dir])
	}

	// The right password, saved: the configuration is checked again.
	if err := os.WriteFile(varFile, []byte("p12_password = \"demo-only\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.save(didSaveParams{TextDocument: textDocumentIdentifier{URI: varURI}})
	s.wg.Wait()
	if checked[dir] != 2 || hasDiagCode(s.dirs[dir].snap, "BP2003") {
		t.Errorf("after the var-file was saved: %d checks of the configuration; want a second, without BP2003", checked[dir])
	}
	// Changed on disk by another program, as the editor's watcher reports.
	s.filesChanged(didChangeWatchedFilesParams{Changes: []struct {
		URI string `json:"uri"`
	}{{URI: varURI}}})
	s.wg.Wait()
	if checked[dir] != 3 || checked[vars] != 0 {
		t.Errorf("after the var-file changed on disk: %d checks of the configuration, %d of the var-file's directory; want a third, none", checked[dir], checked[vars])
	}
	s.stop()
}

// A varFileSession is a server started with a --var-file, vars/dev.hcl
// in a directory of its own, and a copy of the quickstart configuration
// in dir, whose bizpipe.hcl is text. checked counts its checks by
// directory.
type varFileSession struct {
	dir, varFile string
	text         []byte
	s            *server
	checked      map[string]int
}

func newVarFileSession(t *testing.T, values string) varFileSession {
	t.Helper()
	v := varFileSession{dir: t.TempDir(), checked: map[string]int{}}
	if err := os.CopyFS(v.dir, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	var err error
	if v.text, err = os.ReadFile(filepath.Join(v.dir, "bizpipe.hcl")); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(t.TempDir(), "vars")
	v.varFile = filepath.Join(vars, "dev.hcl")
	if err := os.Mkdir(vars, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v.varFile, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	if v.s, err = newServer(jsonrpc.NewConn(strings.NewReader(""), io.Discard), Options{Debounce: time.Millisecond, VarFiles: []string{v.varFile}}); err != nil {
		t.Fatal(err)
	}
	v.s.check = func(dir string, overlay map[string][]byte) *snapshot {
		v.checked[dir]++ // the checks of a server are one at a time (checking)
		return v.s.checker.check(dir, overlay)
	}
	return v
}

func hasDiagCode(snap *snapshot, code string) bool {
	for _, d := range snap.diags {
		if string(diag.CodeOf(d)) == code {
			return true
		}
	}
	return false
}

// TestVarFileCompletion: a --var-file open in the editor is NAME = VALUE
// lines, which the configuration's block and attribute names are not:
// completion offers none there, as in any file that is not configuration.
// It offered group, host, ... at the start of a line, each a block the
// var-file's reader refuses.
func TestVarFileCompletion(t *testing.T) {
	v := newVarFileSession(t, "p12_password = \"x\"\n")
	uri := pathToURI(v.varFile)
	v.s.open(uri, 1, []byte("p12_password = \"x\"\n"))
	for _, at := range []Position{{Line: 0}, {Line: 1}, {Line: 0, Character: len("p12_password = ")}} {
		if l := v.s.completion(positionParams{TextDocument: textDocumentIdentifier{URI: uri}, Position: at}); len(l.Items) != 0 {
			t.Errorf("completion in the var-file at %+v: %+v, want none", at, l.Items)
		}
	}
	v.s.stop()
}
