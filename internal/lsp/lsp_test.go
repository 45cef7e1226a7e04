package lsp_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bizpipe/bizpipe/internal/config/lang"
)

// quickstart copies examples/quickstart (configuration and stores) to a
// temporary directory and returns it with the configuration's text.
func quickstart(t *testing.T) (dir, text string) {
	t.Helper()
	dir = t.TempDir()
	src := filepath.Join("..", "..", "examples", "quickstart")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bizpipe.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, string(b)
}

// openQuickstart starts a server on a copy of the quickstart and opens its
// configuration, which is valid: no diagnostics.
func openQuickstart(t *testing.T) (c *client, dir, uri, text string) {
	t.Helper()
	dir, text = quickstart(t)
	uri = fileURI(filepath.Join(dir, "bizpipe.hcl"))
	c = start(t)
	c.initialize()
	c.open(uri, text)
	c.diagnosticsFor(uri, none)
	return c, dir, uri, text
}

func none(ds []diagnostic) bool { return len(ds) == 0 }

func hasCode(code string) func([]diagnostic) bool {
	return func(ds []diagnostic) bool {
		for _, d := range ds {
			if d.Code == code {
				return true
			}
		}
		return false
	}
}

func only(t *testing.T, ds []diagnostic, code string) diagnostic {
	t.Helper()
	if len(ds) != 1 || ds[0].Code != code {
		t.Fatalf("diagnostics %+v, want exactly one %s", ds, code)
	}
	return ds[0]
}

// TestDiagnostics: open, change (with an unsaved buffer of a file that is
// not on disk), save; each publishes the directory's findings with the
// exact range of the construct to change.
func TestDiagnostics(t *testing.T) {
	dir, text := quickstart(t)
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	c := start(t)
	c.initialize()

	c.open(uri, text)
	c.diagnosticsFor(uri, none)

	// A typo in a reference: BP1001 at the reference expression.
	typo := strings.Replace(text, "host                   = host.send_host", "host                   = host.send_hots", 1)
	c.change(uri, 2, typo)
	d := only(t, c.diagnosticsFor(uri, hasCode("BP1001")), "BP1001")
	start, end := pos(t, typo, "host.send_hots", 0), pos(t, typo, "host.send_hots", len("host.send_hots"))
	if d.Range.Start != start || d.Range.End != end || d.Severity != 1 || d.Source != "bizpipe" || !strings.Contains(d.Message, `"send_hots"`) {
		t.Errorf("diagnostic %+v, want an error at %v-%v naming send_hots", d, start, end)
	}
	onDisk, _ := os.ReadFile(filepath.Join(dir, "bizpipe.hcl"))
	if string(onDisk) != text {
		t.Fatal("the file on disk changed")
	}

	// The server moves to a buffer of a new file, not on disk: together
	// they are the configuration, so nothing is wrong; without the new
	// buffer, the references to the server would be.
	serverBlock := "server \"srv1\" {\n  other_people_store = certificate_store.srv1_other_people\n}\n"
	if !strings.Contains(text, serverBlock) {
		t.Fatal("quickstart changed: no server block to move")
	}
	moved := strings.Replace(text, serverBlock, "", 1)
	c.change(uri, 3, moved)
	c.diagnosticsFor(uri, hasCode("BP1001"))
	servers := fileURI(filepath.Join(dir, "servers.hcl"))
	c.open(servers, serverBlock)
	c.diagnosticsFor(uri, none)
	c.diagnosticsFor(servers, none)

	// The server in the unsaved buffer loses its other-people store: the
	// encrypting port's certificate is out of reach there, BP4002 at the
	// server block of the buffer.
	c.change(servers, 2, strings.Replace(serverBlock, "other_people_store = certificate_store.srv1_other_people", "", 1))
	// One run publishes per file in name order: bizpipe.hcl first.
	c.diagnosticsFor(uri, hasCode("BP5002")) // the other-people store is unused now
	d = only(t, c.diagnosticsFor(servers, hasCode("BP4002")), "BP4002")
	if want := (position{0, 0}); d.Range.Start != want || d.Range.End != (position{0, len(`server "srv1"`)}) {
		t.Errorf("BP4002 at %+v, want the server block's header", d.Range)
	}

	// Saved to disk and closed: the file on disk is what counts.
	if err := os.WriteFile(filepath.Join(dir, "servers.hcl"), []byte(serverBlock), 0o644); err != nil {
		t.Fatal(err)
	}
	c.notify("textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": servers}})
	c.diagnosticsFor(uri, none)
	c.notify("textDocument/didSave", map[string]any{"textDocument": map[string]any{"uri": uri}})
	c.diagnosticsFor(uri, none)
	c.shutdown()
}

// TestManyChanges: a burst of changes, as typing makes, ends with the
// diagnostics of the last text, and nothing published after them is of an
// older text: every publish names the version it validated, never older
// than the one before, and holds that version's findings.
func TestManyChanges(t *testing.T) {
	c, _, uri, text := openQuickstart(t)
	const digest = `digest               = "sha256"`
	// Each version's digest: sha25 and sha2566 are not digests (BP1004),
	// sha256 is valid, and the last, sha1, is weak (BP5001 only).
	digests := map[int]string{1: "sha256"}
	for v := 2; v <= 31; v++ {
		digests[v] = "sha25" + strings.Repeat("6", v%3)
		c.change(uri, v, strings.Replace(text, digest, `digest               = "`+digests[v]+`"`, 1))
	}
	const last = 40
	digests[last] = "sha1"
	c.change(uri, last, strings.Replace(text, digest, `digest               = "sha1"`, 1))

	isLast := func(p publish) bool { return p.Version != nil && *p.Version == last }
	// A run takes milliseconds: a second of silence after the last
	// version's diagnostics leaves a stale run ample time to publish.
	pubs := c.publishesFor(uri, isLast, time.Second)
	previous := 1 // the version opened
	for i, p := range pubs {
		if p.Version == nil {
			t.Fatalf("publish %d names no version: %+v", i, p)
		}
		v := *p.Version
		if v < previous {
			t.Errorf("publish %d is of version %d, after one of version %d", i, v, previous)
		}
		previous = v
		var codes []string
		for _, d := range p.Diagnostics {
			codes = append(codes, d.Code)
		}
		want := map[string]string{"sha25": "BP1004", "sha2566": "BP1004", "sha256": "", "sha1": "BP5001"}[digests[v]]
		if digests[v] == "" || want == "" && len(codes) > 0 || want != "" && !slices.Contains(codes, want) {
			t.Errorf("publish %d, version %d (digest %q): codes %q, want %q", i, v, digests[v], codes, want)
		}
	}
	final := pubs[len(pubs)-1]
	if !isLast(final) {
		t.Fatalf("the last publish is of version %d, want %d", *final.Version, last)
	}
	if d := only(t, final.Diagnostics, "BP5001"); d.Severity != 2 {
		t.Errorf("BP5001 severity %d, want warning (2)", d.Severity)
	}
	c.shutdown()
}

// TestFilesFoundAsLoaded: the server finds and reads the files as the
// loader does, with the buffers over them: a file on disk that is not open
// has its findings published, at positions counted in UTF-16 units through
// its text even when the loader refused to parse it; a buffer in a
// directory not created yet is validated on its own; one whose directory is
// a file says the configuration cannot be read.
func TestFilesFoundAsLoaded(t *testing.T) {
	dir, text := quickstart(t)
	deepPath := filepath.Join(dir, "deep.hcl")
	deep := `x = ["😀", ` + strings.Repeat("[", 300)
	if err := os.WriteFile(deepPath, []byte(deep), 0o644); err != nil {
		t.Fatal(err)
	}
	refused := lang.CheckNesting([]byte(deep), deepPath)
	if refused == nil || refused.Subject == nil || refused.Subject.Start.Line != 1 {
		t.Fatalf("the loader does not refuse %q on its first line: %v", deep, refused)
	}
	c := start(t)
	c.initialize()
	c.open(fileURI(filepath.Join(dir, "bizpipe.hcl")), text)
	d := only(t, c.diagnosticsFor(fileURI(deepPath), hasCode("BP1000")), "BP1000")
	// The emoji is one character to HCL, two UTF-16 units to the client.
	if want := (position{0, utf8.RuneCountInString(deep[:refused.Subject.Start.Byte]) + 1}); d.Range.Start != want {
		t.Errorf("BP1000 of deep.hcl at %+v, want %+v", d.Range.Start, want)
	}

	unsaved := fileURI(filepath.Join(t.TempDir(), "new", "a.hcl"))
	c.open(unsaved, "server \"s\" {\n  other_people_store = certificate_store.nope\n}\n")
	c.diagnosticsFor(unsaved, hasCode("BP1001"))

	// A buffer "in" a file: the configuration cannot be read, which its
	// first line says.
	inFile := fileURI(filepath.Join(dir, "bizpipe.hcl", "x.hcl"))
	c.open(inFile, `group "g" {}`)
	d = only(t, c.diagnosticsFor(inFile, hasCode("BP1000")), "BP1000")
	if d.Range.Start != (position{}) || !strings.Contains(d.Message, "not a directory") {
		t.Errorf("diagnostic %+v, want one at the start saying the path is not a directory", d)
	}
	c.shutdown()
}

// TestSyntaxError: broken HCL is BP1000 at the place it breaks, only
// syntax errors are shown (as validate does), and the server keeps
// answering.
func TestSyntaxError(t *testing.T) {
	c, _, uri, text := openQuickstart(t)
	broken := strings.Replace(text, `encrypt              = true`, `encrypt              = `, 1)
	c.change(uri, 2, broken)
	ds := c.diagnosticsFor(uri, hasCode("BP1000"))
	for _, d := range ds {
		if d.Code != "BP1000" {
			t.Errorf("with a syntax error, got %+v", d)
		}
	}
	if want := pos(t, broken, "encrypt              = \n", len("encrypt              = ")); ds[0].Range.Start != want {
		t.Errorf("BP1000 at %+v, want at %+v, where the value is missing", ds[0].Range, want)
	}
	// Completion, hover and definition in the broken text still answer.
	var list struct {
		Items []struct{ Label string } `json:"items"`
	}
	c.result("textDocument/completion", docPos(uri, pos(t, broken, "send_port \"fabrikam\" {\n", len("send_port \"fabrikam\" {\n"))), &list)
	if !hasLabel(list.Items, "filter") {
		t.Errorf("completion in a broken file: %+v", list.Items)
	}
	var hover struct {
		Contents struct{ Value string } `json:"contents"`
	}
	c.result("textDocument/hover", docPos(uri, pos(t, broken, "CCFE302DA", 3)), &hover)
	if !strings.Contains(hover.Contents.Value, "The configuration has syntax errors") {
		t.Errorf("hover in a broken file: %q, want it to say the configuration has syntax errors", hover.Contents.Value)
	}
	var loc struct{ URI string }
	c.result("textDocument/definition", docPos(uri, pos(t, broken, "host.send_host", 7)), &loc)
	if loc.URI != uri {
		t.Errorf("definition in a broken file: %+v", loc)
	}
	c.shutdown()
}

func hasLabel(items []struct{ Label string }, label string) bool {
	for _, it := range items {
		if it.Label == label {
			return true
		}
	}
	return false
}

// TestHover: a thumbprint shows its certificate, the stores that hold it
// and the instances that reach it with its key.
func TestHover(t *testing.T) {
	c, _, uri, text := openQuickstart(t)
	tests := []struct {
		name string
		at   position
		want []string
		not  []string
	}{
		{"signing", pos(t, text, "4E 07 7E", 4), []string{
			"4E077EB5555B50DCBCBF3D7261281954D2A1999D", "CN=Contoso Signing (DEMO ONLY)", "2079-12-31",
			`certificate_store "svc_send_personal"`, "with its private key",
			"Instances that reach it with its private key", `host "send_host" on server "srv1" as service account "svc_send"`,
		}, []string{"demo-only"}},
		{"encryption", pos(t, text, "CCFE302DA", 0), []string{
			"CCFE302DA296CC18B316BA3063F069169382D9FC", `certificate_store "srv1_other_people"`, "certificate only, no private key",
			`Servers whose other-people store has it`, `server "srv1"`, "No host instance's personal store holds it",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := c.call("textDocument/hover", docPos(uri, tt.at))
			if m.Error != nil {
				t.Fatal(m.Error)
			}
			var h struct {
				Contents struct{ Kind, Value string } `json:"contents"`
			}
			if err := json.Unmarshal(m.Result, &h); err != nil || h.Contents.Kind != "markdown" {
				t.Fatalf("hover %s: %v", m.Result, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(h.Contents.Value, w) {
					t.Errorf("hover lacks %q:\n%s", w, h.Contents.Value)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(h.Contents.Value, n) {
					t.Errorf("hover shows %q:\n%s", n, h.Contents.Value)
				}
			}
		})
	}
	// Not a thumbprint: nothing.
	if m := c.call("textDocument/hover", docPos(uri, pos(t, text, "application/xml", 2))); string(m.Result) != "null" {
		t.Errorf("hover over a content type: %s", m.Result)
	}
	c.shutdown()
}

// TestDefinition: references lead to the label of their declaration, in
// whichever file of the directory it is, at the column an editor shows.
func TestDefinition(t *testing.T) {
	dir, text := quickstart(t)
	// The variable moves to a file of its own, on disk.
	varBlock := text[strings.Index(text, `variable "p12_password"`):strings.Index(text, `certificate_store "svc_send_personal"`)]
	rest := strings.Replace(text, varBlock, "", 1)
	if err := os.WriteFile(filepath.Join(dir, "bizpipe.hcl"), []byte(rest), 0o644); err != nil {
		t.Fatal(err)
	}
	// Saved by Notepad, with a byte order mark, which the editor shows
	// as the file's encoding: the declaration's column is after it.
	if err := os.WriteFile(filepath.Join(dir, "variables.hcl"), []byte("\ufeff"+varBlock), 0o644); err != nil {
		t.Fatal(err)
	}
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	varsURI := fileURI(filepath.Join(dir, "variables.hcl"))
	c := start(t)
	c.initialize()
	c.open(uri, rest)
	c.diagnosticsFor(uri, none)
	tests := []struct {
		ref  string
		at   int // characters into ref
		uri  string
		text string
		decl string // the declaration's label, quotes included
	}{
		{"host.send_host", 2, uri, rest, `host "send_host"`},
		{"host.send_host", 8, uri, rest, `host "send_host"`},
		{"certificate_store.svc_send_personal", 20, uri, rest, `certificate_store "svc_send_personal"`},
		{"service_account.svc_send", 0, uri, rest, `service_account "svc_send"`},
		{"server.srv1", 9, uri, rest, `server "srv1"`},
		{"pipeline.sign_encrypt", 12, uri, rest, `pipeline "sign_encrypt"`},
		{"var.p12_password", 5, varsURI, varBlock, `variable "p12_password"`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			var loc struct {
				URI   string                        `json:"uri"`
				Range struct{ Start, End position } `json:"range"`
			}
			c.result("textDocument/definition", docPos(uri, pos(t, rest, "= "+tt.ref, 2+tt.at)), &loc)
			label := strings.SplitN(tt.decl, " ", 2)[1]
			want := pos(t, tt.text, tt.decl, len(tt.decl)-len(label))
			if loc.URI != tt.uri || loc.Range.Start != want || loc.Range.End.Character != want.Character+len(label) {
				t.Errorf("definition of %s: %+v, want %s at %+v", tt.ref, loc, tt.uri, want)
			}
		})
	}
	// message.id and a plain attribute name lead nowhere.
	for _, at := range []position{pos(t, rest, "message.id", 9), pos(t, rest, "content_type", 2)} {
		if m := c.call("textDocument/definition", docPos(uri, at)); string(m.Result) != "null" {
			t.Errorf("definition at %+v: %s", at, m.Result)
		}
	}
	c.shutdown()
}

// TestCompletion: block and attribute names and values from the language's
// block table and the components' specs, and the declared names.
func TestCompletion(t *testing.T) {
	c, _, uri, text := openQuickstart(t)
	tests := []struct {
		name   string
		edit   string // inserted at the end of the line of after
		after  string
		want   []string
		absent []string
	}{
		{"top level", "\ns", "transport \"file\" {\n    path      = \"out/fabrikam\"\n    file_name = \"${message.id}.eml\"\n  }\n}\n",
			[]string{"send_port", "group", "certificate_store", "message_box"}, []string{"signature"}},
		{"encoder attributes", "\n    ", "encoder \"smime\" {\n",
			[]string{"signature", "digest", "encryption_algorithm", "content_transfer_encoding"}, []string{"path", "host"}},
		{"enum values", "\n    digest = ", "encoder \"smime\" {\n",
			[]string{`sha256`, `sha384`, `sha512`, `sha1`}, nil},
		{"enum in quotes", "\n    signature = \"op", "encoder \"smime\" {\n",
			[]string{`opaque`, `clear`, `none`}, nil},
		{"bool", "\n    encrypt = ", "encoder \"smime\" {\n", []string{"true", "false"}, nil},
		{"component names", "\n  transport \"", "send_port \"fabrikam\" {\n",
			[]string{"file", "http", "as2"}, nil},
		{"file transport", "\n    ", "transport \"file\" {\n    path      = \"out/fabrikam\"\n",
			[]string{"file_name", "copy_mode"}, []string{"url"}},
		{"send port", "\n  ", "send_port \"fabrikam\" {\n",
			[]string{"host", "pipeline", "filter", "encryption_certificate", "transport", "retry"}, []string{"signature"}},
		{"references", "\n  pipeline = ", "send_port \"fabrikam\" {\n", []string{"pipeline.sign_encrypt"}, nil},
		{"after a dot", "\n  host = host.", "send_port \"fabrikam\" {\n", []string{"send_host"}, nil},
		{"variables", "\n  content_type = var.", "receive_location \"orders_in\" {\n", []string{"p12_password"}, nil},
		{"in an expression", "\n  properties = { ", "receive_location \"orders_in\" {\n", nil, []string{"host", "group"}},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := strings.Index(text, tt.after)
			if i < 0 {
				t.Fatalf("%q not in quickstart", tt.after)
			}
			i += len(tt.after) - 1 // before the newline ending after
			edited := text[:i] + tt.edit + text[i:]
			c.change(uri, 10+n, edited)
			var list struct {
				Items []struct {
					Label    string `json:"label"`
					TextEdit struct {
						Range   struct{ Start, End position } `json:"range"`
						NewText string                        `json:"newText"`
					} `json:"textEdit"`
				} `json:"items"`
			}
			at := pos(t, edited, edited[:i+len(tt.edit)], len(edited[:i+len(tt.edit)]))
			c.result("textDocument/completion", docPos(uri, at), &list)
			labels := map[string]bool{}
			for _, it := range list.Items {
				labels[it.Label] = true
				if it.TextEdit.Range.End != at {
					t.Errorf("item %q edits %+v, want up to the cursor %+v", it.Label, it.TextEdit.Range, at)
				}
			}
			for _, w := range tt.want {
				if !labels[w] {
					t.Errorf("completion lacks %q: %v", w, labels)
				}
			}
			for _, a := range tt.absent {
				if labels[a] {
					t.Errorf("completion offers %q here: %v", a, labels)
				}
			}
		})
	}
	c.shutdown()
}

// TestCompletionWhileBroken: the names after host. and pipeline. are
// offered while the line being written is still a syntax error, as it is
// when the editor asks after a pause in typing (`host = `, then the
// completion key): from the configuration as it last decoded. The check
// of the pause replaced it with one in which the file's syntax error had
// kept every block of the file from being decoded, and nothing was
// offered.
func TestCompletionWhileBroken(t *testing.T) {
	c, _, uri, text := openQuickstart(t)
	const after = "send_port \"fabrikam\" {\n"
	i := strings.Index(text, after)
	if i < 0 {
		t.Fatal("quickstart changed: no send port fabrikam")
	}
	i += len(after) - 1
	for n, tt := range []struct{ edit, want string }{
		{"\n  pipeline = ", "pipeline.sign_encrypt"},
		{"\n  host = host.", "send_host"},
	} {
		edited := text[:i] + tt.edit + text[i:]
		version := 2 + n
		c.change(uri, version, edited)
		// The pause: the syntax error is published, for this version.
		c.publishesFor(uri, func(p publish) bool {
			return p.Version != nil && *p.Version == version && hasCode("BP1000")(p.Diagnostics)
		}, 0)
		var list struct {
			Items []struct {
				Label string `json:"label"`
			} `json:"items"`
		}
		end := edited[:i+len(tt.edit)]
		c.result("textDocument/completion", docPos(uri, pos(t, edited, end, len(end))), &list)
		if !slices.ContainsFunc(list.Items, func(it struct {
			Label string `json:"label"`
		}) bool {
			return it.Label == tt.want
		}) {
			t.Errorf("completion after %q: %+v, want %s", tt.edit, list.Items, tt.want)
		}
	}
	c.shutdown()
}

// TestClose: closing the last open file of a configuration clears the
// diagnostics the server published for it.
func TestClose(t *testing.T) {
	dir, text := quickstart(t)
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	c := start(t)
	c.initialize()
	c.open(uri, strings.Replace(text, "pipeline.sign_encrypt", "pipeline.sign_encrypted", 1))
	c.diagnosticsFor(uri, hasCode("BP1001"))
	c.notify("textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": uri}})
	c.diagnosticsFor(uri, none)
	c.shutdown()
}

// TestWatchedFiles: a client that watches files for servers is asked to
// report changes to configuration and store files; a configuration file
// written on disk by another program, never opened, is then checked
// (here, a duplicate host). A client without the capability is asked
// nothing.
func TestWatchedFiles(t *testing.T) {
	dir, text := quickstart(t)
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	c := start(t)
	c.initializeWith(map[string]any{"workspace": map[string]any{
		"didChangeWatchedFiles": map[string]any{"dynamicRegistration": true}}})
	var reg message
	for reg = c.next(); reg.Method != "client/registerCapability"; reg = c.next() {
		c.notes = append(c.notes, reg)
	}
	if reg.ID == nil || !strings.Contains(string(reg.Params), `"workspace/didChangeWatchedFiles"`) ||
		!strings.Contains(string(reg.Params), `"**/*.hcl"`) || !strings.Contains(string(reg.Params), "p12") {
		t.Fatalf("registration %s (id %v): want watchers of configuration and store files", reg.Params, reg.ID)
	}
	c.send(map[string]any{"id": *reg.ID, "result": nil})
	c.open(uri, text)
	c.diagnosticsFor(uri, none)

	extra := filepath.Join(dir, "extra.hcl")
	if err := os.WriteFile(extra, []byte("host \"send_host\" {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.notify("workspace/didChangeWatchedFiles", map[string]any{"changes": []map[string]any{{"uri": fileURI(extra), "type": 1}}})
	if ds := c.diagnosticsFor(fileURI(extra), func(ds []diagnostic) bool { return len(ds) > 0 }); ds[0].Severity != 1 {
		t.Errorf("extra.hcl: %+v, want an error for the duplicate host", ds)
	}
	// A store's certificate removed on disk: the directory is checked
	// again, and the encrypting port no longer reaches its certificate.
	if err := os.Remove(extra); err != nil {
		t.Fatal(err)
	}
	c.notify("workspace/didChangeWatchedFiles", map[string]any{"changes": []map[string]any{{"uri": fileURI(extra), "type": 3}}})
	c.diagnosticsFor(uri, none)
	partnerCert := filepath.Join(dir, "stores", "srv1_other_people", "fabrikam.pem")
	if err := os.Remove(partnerCert); err != nil {
		t.Fatal(err)
	}
	c.notify("workspace/didChangeWatchedFiles", map[string]any{"changes": []map[string]any{{"uri": fileURI(partnerCert), "type": 3}}})
	c.diagnosticsFor(uri, func(ds []diagnostic) bool { return len(ds) > 0 })
	c.shutdown()
	// For the client below, which checks the directory as it was.
	if err := os.WriteFile(extra, []byte("host \"send_host\" {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	plain := start(t)
	plain.initialize()
	plain.open(uri, text)
	// Every message up to the directory's diagnostics: no registration.
	for _, m := range plain.notes {
		if m.Method == "client/registerCapability" {
			t.Errorf("a client without dynamic registration was asked to watch files: %s", m.Params)
		}
	}
	for m := plain.next(); ; m = plain.next() {
		if m.Method == "client/registerCapability" {
			t.Errorf("a client without dynamic registration was asked to watch files: %s", m.Params)
		}
		var p publish
		if m.Method == "textDocument/publishDiagnostics" && json.Unmarshal(m.Params, &p) == nil &&
			p.URI == fileURI(extra) && len(p.Diagnostics) > 0 {
			break
		}
	}
	plain.shutdown()
}
