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
	started := make(chan struct{}, 16)
	release := make(chan struct{})
	defer close(release)
	check := func(dir string, _ map[string][]byte) *snapshot {
		started <- struct{}{}
		<-release
		return &snapshot{dir: dir, cfg: &model.Config{}}
	}
	const wait = 200 * time.Millisecond
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- Serve(inR, outW, Options{check: check, exitWait: wait, requestWait: wait, Debounce: time.Millisecond})
		_ = outW.Close()
	}()
	client := jsonrpc.NewConn(outR, inW)
	responses := make(chan *jsonrpc.Message, 16)
	go func() {
		for {
			m, err := client.Read()
			if err != nil {
				close(responses)
				return
			}
			if m.Method == "" {
				responses <- m
			}
		}
	}()
	call := func(id int, method string, params any) {
		t.Helper()
		raw, _ := json.Marshal(params)
		sent := time.Now()
		if err := client.Write(&jsonrpc.Message{JSONRPC: "2.0", ID: json.RawMessage(itoa(id)), Method: method, Params: raw}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-responses:
			if string(m.ID) != itoa(id) || m.Error != nil {
				t.Fatalf("%s: answer %s %+v", method, m.ID, m.Error)
			}
		case <-time.After(10 * wait):
			t.Fatalf("%s: no answer after %s, while a check runs", method, time.Since(sent))
		}
	}
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
	started := make(chan struct{}, 16)
	release := make(chan struct{})
	defer close(release)
	check := func(dir string, _ map[string][]byte) *snapshot {
		started <- struct{}{}
		<-release
		return &snapshot{dir: dir, cfg: &model.Config{}}
	}
	const wait = 200 * time.Millisecond
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	served := make(chan error, 1)
	go func() {
		// The debounced run would start the check first: an hour.
		served <- Serve(inR, outW, Options{check: check, exitWait: wait, requestWait: wait, Debounce: time.Hour})
		_ = outW.Close()
	}()
	client := jsonrpc.NewConn(outR, inW)
	responses := make(chan *jsonrpc.Message, 16)
	go func() {
		for {
			m, err := client.Read()
			if err != nil {
				close(responses)
				return
			}
			if m.Method == "" {
				responses <- m
			}
		}
	}()
	call := func(id int, method string, params any) {
		t.Helper()
		raw, _ := json.Marshal(params)
		if err := client.Write(&jsonrpc.Message{JSONRPC: "2.0", ID: json.RawMessage(itoa(id)), Method: method, Params: raw}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-responses:
			if string(m.ID) != itoa(id) || m.Error != nil {
				t.Fatalf("%s: answer %s %+v", method, m.ID, m.Error)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: no answer while its check runs", method)
		}
	}
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
