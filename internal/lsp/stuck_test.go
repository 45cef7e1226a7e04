package lsp

import (
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/lsp/jsonrpc"
)

// TestCheckThatDoesNotEnd: a check cannot be interrupted, and one that
// runs on (a buffer that takes go-cty minutes, before the language bounded
// evaluation) kept the server from answering: a hover waited for it, and
// the shutdown behind the hover, and after exit Serve waited for it too,
// holding the process and its gigabytes. Now a request waits for a check
// in flight at most requestWait and is answered without it, and Serve
// returns exitWait after exit.
func TestCheckThatDoesNotEnd(t *testing.T) {
	const wait = stuckWait
	s := newStuckSession(t, time.Millisecond)
	started, client, served := s.started, s.client, s.served
	call := func(id int, method string, params any) { t.Helper(); s.call(id, method, params, 10*wait) }
	call(1, "initialize", map[string]any{})
	uri := "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "main.hcl"))
	if err := client.Notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": uri, "version": 1, "text": "group \"g\" {}\n"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("the check did not start")
	}
	// The directory has no snapshot yet: the hover would check it.
	call(2, "textDocument/hover", map[string]any{"textDocument": map[string]any{"uri": uri}, "position": map[string]int{"line": 0, "character": 8}})
	call(3, "shutdown", nil)
	exited := time.Now()
	if err := client.Notify("exit", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v, want nil after shutdown", err)
		}
		if d := time.Since(exited); d > 10*wait {
			t.Errorf("Serve returned %s after exit, want about %s", d, wait)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return after exit while a check runs")
	}
}

// stuckWait is how long a stuckSession's requests and exit wait for a
// check in flight.
const stuckWait = 200 * time.Millisecond

// stuckSession is a server whose checks never end (until the test does),
// its runs debounced by debounce, and a client of it.
type stuckSession struct {
	t         *testing.T
	started   chan struct{} // a value per check started
	client    *jsonrpc.Conn
	responses chan *jsonrpc.Message
	served    chan error // what Serve returned
}

func newStuckSession(t *testing.T, debounce time.Duration) *stuckSession {
	s := &stuckSession{t: t, started: make(chan struct{}, 16), responses: make(chan *jsonrpc.Message, 16), served: make(chan error, 1)}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	check := func(dir string, _ map[string][]byte) *snapshot {
		s.started <- struct{}{}
		<-release
		return &snapshot{dir: dir, cfg: &model.Config{}}
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	go func() {
		s.served <- Serve(inR, outW, Options{check: check, exitWait: stuckWait, requestWait: stuckWait, Debounce: debounce})
		_ = outW.Close()
	}()
	s.client = jsonrpc.NewConn(outR, inW)
	go func() {
		for {
			m, err := s.client.Read()
			if err != nil {
				close(s.responses)
				return
			}
			if m.Method == "" {
				s.responses <- m
			}
		}
	}()
	return s
}

// call sends a request and fails the test unless it is answered, without
// an error, within patience.
func (s *stuckSession) call(id int, method string, params any, patience time.Duration) {
	s.t.Helper()
	raw, _ := json.Marshal(params)
	if err := s.client.Write(&jsonrpc.Message{JSONRPC: "2.0", ID: json.RawMessage(itoa(id)), Method: method, Params: raw}); err != nil {
		s.t.Fatal(err)
	}
	select {
	case m := <-s.responses:
		if string(m.ID) != itoa(id) || m.Error != nil {
			s.t.Fatalf("%s: answer %s %+v", method, m.ID, m.Error)
		}
	case <-time.After(patience):
		s.t.Fatalf("%s: no answer within %s, while a check runs", method, patience)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestRequestCheckThatDoesNotEnd: a request that checks a directory
// itself (a hover in a document opened a moment ago, before its first
// run) waits for that check at most requestWait too. It waited for its
// own check without bound, as it waits for none in flight: a check that
// does not end (a store on a hung mount) kept the server from reading
// anything more, shutdown and exit included.
func TestRequestCheckThatDoesNotEnd(t *testing.T) {
	// The debounced run would start the check first: an hour.
	s := newStuckSession(t, time.Hour)
	started, client, served := s.started, s.client, s.served
	call := func(id int, method string, params any) { t.Helper(); s.call(id, method, params, time.Minute) }
	call(1, "initialize", map[string]any{})
	uri := "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "main.hcl"))
	if err := client.Notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": uri, "version": 1, "text": "group \"g\" {}\n"}}); err != nil {
		t.Fatal(err)
	}
	call(2, "textDocument/hover", map[string]any{"textDocument": map[string]any{"uri": uri}, "position": map[string]int{"line": 0, "character": 8}})
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("the hover did not check the directory")
	}
	call(3, "shutdown", nil)
	if err := client.Notify("exit", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v, want nil after shutdown", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return after exit while a request's check runs")
	}
}

// TestCheckPanics: a panic in the check a change starts is a bug, and
// reported to the client as one in a request is, the session going on:
// the next change is checked and published. It ended the server, on the
// goroutine of the debounce timer, which recovered nothing.
func TestCheckPanics(t *testing.T) {
	calls := 0
	check := func(dir string, _ map[string][]byte) *snapshot {
		calls++ // one check at a time (checking)
		if calls == 1 {
			panic("a bug")
		}
		return &snapshot{dir: dir, cfg: &model.Config{}}
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- Serve(inR, outW, Options{check: check, Debounce: time.Millisecond})
		_ = outW.Close()
	}()
	client := jsonrpc.NewConn(outR, inW)
	messages := make(chan *jsonrpc.Message, 64)
	go func() {
		defer close(messages)
		for {
			m, err := client.Read()
			if err != nil {
				return
			}
			messages <- m
		}
	}()
	// next returns the next message from the server of method ("" for a
	// response).
	next := func(method string) *jsonrpc.Message {
		t.Helper()
		for {
			select {
			case m, ok := <-messages:
				if !ok {
					t.Fatalf("the server ended, waiting for %q", method)
				}
				if m.Method == method {
					return m
				}
			case <-time.After(time.Minute):
				t.Fatalf("no %q from the server", method)
			}
		}
	}
	send := func(m *jsonrpc.Message) {
		t.Helper()
		if err := client.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	send(&jsonrpc.Message{ID: json.RawMessage("1"), Method: "initialize", Params: json.RawMessage("{}")})
	next("")
	uri := "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "main.hcl"))
	if err := client.Notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": uri, "version": 1, "text": "group \"g\" {}\n"}}); err != nil {
		t.Fatal(err)
	}
	if m := next("window/logMessage"); !strings.Contains(string(m.Params), "a bug") {
		t.Errorf("log %s, want the panic reported", m.Params)
	}
	if err := client.Notify("textDocument/didChange", map[string]any{"textDocument": map[string]any{"uri": uri, "version": 2},
		"contentChanges": []map[string]any{{"text": "group \"g\" {}\n\n"}}}); err != nil {
		t.Fatal(err)
	}
	next("textDocument/publishDiagnostics")
	send(&jsonrpc.Message{ID: json.RawMessage("2"), Method: "shutdown"})
	next("")
	if err := client.Notify("exit", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v, want nil after shutdown", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return after exit")
	}
}
