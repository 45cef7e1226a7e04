// Package lsp is bizpipe's language server: diagnostics, hovers over
// thumbprints, go to definition and completion for configuration files, for
// any editor with an LSP client. Package jsonrpc frames its messages.
//
// Diagnostics are those of `bizpipe validate` with no flags, for the whole
// configuration directory of each open file, with the editor's unsaved
// buffers laid over the files on disk. A change is validated after a short
// pause in typing (Options.Debounce); a result that a later change made
// stale is dropped, not published, and each publish names the version of
// the open document it validated.
package lsp

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/lsp/jsonrpc"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/registry"
)

// DefaultDebounce is the pause in typing after which a change is validated.
const DefaultDebounce = 150 * time.Millisecond

// ErrNoShutdown is returned by Serve when the client exits, or closes the
// stream, without asking the server to shut down first: the protocol's
// exit code 1.
var ErrNoShutdown = errors.New("the client ended the session without a shutdown request")

// Options controls Serve.
type Options struct {
	// LookupEnv reads BIZPIPE_VAR_* and env(), as validate does; nil means
	// no environment.
	LookupEnv func(string) (string, bool)
	// Vars and VarFiles are validate's --var NAME=VALUE arguments and
	// --var-file paths, given to every configuration the server checks
	// (a variable no configuration declares is an error, as in validate).
	// Relative paths are the server's working directory's.
	Vars, VarFiles []string
	// Registry holds the components; nil means the built-in ones.
	Registry *component.Registry
	// Debounce is the pause after a change before validating; zero means
	// DefaultDebounce.
	Debounce time.Duration
	// Now is the time certificates are checked against; nil means
	// time.Now.
	Now func() time.Time
	// Version is reported to the client as the server's version.
	Version string

	// check replaces the checker's check in tests (a check that takes
	// its time); nil means the checker's.
	check func(dir string, overlay map[string][]byte) *snapshot
	// exitWait and requestWait replace DefaultExitWait and
	// DefaultRequestWait in tests; zero means those.
	exitWait, requestWait time.Duration
}

// A check cannot be interrupted: it runs go-cty, which takes no context.
// The language bounds what a configuration's evaluation may build (a
// hostile buffer is refused within a second or two), but nothing durable
// is at stake in a check, so the server does not wait for one longer than
// these:
const (
	// DefaultExitWait is how long Serve, when the client exits or goes,
	// waits for a check in flight to end before it returns anyway: the
	// process exits, which ends the check.
	DefaultExitWait = 2 * time.Second
	// DefaultRequestWait is how long a request that needs a directory
	// checked (a hover in a document opened a moment ago) waits for the
	// check in flight; it is then answered from what the server has,
	// which may be nothing, so that the requests after it (shutdown)
	// are answered too.
	DefaultRequestWait = 2 * time.Second
)

// document is an open text document.
type document struct {
	uri  string
	path string // "" when the document is not a configuration file on disk
	// varFile: the document is one of the server's --var-files, which
	// every check reads from disk.
	varFile bool
	text    []byte // replaced, never modified: snapshots share it
	version int    // the client's, of text
}

// dirState is the validation state of one configuration directory.
type dirState struct {
	gen     uint64      // bumped on every change in the directory
	timer   *time.Timer // pending debounced run
	running bool
	rerun   bool      // a timer fired while a run was going
	snap    *snapshot // last published
	// published are this directory's findings in the files where its
	// last check found some: they must be cleared when they go, and
	// another directory's check publishes them too for a file both read
	// (a --var-file, whose diagnostics are every directory's).
	published map[string][]Diagnostic
}

type server struct {
	conn     *jsonrpc.Conn
	opts     Options
	debounce time.Duration

	// checking is held (a value in it) by the validation under way: one
	// at a time, as they share the store cache. It is a channel, not a
	// mutex, so that a request can stop waiting for it (requestWait).
	checking chan struct{}
	checker  *checker
	check    func(dir string, overlay map[string][]byte) *snapshot

	exitWait, requestWait time.Duration

	// root is the language's schema, which completion walks down: built
	// once, read only.
	root *schema
	// varFiles are the --var-files, as the server's start found them:
	// read only.
	varFiles varFileSet

	// publishing is held by a directory's run from computing its
	// notifications to sending them (taken before mu), so that the
	// client gets them in the order they were computed: a file two
	// directories read (a --var-file) is published by both, each with
	// every directory's findings as they were, and the later computed
	// must arrive last.
	publishing sync.Mutex

	mu          sync.Mutex
	initialized bool
	// watch: the client watches files for the server (it registers its
	// watchers once the client is initialized).
	watch    bool
	shutdown bool
	closed   bool
	docs     map[string]*document // by URI
	dirs     map[string]*dirState
	wg       sync.WaitGroup // timers and runs in flight
}

// Serve runs a language server reading requests from r and writing to w
// until the client sends exit or closes r. It returns nil after a shutdown
// request, ErrNoShutdown without one, and the read error when the stream
// broke (a message cut off). Every goroutine it started has ended when it
// returns, but for a check still running after DefaultExitWait, which
// writes nothing more: the caller is to exit the process.
func Serve(r io.Reader, w io.Writer, opts Options) error {
	s, err := newServer(jsonrpc.NewConn(r, w), opts)
	if err != nil {
		return err
	}
	defer s.stop()
	for {
		m, err := s.conn.Read()
		if err != nil {
			var fe *jsonrpc.FrameError
			if errors.As(err, &fe) {
				s.logMessage(fe.Error())
				_ = fe.Reply(s.conn)
				continue
			}
			if errors.Is(err, io.EOF) {
				if s.isShutdown() {
					return nil
				}
				return ErrNoShutdown
			}
			return fmt.Errorf("reading from the client: %w", err)
		}
		if m.Method == "exit" {
			if s.isShutdown() {
				return nil
			}
			return ErrNoShutdown
		}
		s.handle(m)
	}
}

// newServer returns the server Serve runs on conn.
func newServer(conn *jsonrpc.Conn, opts Options) (*server, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if opts.Registry == nil {
		opts.Registry = registry.Builtin()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// A finding in a var-file is published for its URI, which only an
	// absolute path makes: resolve relative ones against the working
	// directory now, as they are read.
	varFiles := make([]string, len(opts.VarFiles))
	for i, p := range opts.VarFiles {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("--var-file %s: %w", p, err)
		}
		varFiles[i] = abs
	}
	opts.VarFiles = varFiles
	s := &server{
		conn:     conn,
		opts:     opts,
		debounce: opts.Debounce,
		checking: make(chan struct{}, 1),
		checker: &checker{lookupEnv: opts.LookupEnv, vars: opts.Vars, varFiles: opts.VarFiles,
			registry: opts.Registry, now: opts.Now},
		check:       opts.check,
		exitWait:    cmp.Or(opts.exitWait, DefaultExitWait),
		requestWait: cmp.Or(opts.requestWait, DefaultRequestWait),
		docs:        map[string]*document{},
		dirs:        map[string]*dirState{},
		root:        langSchema(lang.Blocks(), nil),
		varFiles:    newVarFileSet(opts.VarFiles),
	}
	if s.check == nil {
		s.check = s.checker.check
	}
	if s.debounce <= 0 {
		s.debounce = DefaultDebounce
	}
	return s, nil
}

func (s *server) isShutdown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// stop cancels pending runs and waits for those in flight, at most
// exitWait: a check cannot be interrupted, and one that is still running
// publishes nothing once it ends (closed).
func (s *server) stop() {
	s.mu.Lock()
	s.closed = true
	for _, ds := range s.dirs {
		if ds.timer != nil && ds.timer.Stop() {
			s.wg.Done()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(s.exitWait)
	defer timer.Stop()
	// Nothing is written to the client after exit: it may have closed
	// the stream, and a write to a closed stdout would end the process
	// with SIGPIPE.
	select {
	case <-done:
	case <-timer.C:
	}
}

// handle dispatches one message. A panic in a handler is a bug: it is
// reported to the client and the session goes on.
func (s *server) handle(m *jsonrpc.Message) {
	defer func() {
		if r := recover(); r != nil {
			s.logMessage(fmt.Sprintf("internal error handling %s: %v\n%s", m.Method, r, debug.Stack()))
			if m.IsRequest() {
				_ = s.conn.Reply(m.ID, nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("internal error: %v", r)})
			}
		}
	}()
	if m.Method == "" {
		return // a response to a request the server never sends
	}
	if !m.IsRequest() {
		s.notification(m)
		return
	}
	result, rerr := s.request(m)
	_ = s.conn.Reply(m.ID, result, rerr)
}

func (s *server) request(m *jsonrpc.Message) (any, *jsonrpc.Error) {
	s.mu.Lock()
	initialized, shutdown := s.initialized, s.shutdown
	s.mu.Unlock()
	if m.Method == "initialize" {
		if initialized {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "initialize sent twice"}
		}
		var p initializeParams
		_ = json.Unmarshal(m.Params, &p) // capabilities are optional: none read as none
		s.mu.Lock()
		s.initialized = true
		s.watch = p.Capabilities.Workspace.DidChangeWatchedFiles.DynamicRegistration
		s.mu.Unlock()
		return s.initializeResult(), nil
	}
	if !initialized {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeServerNotInitialized, Message: "the server is not initialized"}
	}
	if shutdown {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "the server is shut down"}
	}
	switch m.Method {
	case "shutdown":
		s.mu.Lock()
		s.shutdown = true
		s.mu.Unlock()
		return nil, nil
	case "textDocument/hover":
		var p positionParams
		if err := json.Unmarshal(m.Params, &p); err != nil {
			return nil, invalidParams(err)
		}
		if h := s.hover(p); h != nil {
			return h, nil
		}
		return nil, nil
	case "textDocument/definition":
		var p positionParams
		if err := json.Unmarshal(m.Params, &p); err != nil {
			return nil, invalidParams(err)
		}
		if loc := s.definition(p); loc != nil {
			return loc, nil
		}
		return nil, nil
	case "textDocument/completion":
		var p positionParams
		if err := json.Unmarshal(m.Params, &p); err != nil {
			return nil, invalidParams(err)
		}
		return s.completion(p), nil
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "method not supported: " + m.Method}
}

func invalidParams(err error) *jsonrpc.Error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid params: " + err.Error()}
}

func (s *server) initializeResult() any {
	type saveOptions struct {
		IncludeText bool `json:"includeText"`
	}
	return map[string]any{
		"capabilities": map[string]any{
			"textDocumentSync": map[string]any{
				"openClose": true,
				"change":    1, // full text on each change
				"save":      saveOptions{},
			},
			"hoverProvider":      true,
			"definitionProvider": true,
			"completionProvider": map[string]any{"triggerCharacters": []string{"\"", "."}},
		},
		"serverInfo": map[string]string{"name": "bizpipe", "version": s.opts.Version},
	}
}

func (s *server) notification(m *jsonrpc.Message) {
	s.mu.Lock()
	ready := s.initialized && !s.shutdown
	s.mu.Unlock()
	if !ready {
		return
	}
	var err error
	switch m.Method {
	case "initialized":
		s.registerWatchers()
	case "workspace/didChangeWatchedFiles":
		var p didChangeWatchedFilesParams
		if err = json.Unmarshal(m.Params, &p); err == nil {
			s.filesChanged(p)
		}
	case "textDocument/didOpen":
		var p didOpenParams
		if err = json.Unmarshal(m.Params, &p); err == nil {
			s.open(p.TextDocument.URI, p.TextDocument.Version, []byte(p.TextDocument.Text))
		}
	case "textDocument/didChange":
		var p didChangeParams
		if err = json.Unmarshal(m.Params, &p); err == nil {
			s.change(p)
		}
	case "textDocument/didSave":
		var p didSaveParams
		if err = json.Unmarshal(m.Params, &p); err == nil {
			s.save(p)
		}
	case "textDocument/didClose":
		var p didCloseParams
		if err = json.Unmarshal(m.Params, &p); err == nil {
			s.close(p.TextDocument.URI)
		}
	}
	if err != nil {
		s.logMessage(fmt.Sprintf("%s: invalid params: %v", m.Method, err))
	}
}

// watchedFiles are the glob patterns of the files whose change on disk
// can change a directory's findings: configuration files, and the files
// certificate stores read by extension (content decides the rest, which
// the next check finds anyway).
func watchedFiles() []string {
	var exts []string
	for _, e := range certstore.Extensions() {
		exts = append(exts, strings.TrimPrefix(e, "."))
	}
	return []string{"**/*.hcl", "**/*.hcl.json", "**/*.{" + strings.Join(exts, ",") + "}"}
}

// registerWatchers asks a client that watches files for servers to report
// changes to watchedFiles: a file edited in another program, a store's
// certificate replaced, a configuration file pulled by git. Without them
// the server finds such changes at the next check an editor change makes.
func (s *server) registerWatchers() {
	s.mu.Lock()
	watch := s.watch
	s.mu.Unlock()
	if !watch {
		return
	}
	var watchers []map[string]string
	for _, g := range watchedFiles() {
		watchers = append(watchers, map[string]string{"globPattern": g})
	}
	params, _ := json.Marshal(map[string]any{"registrations": []map[string]any{{
		"id": "bizpipe-watched-files", "method": "workspace/didChangeWatchedFiles",
		"registerOptions": map[string]any{"watchers": watchers},
	}}})
	// The client's answer is a response, which handle ignores.
	_ = s.conn.Write(&jsonrpc.Message{JSONRPC: "2.0", ID: json.RawMessage(`1`),
		Method: "client/registerCapability", Params: params})
}

// filesChanged checks again what files changed on disk may affect: the
// directory of a configuration file, when the server checks it; for any
// other file (a store's, a --var-file), every directory it checks, whose
// unchanged stores stay cached.
func (s *server) filesChanged(p didChangeWatchedFilesParams) {
	// Which changed file is a var-file is known from the file system,
	// which is asked before the lock is taken: nothing else waits on it.
	var paths []string
	all := false
	for _, c := range p.Changes {
		path, err := uriToPath(c.URI)
		if err != nil {
			continue
		}
		if s.varFiles.has(path) {
			all = true
			continue
		}
		paths = append(paths, path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dirs := map[string]bool{}
	for _, path := range paths {
		if dir := configDir(path); dir != "" {
			if s.dirs[dir] != nil {
				dirs[dir] = true
			}
			continue
		}
		all = true
	}
	for dir := range s.dirs {
		if all || dirs[dir] {
			s.scheduleLocked(dir)
		}
	}
}

func (s *server) logMessage(msg string) {
	_ = s.conn.Notify("window/logMessage", map[string]any{"type": 1, "message": "bizpipe: " + msg})
}

// configDir is the configuration directory of a file, "" when the file is
// not a configuration file.
func configDir(path string) string {
	if path == "" || !lang.IsConfigFileName(filepath.Base(path)) {
		return ""
	}
	return filepath.Dir(path)
}

func (s *server) open(uri string, version int, text []byte) {
	path, err := uriToPath(uri)
	if err != nil {
		path = ""
	}
	// A --var-file is no configuration file, whatever its name: its
	// directory is not a configuration (the server's start made sure).
	varFile := s.varFiles.has(path)
	if varFile {
		path = ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[uri] = &document{uri: uri, path: path, text: text, version: version, varFile: varFile}
	s.scheduleLocked(configDir(path))
}

// A varFileSet recognises the server's --var-files by whatever path an
// editor names them. Built at the server's start, it is read only after:
// asking it needs no lock, and reaches the file system for the path asked
// about only, never for the var-files.
type varFileSet struct {
	paths map[string]bool // each var-file's absolute path, and with its symbolic links resolved
	infos []os.FileInfo   // each var-file's identity, for os.SameFile
}

// newVarFileSet returns the set of the var-files at the absolute paths
// abs, as the file system has them now.
func newVarFileSet(abs []string) varFileSet {
	v := varFileSet{paths: map[string]bool{}}
	for _, p := range abs {
		v.paths[p] = true
		if real, err := filepath.EvalSymlinks(p); err == nil {
			v.paths[real] = true
		}
		if info, err := os.Stat(p); err == nil {
			v.infos = append(v.infos, info)
		}
	}
	return v
}

// has reports whether path is one of the var-files: the same path, once
// symbolic links are resolved (which stays true when a var-file is
// replaced by a new file, as an atomic save does), or the same file (a
// hard link or bind mount to one, as the start found it).
func (v varFileSet) has(path string) bool {
	if path == "" || len(v.paths) == 0 {
		return false
	}
	if v.paths[path] {
		return true
	}
	if real, err := filepath.EvalSymlinks(path); err == nil && v.paths[real] {
		return true
	}
	info, err := os.Stat(path)
	if err != nil {
		return false
	}
	for _, vi := range v.infos {
		if os.SameFile(info, vi) {
			return true
		}
	}
	return false
}

func (s *server) change(p didChangeParams) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[p.TextDocument.URI]
	if d == nil {
		return
	}
	text := d.text
	for _, c := range p.ContentChanges {
		if c.Range == nil {
			text = []byte(c.Text)
			continue
		}
		// A client that sends ranges although the server asked for full
		// text: apply them to a copy.
		start, end := offsetOf(text, c.Range.Start), offsetOf(text, c.Range.End)
		if end < start {
			start, end = end, start
		}
		next := make([]byte, 0, len(text)-(end-start)+len(c.Text))
		next = append(append(append(next, text[:start]...), c.Text...), text[end:]...)
		text = next
	}
	d.text, d.version = text, p.TextDocument.Version
	s.scheduleLocked(configDir(d.path))
}

func (s *server) save(p didSaveParams) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[p.TextDocument.URI]
	if d == nil {
		return
	}
	if p.Text != nil {
		d.text = []byte(*p.Text)
	}
	if d.varFile {
		// Saved, its values are those every check reads.
		for dir := range s.dirs {
			s.scheduleLocked(dir)
		}
		return
	}
	s.scheduleLocked(configDir(d.path))
}

func (s *server) close(uri string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[uri]
	if d == nil {
		return
	}
	delete(s.docs, uri)
	// The file on disk is what counts now.
	s.scheduleLocked(configDir(d.path))
}

// scheduleLocked (re)starts the debounce timer of dir.
func (s *server) scheduleLocked(dir string) {
	if dir == "" || s.closed {
		return
	}
	ds := s.dirs[dir]
	if ds == nil {
		ds = &dirState{published: map[string][]Diagnostic{}}
		s.dirs[dir] = ds
	}
	ds.gen++
	if ds.timer != nil && ds.timer.Stop() {
		s.wg.Done()
	}
	s.wg.Add(1)
	ds.timer = time.AfterFunc(s.debounce, func() {
		defer s.wg.Done()
		s.run(dir)
	})
}

// overlayLocked returns the open buffers by path, and their versions.
func (s *server) overlayLocked() (map[string][]byte, map[string]int) {
	texts, versions := map[string][]byte{}, map[string]int{}
	for _, d := range s.docs {
		if d.path != "" {
			texts[d.path], versions[d.path] = d.text, d.version
		}
	}
	return texts, versions
}

// run validates dir and publishes the result unless a change made it stale
// meanwhile (that change's own run publishes).
func (s *server) run(dir string) {
	s.mu.Lock()
	ds := s.dirs[dir]
	if s.closed || ds == nil {
		// nil: the directory was forgotten, by a run that started
		// after this one was scheduled and saw its change.
		s.mu.Unlock()
		return
	}
	if ds.running {
		ds.rerun = true
		s.mu.Unlock()
		return
	}
	ds.running = true
	var gen uint64
	for {
		gen = ds.gen
		overlay, versions := s.overlayLocked()
		open := s.openInLocked(dir)
		s.mu.Unlock()

		s.checking <- struct{}{}
		var snap *snapshot
		if open {
			snap = s.checkSafely(dir, overlay)
		} else {
			// Nothing of the directory is open: its findings are only
			// cleared (diagnosticsLocked), and what its checks keep
			// is freed, not held for the rest of the session.
			s.checker.forget(dir)
			snap = &snapshot{dir: dir, cfg: &model.Config{}}
		}
		<-s.checking

		s.publishing.Lock()
		s.mu.Lock()
		if s.closed {
			s.publishing.Unlock()
			break
		}
		if snap != nil && ds.gen == gen {
			snap.versions = versions
			if snap.decoded == nil && ds.snap != nil {
				snap.decoded = ds.snap.decoded
			}
			ds.snap = snap
			notes := s.diagnosticsLocked(ds, snap)
			s.mu.Unlock()
			for _, n := range notes {
				_ = s.conn.Notify("textDocument/publishDiagnostics", n)
			}
			s.mu.Lock()
		}
		s.publishing.Unlock()
		if !ds.rerun || s.closed {
			break
		}
		ds.rerun = false
	}
	ds.running = false
	if !s.closed && ds.gen == gen && !s.openInLocked(dir) && len(ds.published) == 0 {
		// Cleared, and no change since (one would have its run
		// pending): a file of the directory opened again starts anew,
		// and a certificate file changed on disk checks it no more.
		delete(s.dirs, dir)
	}
	s.mu.Unlock()
}

// openInLocked reports whether a document of dir is open.
func (s *server) openInLocked(dir string) bool {
	for _, d := range s.docs {
		if configDir(d.path) == dir {
			return true
		}
	}
	return false
}

// diagnosticsLocked turns snap's diagnostics into one notification per
// file: every file with findings, every file that had some last time (to
// clear them), and every open document of the directory. With no document
// of the directory open any more, it only clears. A file other directories
// also read (a --var-file) is published with their findings in it too:
// one notification replaces all of a file's diagnostics in the editor.
func (s *server) diagnosticsLocked(ds *dirState, snap *snapshot) []publishDiagnosticsParams {
	byFile := map[string][]Diagnostic{}
	diags := snap.diags
	var open []string
	for _, d := range s.docs {
		if configDir(d.path) == snap.dir {
			open = append(open, d.path)
			byFile[d.path] = []Diagnostic{}
		}
	}
	sort.Strings(open)
	for f := range ds.published {
		byFile[f] = []Diagnostic{}
	}
	if len(open) == 0 {
		// The last file of the directory was closed: its findings go
		// with it, as the editor has nothing of it open to fix.
		diags = nil
	}
	indexes := map[string]*lineIndex{}
	for _, d := range diags {
		var files []string
		var rng hcl.Range
		if d.Subject != nil && d.Subject.Filename != "" {
			rng = *d.Subject
			files = []string{rng.Filename}
		} else if f := diag.FileOf(d); snap.documents[f] {
			// About a file as a whole (one in UTF-16): at the top of
			// that file, not of open documents it is not about.
			files = []string{f}
		} else {
			// A finding about the configuration as a whole ("no group
			// block"), or about an entry no editor can open (a dangling
			// symbolic link, a FIFO named x.hcl): shown at the top of
			// each open file, the only place it can be seen.
			files = open
		}
		for _, f := range files {
			li := indexes[f]
			if li == nil {
				src, ok := snap.cfg.Sources[f]
				if !ok {
					src, ok = snap.texts[f], snap.texts[f] != nil
				}
				if _, open := snap.versions[f]; ok && open {
					li = newLineIndex(src)
					indexes[f] = li
				} else if ok {
					li = newDiskLineIndex(src)
					indexes[f] = li
				}
			}
			byFile[f] = append(byFile[f], toDiagnostic(d, rng, li))
		}
	}
	ds.published = map[string][]Diagnostic{}
	names := make([]string, 0, len(byFile))
	for f, list := range byFile {
		names = append(names, f)
		if len(list) > 0 {
			ds.published[f] = list
		}
	}
	sort.Strings(names)
	others := make([]string, 0, len(s.dirs))
	for dir, other := range s.dirs {
		if other != ds {
			others = append(others, dir)
		}
	}
	sort.Strings(others)
	out := make([]publishDiagnosticsParams, 0, len(names))
	for _, f := range names {
		list := slices.Clip(byFile[f]) // ds.published keeps byFile[f]
		for _, dir := range others {
			for _, d := range s.dirs[dir].published[f] {
				// Two directories may find the very same thing.
				if !slices.Contains(list, d) {
					list = append(list, d)
				}
			}
		}
		p := publishDiagnosticsParams{URI: pathToURI(f), Diagnostics: list}
		// The version validated, not the document's now, so that a
		// client can tell a stale publish (a file on disk has none).
		if v, open := snap.versions[f]; open {
			p.Version = &v
		}
		out = append(out, p)
	}
	return out
}

func toDiagnostic(d *hcl.Diagnostic, rng hcl.Range, li *lineIndex) Diagnostic {
	sev := severityError
	if d.Severity == hcl.DiagWarning {
		sev = severityWarning
	}
	msg := d.Summary
	if detail := strings.TrimSpace(d.Detail); detail != "" {
		msg += "\n" + detail
	}
	return Diagnostic{
		Range:    toRange(rng, li),
		Severity: sev,
		Code:     string(diag.CodeOf(d)),
		Source:   "bizpipe",
		Message:  msg,
	}
}

// checkSafely checks dir. A panic in the check is a bug: it is reported to
// the client, as handle reports one, and the session goes on without a
// snapshot (nil).
func (s *server) checkSafely(dir string, overlay map[string][]byte) (snap *snapshot) {
	defer func() {
		if r := recover(); r != nil {
			s.logMessage(fmt.Sprintf("internal error checking %s: %v\n%s", dir, r, debug.Stack()))
			snap = nil
		}
	}()
	return s.check(dir, overlay)
}

// snapshotFor returns the document at uri and its directory's latest
// snapshot, validating now when there is none yet. Both are nil for a
// document that is not open or not a configuration file. The snapshot is
// nil too when the check in flight, or its own, has not ended within
// requestWait: the request is answered without one, and the requests
// after it are read.
func (s *server) snapshotFor(uri string) (*document, *snapshot) {
	s.mu.Lock()
	d := s.docs[uri]
	if d == nil {
		s.mu.Unlock()
		return nil, nil
	}
	dir := configDir(d.path)
	if dir == "" {
		s.mu.Unlock()
		return d, nil
	}
	if ds := s.dirs[dir]; ds != nil && ds.snap != nil {
		s.mu.Unlock()
		return d, ds.snap
	}
	overlay, _ := s.overlayLocked()
	s.mu.Unlock()
	timer := time.NewTimer(s.requestWait)
	defer timer.Stop()
	select {
	case s.checking <- struct{}{}:
	case <-timer.C:
		return d, nil
	}
	// Checked aside, so that this check too is waited for no longer
	// than requestWait: one that does not end (a store on a hung mount)
	// would keep every request after this one from being read.
	done := make(chan *snapshot, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.checking }()
		done <- s.checkSafely(dir, overlay)
	}()
	select {
	case snap := <-done:
		return d, snap
	case <-timer.C:
		return d, nil
	}
}
