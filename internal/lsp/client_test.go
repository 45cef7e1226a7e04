package lsp_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/syncbuf"
	"github.com/bizpipe/bizpipe/internal/testbin"
)

// bizpipeBin is the binary under test, built once by TestMain: the tests
// drive `bizpipe lsp` as an editor does, over its stdin and stdout.
var bizpipeBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(&bizpipeBin, m.Run))
}

// patience bounds every wait for the server: reaching it means the server
// hangs, not that it is slow.
const patience = 60 * time.Second

// message is a JSON-RPC message as the client sees it. The client frames
// messages itself rather than with package jsonrpc, so that a framing bug
// there cannot hide behind the same bug here.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      *int            `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

type diagnostic struct {
	Range struct {
		Start position `json:"start"`
		End   position `json:"end"`
	} `json:"range"`
	Severity int    `json:"severity"`
	Code     string `json:"code"`
	Source   string `json:"source"`
	Message  string `json:"message"`
}

type position struct {
	Line      int `json:"line"`
	Character int `json:"character"`
}

type publish struct {
	URI         string       `json:"uri"`
	Version     *int         `json:"version"`
	Diagnostics []diagnostic `json:"diagnostics"`
}

// client is an LSP client driving one `bizpipe lsp` process.
type client struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	in     chan message // from the server; closed at its EOF
	nextID int
	// notes are the notifications read while waiting for something else.
	notes  []message
	stderr *syncbuf.Buffer
}

// start runs `bizpipe lsp` with env added to a minimal environment.
func start(t *testing.T, env ...string) *client {
	t.Helper()
	return startWith(t, nil, env...)
}

// startWith runs `bizpipe lsp` with flags, and env added to a minimal
// environment.
func startWith(t *testing.T, flags []string, env ...string) *client {
	t.Helper()
	return startIn(t, "", flags, env...)
}

// startIn is startWith with the server's working directory wd ("" for
// the test's), as the editor that starts it chooses.
func startIn(t *testing.T, wd string, flags []string, env ...string) *client {
	t.Helper()
	cmd := exec.Command(bizpipeBin, append([]string{"lsp"}, flags...)...)
	cmd.Dir = wd
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, cmd: cmd, stdin: stdin, in: make(chan message, 1024), stderr: &syncbuf.Buffer{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go c.pump(bufio.NewReader(stdout))
	t.Cleanup(func() {
		_ = c.stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(patience):
			_ = cmd.Process.Kill()
			t.Errorf("bizpipe lsp did not end after its stdin closed")
		}
		if s := c.stderr.String(); strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") {
			t.Errorf("bizpipe lsp crashed:\n%s", s)
		}
	})
	return c
}

// pump reads framed messages until the stream ends.
func (c *client) pump(r *bufio.Reader) {
	defer close(c.in)
	for {
		length := -1
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
				length, _ = strconv.Atoi(v)
			}
		}
		if length < 0 {
			c.t.Errorf("server sent a message without Content-Length")
			return
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var m message
		if err := json.Unmarshal(body, &m); err != nil {
			c.t.Errorf("server sent a message that is not JSON: %v: %q", err, body)
			return
		}
		if m.JSONRPC != "2.0" {
			c.t.Errorf("server sent jsonrpc %q", m.JSONRPC)
		}
		// LSPDEBUG=1 go test -v shows what the server sends.
		if os.Getenv("LSPDEBUG") != "" {
			fmt.Fprintf(os.Stderr, "<- %s %s\n", m.Method, body)
		}
		c.in <- m
	}
}

// sendRaw writes bytes as they are.
func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.stdin.Write(b); err != nil {
		c.t.Fatalf("writing to the server: %v", err)
	}
}

func (c *client) send(m map[string]any) {
	c.t.Helper()
	m["jsonrpc"] = "2.0"
	b, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(append([]byte(fmt.Sprintf("Content-Length: %d\r\n\r\n", len(b))), b...))
}

func (c *client) notify(method string, params any) {
	c.t.Helper()
	c.send(map[string]any{"method": method, "params": params})
}

// next returns the next message from the server.
func (c *client) next() message {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatalf("the server closed its output; stderr:\n%s", c.stderr.String())
		}
		return m
	case <-time.After(patience):
		c.t.Fatalf("no message from the server in %s: it hangs", patience)
	}
	panic("unreachable")
}

// call sends a request and returns its response, keeping the
// notifications that come before it.
func (c *client) call(method string, params any) message {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	c.send(map[string]any{"id": id, "method": method, "params": params})
	for {
		m := c.next()
		if m.ID != nil && *m.ID == id && m.Method == "" {
			return m
		}
		c.notes = append(c.notes, m)
	}
}

// nullResponse returns the next error response whose id is null (an
// answer to a message the server could not read), keeping the
// notifications that come before it.
func (c *client) nullResponse() message {
	c.t.Helper()
	for {
		m := c.next()
		if m.ID == nil && m.Method == "" && m.Error != nil {
			return m
		}
		c.notes = append(c.notes, m)
	}
}

// result calls and decodes the result into out, failing on an error.
func (c *client) result(method string, params, out any) {
	c.t.Helper()
	m := c.call(method, params)
	if m.Error != nil {
		c.t.Fatalf("%s: error %d %s", method, m.Error.Code, m.Error.Message)
	}
	if err := json.Unmarshal(m.Result, out); err != nil {
		c.t.Fatalf("%s: result %s: %v", method, m.Result, err)
	}
}

func (c *client) initialize() {
	c.t.Helper()
	c.initializeWith(map[string]any{})
}

// initializeWith initializes the server with the client capabilities caps.
func (c *client) initializeWith(caps map[string]any) {
	c.t.Helper()
	var res struct {
		Capabilities map[string]any `json:"capabilities"`
	}
	c.result("initialize", map[string]any{"processId": nil, "rootUri": nil, "capabilities": caps}, &res)
	for _, cap := range []string{"textDocumentSync", "hoverProvider", "definitionProvider", "completionProvider"} {
		if res.Capabilities[cap] == nil {
			c.t.Errorf("initialize: capability %s missing: %v", cap, res.Capabilities)
		}
	}
	c.notify("initialized", map[string]any{})
}

// diagnosticsFor waits for the next diagnostics published for uri that
// satisfy ok, and returns them.
func (c *client) diagnosticsFor(uri string, ok func([]diagnostic) bool) []diagnostic {
	c.t.Helper()
	check := func(m message) ([]diagnostic, bool) {
		if m.Method != "textDocument/publishDiagnostics" {
			return nil, false
		}
		var p publish
		if err := json.Unmarshal(m.Params, &p); err != nil {
			c.t.Fatalf("publishDiagnostics: %v", err)
		}
		if p.URI != uri || p.Diagnostics == nil || !ok(p.Diagnostics) {
			return nil, false
		}
		return p.Diagnostics, true
	}
	for len(c.notes) > 0 {
		m := c.notes[0]
		c.notes = c.notes[1:]
		if ds, found := check(m); found {
			return ds
		}
	}
	for {
		if ds, found := check(c.next()); found {
			return ds
		}
	}
}

// publishesFor returns the diagnostics published for uri, in order, until
// one satisfies until and then until the server has sent nothing for
// quiet: what a server publishes late is among them.
func (c *client) publishesFor(uri string, until func(publish) bool, quiet time.Duration) []publish {
	c.t.Helper()
	var out []publish
	found := false
	take := func(m message) {
		if m.Method != "textDocument/publishDiagnostics" {
			return
		}
		var p publish
		if err := json.Unmarshal(m.Params, &p); err != nil {
			c.t.Fatalf("publishDiagnostics: %v", err)
		}
		if p.URI == uri {
			out = append(out, p)
			found = found || until(p)
		}
	}
	for len(c.notes) > 0 && !found {
		take(c.notes[0])
		c.notes = c.notes[1:]
	}
	for !found {
		take(c.next())
	}
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				return out
			}
			take(m)
		case <-time.After(quiet):
			return out
		}
	}
}

func (c *client) open(uri, text string) {
	c.t.Helper()
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{"uri": uri, "languageId": "hcl", "version": 1, "text": text}})
}

func (c *client) change(uri string, version int, text string) {
	c.t.Helper()
	c.notify("textDocument/didChange", map[string]any{
		"textDocument":   map[string]any{"uri": uri, "version": version},
		"contentChanges": []map[string]any{{"text": text}},
	})
}

// shutdown ends the session properly and checks exit status 0.
func (c *client) shutdown() {
	c.t.Helper()
	if m := c.call("shutdown", nil); m.Error != nil || string(m.Result) != "null" {
		c.t.Fatalf("shutdown: %+v %s", m.Error, m.Result)
	}
	c.notify("exit", nil)
	c.wait(0)
}

// wait waits for the process to end with status want.
func (c *client) wait(want int) {
	c.t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			c.t.Fatal(err)
		}
		if code != want {
			c.t.Errorf("bizpipe lsp exit status %d, want %d; stderr:\n%s", code, want, c.stderr.String())
		}
	case <-time.After(patience):
		_ = c.cmd.Process.Kill()
		c.t.Fatalf("bizpipe lsp did not exit")
	}
}

func fileURI(p string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String()
}

// pos returns the LSP position of the first occurrence of sub in text,
// plus delta characters (ASCII text).
func pos(t *testing.T, text, sub string, delta int) position {
	t.Helper()
	i := strings.Index(text, sub)
	if i < 0 {
		t.Fatalf("%q not in the text", sub)
	}
	i += delta
	line := strings.Count(text[:i], "\n")
	return position{Line: line, Character: i - (strings.LastIndex(text[:i], "\n") + 1)}
}

func docPos(uri string, p position) map[string]any {
	return map[string]any{"textDocument": map[string]any{"uri": uri}, "position": p}
}
