package lsp_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
)

// TestOutsideConfiguration: a document that is no configuration file (a
// README, an editor's unsaved untitled buffer) gets no diagnostics, and
// hover, definition and completion answer empty, not an error.
func TestOutsideConfiguration(t *testing.T) {
	dir, text := quickstart(t)
	c := start(t)
	c.initialize()
	notes := fileURI(filepath.Join(dir, "notes.txt"))
	untitled := "untitled:Untitled-1"
	c.open(notes, text)
	c.open(untitled, "group \"x\" {\n  \n}\n")
	for _, uri := range []string{notes, untitled, fileURI(filepath.Join(dir, "never-opened.hcl"))} {
		for _, method := range []string{"textDocument/hover", "textDocument/definition"} {
			if m := c.call(method, docPos(uri, pos(t, text, "4E 07", 2))); m.Error != nil || string(m.Result) != "null" {
				t.Errorf("%s in %s: %s %+v", method, uri, m.Result, m.Error)
			}
		}
	}
	var list struct {
		Items []struct{ Label string } `json:"items"`
	}
	c.result("textDocument/completion", docPos(notes, position{1, 0}), &list)
	if len(list.Items) != 0 {
		t.Errorf("completion in notes.txt: %+v", list.Items)
	}
	// An untitled buffer is HCL the user is writing: completion helps.
	c.result("textDocument/completion", docPos(untitled, position{1, 2}), &list)
	if !hasLabel(list.Items, "signing_certificate") {
		t.Errorf("completion in an untitled buffer: %+v", list.Items)
	}
	// Now a configuration file: its diagnostics are the first published,
	// none were for the others.
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	c.open(uri, text)
	c.diagnosticsFor(uri, none)
	for _, m := range c.notes {
		if m.Method == "textDocument/publishDiagnostics" {
			t.Errorf("published for a document outside the configuration: %s", m.Params)
		}
	}
	c.shutdown()
}

// TestHugeDocument: a buffer larger than a configuration file may be is a
// diagnostic naming the file, and the server goes on.
func TestHugeDocument(t *testing.T) {
	dir, text := quickstart(t)
	c := start(t)
	c.initialize()
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	huge := text + "\n# " + strings.Repeat("x", 5<<20) + "\n"
	c.open(uri, huge)
	d := only(t, c.diagnosticsFor(uri, hasCode("BP1000")), "BP1000")
	if !strings.Contains(d.Message, "bizpipe.hcl") || !strings.Contains(d.Message, "larger than 4 MiB") {
		t.Errorf("diagnostic %q, want the file named and its size refused", d.Message)
	}
	c.change(uri, 2, text)
	c.diagnosticsFor(uri, none)
	c.shutdown()
}

// TestProtocolErrors: requests out of order, unknown methods, and garbage
// between messages get JSON-RPC errors, and the session goes on.
func TestProtocolErrors(t *testing.T) {
	dir, text := quickstart(t)
	c := start(t)
	if m := c.call("textDocument/hover", docPos("file:///x.hcl", position{})); m.Error == nil || m.Error.Code != -32002 {
		t.Errorf("hover before initialize: %+v", m)
	}
	c.initialize()
	if m := c.call("initialize", map[string]any{}); m.Error == nil || m.Error.Code != -32600 {
		t.Errorf("second initialize: %+v", m)
	}
	if m := c.call("workspace/symbol", map[string]any{}); m.Error == nil || m.Error.Code != -32601 {
		t.Errorf("unknown method: %+v", m)
	}
	if m := c.call("textDocument/hover", "not an object"); m.Error == nil || m.Error.Code != -32602 {
		t.Errorf("invalid params: %+v", m)
	}
	// Not JSON: a Parse error, id null (JSON-RPC 2.0); a batch, even an
	// empty one, which LSP never sends: one Invalid Request. Then a
	// well-framed message is answered.
	c.sendRaw([]byte("Content-Length: 9\r\n\r\n{not json"))
	if m := c.nullResponse(); m.Error.Code != -32700 {
		t.Errorf("not JSON: %+v, want a Parse error (-32700)", m.Error)
	}
	c.sendRaw([]byte("Content-Length: 2\r\n\r\n[]"))
	if m := c.nullResponse(); m.Error.Code != -32600 {
		t.Errorf("empty batch: %+v, want an Invalid Request (-32600)", m.Error)
	}
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	c.open(uri, text)
	c.diagnosticsFor(uri, none)
	// After shutdown, requests are refused.
	if m := c.call("shutdown", nil); m.Error != nil {
		t.Fatal(m.Error)
	}
	if m := c.call("textDocument/hover", docPos(uri, position{})); m.Error == nil || m.Error.Code != -32600 {
		t.Errorf("hover after shutdown: %+v", m)
	}
	c.notify("exit", nil)
	c.wait(0)
}

// TestDisconnect: a client that goes away, between messages or in the
// middle of one, ends the server (status 1: no shutdown), with no panic
// and no hang; and exit without shutdown is status 1 too.
func TestDisconnect(t *testing.T) {
	dir, text := quickstart(t)
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	open, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "textDocument/didOpen",
		"params": map[string]any{"textDocument": map[string]any{"uri": uri, "version": 1, "text": text}}})
	tests := []struct {
		name string
		tail string // sent after initialize and didOpen, then stdin closes
	}{
		{"between messages", ""},
		{"in the headers", "Content-Len"},
		{"after the headers", "Content-Length: 100\r\n\r\n"},
		{"in the body", "Content-Length: 100\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"textDocument/hov"},
		{"exit without shutdown", "Content-Length: 33\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := start(t)
			c.initialize()
			// A validation is pending or running when the client goes.
			c.sendRaw(append([]byte("Content-Length: "+itoa(len(open))+"\r\n\r\n"), open...))
			c.sendRaw([]byte(tt.tail))
			if err := c.stdin.Close(); err != nil {
				t.Fatal(err)
			}
			c.wait(1)
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestSensitiveValues: a sensitive variable's value never reaches the
// client, even when a diagnostic would quote it.
func TestSensitiveValues(t *testing.T) {
	dir, text := quickstart(t)
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	c := start(t, "BIZPIPE_VAR_p12_password=hunter2-not-demo")
	c.initialize()
	c.open(uri, text)
	// The wrong password: BP2003 about the PKCS#12 file.
	ds := c.diagnosticsFor(uri, hasCode("BP2003"))
	for _, d := range ds {
		if strings.Contains(d.Message, "hunter2") {
			t.Errorf("diagnostic shows the password: %q", d.Message)
		}
	}
	// Hovers neither.
	m := c.call("textDocument/hover", docPos(uri, pos(t, text, "4E 07 7E", 4)))
	if strings.Contains(string(m.Result), "hunter2") {
		t.Errorf("hover shows the password: %s", m.Result)
	}
	c.shutdown()
	if strings.Contains(c.stderr.String(), "hunter2") {
		t.Errorf("stderr shows the password")
	}
	if _, err := os.Stat(filepath.Join(dir, "bizpipe.hcl")); err != nil {
		t.Fatal(err)
	}
}

// TestSensitiveFunctionErrors: a function that fails on a value derived
// from a sensitive variable (here reversed, which no replacement of the
// known value catches) does not show it in the published diagnostic.
func TestSensitiveFunctionErrors(t *testing.T) {
	dir, text := quickstart(t)
	leak := filepath.Join(dir, "leak.hcl")
	src := "locals {\n  reversed = parseint(strrev(var.p12_password), 10)\n}\n"
	if err := os.WriteFile(leak, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c := start(t)
	c.initialize()
	c.open(fileURI(filepath.Join(dir, "bizpipe.hcl")), text)
	uri := fileURI(leak)
	c.open(uri, src)
	d := only(t, c.diagnosticsFor(uri, hasCode("BP1004")), "BP1004")
	// The default password is demo-only: reversed, ylno-omed.
	if strings.Contains(d.Message, "ylno") || !strings.Contains(d.Message, "sensitive") {
		t.Errorf("diagnostic %q shows the reversed password or does not say why it is hidden", d.Message)
	}
	c.shutdown()
}

// TestVarFlags: the server checks with validate's --var and --var-file,
// --var winning, and a sensitive value from a file is not shown either; a
// --var without NAME= is a usage error.
func TestVarFlags(t *testing.T) {
	dir, text := quickstart(t)
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	varFile := filepath.Join(t.TempDir(), "dev.hcl")
	if err := os.WriteFile(varFile, []byte(`p12_password = "hunter2-from-file"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startWith(t, []string{"--var-file", varFile})
	c.initialize()
	c.open(uri, text)
	for _, d := range c.diagnosticsFor(uri, hasCode("BP2003")) { // the file's wrong password
		if strings.Contains(d.Message, "hunter2") {
			t.Errorf("diagnostic shows the password: %q", d.Message)
		}
	}
	c.shutdown()

	c = startWith(t, []string{"--var-file", varFile, "--var", "p12_password=demo-only"})
	c.initialize()
	c.open(uri, text)
	c.diagnosticsFor(uri, none)
	c.shutdown()

	out, err := exec.Command(bizpipeBin, "lsp", "--var", "hunter2").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || strings.Contains(string(out), "hunter2") {
		t.Errorf("lsp --var without NAME=: %v, %q; want exit 2 without the value", err, out)
	}
	// The server reads its var files at every check: a pipe would hang it
	// or answer once; a missing file is named at once.
	for _, path := range []string{testfs.MakeFIFO(t, filepath.Join(t.TempDir(), "vars.hcl")), filepath.Join(dir, "missing.hcl")} {
		cmd := exec.Command(bizpipeBin, "lsp", "--var-file", path)
		cmd.WaitDelay = patience
		out, err := cmd.CombinedOutput()
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), filepath.Base(path)) {
			t.Errorf("lsp --var-file %s: %v, %q; want exit 2 naming the file", path, err, out)
		}
	}
}

// TestRelativeVarFile: a finding in a --var-file given relative to the
// server's working directory, as the documentation has it (vars/dev.hcl),
// is published for that file's URI. It was published for file:///vars/dev.hcl,
// the relative path read as if it were absolute, which no editor has open.
func TestRelativeVarFile(t *testing.T) {
	dir, text := quickstart(t)
	wd := t.TempDir()
	if err := os.MkdirAll(filepath.Join(wd, "vars"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, "vars", "dev.hcl"), []byte("undeclared = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startIn(t, wd, []string{"--var-file", filepath.Join("vars", "dev.hcl")})
	c.initialize()
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	c.open(uri, text)
	want := fileURI(filepath.Join(wd, "vars", "dev.hcl"))
	for {
		m := c.next()
		if m.Method != "textDocument/publishDiagnostics" {
			continue
		}
		var p publish
		if err := json.Unmarshal(m.Params, &p); err != nil {
			t.Fatal(err)
		}
		if p.URI == uri {
			continue
		}
		if p.URI != want {
			t.Fatalf("diagnostics published for %s, want %s: %+v", p.URI, want, p.Diagnostics)
		}
		if d := only(t, p.Diagnostics, "BP1001"); d.Range.Start != (position{0, 0}) || d.Range.End != (position{0, len("undeclared")}) {
			t.Errorf("BP1001 at %+v, want the name undeclared", d.Range)
		}
		break
	}
	c.shutdown()
}

// TestVarFileRange: a finding in a --var-file, which is no configuration
// file (its text is not among the configuration's), has its range in
// UTF-16 units too: HCL's columns count characters, and the range of a
// value of two emoji ended in the middle of it.
func TestVarFileRange(t *testing.T) {
	dir, text := quickstart(t)
	if err := os.WriteFile(filepath.Join(dir, "n.hcl"), []byte("variable \"n\" {\n  type = number\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	varFile := filepath.Join(t.TempDir(), "n.vars")
	const value = `"😀😀"`
	if err := os.WriteFile(varFile, []byte("n = "+value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startWith(t, []string{"--var-file", varFile})
	c.initialize()
	c.open(fileURI(filepath.Join(dir, "bizpipe.hcl")), text)
	d := only(t, c.diagnosticsFor(fileURI(varFile), hasCode("BP1004")), "BP1004")
	// The value: after "n = ", 1+2+2+1 UTF-16 units.
	if want := (position{0, len("n = ") + 6}); d.Range.Start != (position{0, len("n = ")}) || d.Range.End != want {
		t.Errorf("BP1004 at %+v, want %v to %v", d.Range, position{0, len("n = ")}, want)
	}
	c.shutdown()
}

// TestVarFileSharedByDirectories: a --var-file is read by every
// configuration the server checks, and each may find something in it:
// what is published for it is every directory's findings, and a finding
// that goes from one directory leaves the others'. Each directory's check
// published its own findings as the var-file's whole list, so that one
// directory found clean cleared another's finding in the editor, and one
// with a finding hid another's.
func TestVarFileSharedByDirectories(t *testing.T) {
	varFile := filepath.Join(t.TempDir(), "n.vars")
	if err := os.WriteFile(varFile, []byte("n = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	declare := func(typ string) string { return "variable \"n\" {\n  type = " + typ + "\n}\n" }
	dirA, textA := quickstart(t)
	dirB, _ := quickstart(t)
	for dir, typ := range map[string]string{dirA: "number", dirB: "bool"} {
		if err := os.WriteFile(filepath.Join(dir, "n.hcl"), []byte(declare(typ)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := startWith(t, []string{"--var-file", varFile})
	c.initialize()
	vars := fileURI(varFile)
	// expect checks the var-file's next publish: a BP1004 for each
	// type (the directories' findings), in any order.
	expect := func(when string, types ...string) {
		t.Helper()
		got := c.diagnosticsFor(vars, func([]diagnostic) bool { return true })
		var msgs []string
		for _, d := range got {
			msgs = append(msgs, d.Code+": "+d.Message)
		}
		ok := len(got) == len(types)
		for _, typ := range types {
			ok = ok && slices.ContainsFunc(got, func(d diagnostic) bool {
				return d.Code == "BP1004" && strings.Contains(d.Message, typ)
			})
		}
		if !ok {
			t.Errorf("%s: the var-file's diagnostics %q, want a BP1004 for each of %q", when, msgs, types)
		}
	}
	uriA, uriB := fileURI(filepath.Join(dirA, "bizpipe.hcl")), fileURI(filepath.Join(dirB, "n.hcl"))
	c.open(uriA, textA)
	expect("A opened", "number")
	c.open(uriB, declare("bool"))
	expect("B opened too", "number", "bool")
	c.change(uriB, 2, declare("string"))
	expect("B's finding fixed", "number")
	c.change(uriB, 3, declare("bool"))
	expect("B's finding back", "number", "bool")
	c.notify("textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": uriA}})
	expect("A closed", "bool")
	c.notify("textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": uriB}})
	expect("B closed too")
	c.shutdown()
}

// TestCostlyBuffer: a buffer whose evaluation would build gigabytes or run
// for minutes (a string doubled in sixty locals, three nested for
// expressions of a thousand iterations) gets its BP1004 like any other
// finding, and the server answers a hover and shutdown, and exits. Before
// the language bounded evaluation, its diagnostics never came, and neither
// did the answers, nor the exit.
func TestCostlyBuffer(t *testing.T) {
	var doubling strings.Builder
	doubling.WriteString("group \"g\" {}\nlocals {\n  a0 = \"xxxxxxxxxxxxxxxx\"\n")
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&doubling, "  a%d = \"${local.a%d}${local.a%d}\"\n", i, i-1, i-1)
	}
	doubling.WriteString("}\n")
	nested := "group \"g\" {}\nlocals {\n  n = length([for i in range(1000) : [for j in range(1000) : [for k in range(1000) : k]]])\n}\n"
	for name, text := range map[string]string{"doubling": doubling.String(), "nested for": nested} {
		t.Run(name, func(t *testing.T) {
			uri := fileURI(filepath.Join(t.TempDir(), "main.hcl"))
			c := start(t)
			c.initialize()
			c.open(uri, text)
			only(t, c.diagnosticsFor(uri, hasCode("BP1004")), "BP1004")
			if m := c.call("textDocument/hover", docPos(uri, position{1, 3})); m.Error != nil {
				t.Errorf("hover: %+v", m.Error)
			}
			c.shutdown()
		})
	}
}

// TestUnreadableBuffer: hover, definition and completion read the open
// buffer with HCL's lexer and parser, and a buffer the loader refuses
// before parsing (BP1000) is refused by them too, answered with nothing.
// Parsing one nested 300,000 levels deep overflowed the stack, a fatal
// error that ended the server; lexing 300 KB of unclosed /* comments took
// minutes, during which no other request was read.
func TestUnreadableBuffer(t *testing.T) {
	for name, junk := range map[string]string{
		"nested too deeply": "x = " + strings.Repeat("[", 300_000),
		"unclosed comments": strings.Repeat("/* ", 100_000),
	} {
		t.Run(name, func(t *testing.T) {
			dir, text := quickstart(t)
			c := start(t)
			c.initialize()
			uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
			buf := text + "\n" + junk + "\n"
			c.open(uri, buf)
			c.diagnosticsFor(uri, hasCode("BP1000"))
			for _, tt := range []struct {
				method string
				at     position
			}{
				{"textDocument/hover", pos(t, buf, "4E 07 7E", 4)},
				{"textDocument/definition", pos(t, buf, "= host.send_host", 4)},
				{"textDocument/completion", position{Line: strings.Count(buf, "\n"), Character: 0}},
			} {
				if m := c.call(tt.method, docPos(uri, tt.at)); m.Error != nil {
					t.Errorf("%s: %+v", tt.method, m.Error)
				}
			}
			c.shutdown()
		})
	}
}
