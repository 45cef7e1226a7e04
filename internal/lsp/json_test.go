package lsp_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// jsonPort is a JSON file of the quickstart's configuration: it declares
// the host and a local the HCL file refers to, and refers to the HCL
// file's server, account and pipeline, in the bare form a reference
// attribute takes in JSON, and in a template after an escape.
const jsonPort = `{
  "locals": {"out_dir": "out/fabrikam"},
  "host": {"send_host": {"instance": [{"server": "server.srv1", "service_account": "service_account.svc_send"}]}},
  "send_port": {"json_port": {
    "host": "host.send_host",
    "pipeline": "pipeline.sign_encrypt",
    "encryption_certificate": "CCFE302DA296CC18B316BA3063F069169382D9FC",
    "filter": "${message.properties.partner == \"json\"}",
    "transport": {"file": {"path": ".\/${local.out_dir}\/json", "file_name": "${message.id}.eml"}}
  }}
}
`

// jsonSession is the quickstart with its host in b.hcl.json (on disk
// with a byte order mark, as Notepad saves it), and the fabrikam port's
// path a local declared there; bizpipe.hcl is open.
func jsonSession(t *testing.T) (c *client, hclURI, hclText, jsonURI string) {
	t.Helper()
	dir, text := quickstart(t)
	host := text[strings.Index(text, `host "send_host"`):strings.Index(text, `pipeline "sign_encrypt"`)]
	hclText = strings.Replace(strings.Replace(text, host, "", 1), `path      = "out/fabrikam"`, `path      = local.out_dir`, 1)
	if err := os.WriteFile(filepath.Join(dir, "bizpipe.hcl"), []byte(hclText), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.hcl.json"), []byte("\ufeff"+jsonPort), 0o644); err != nil {
		t.Fatal(err)
	}
	hclURI, jsonURI = fileURI(filepath.Join(dir, "bizpipe.hcl")), fileURI(filepath.Join(dir, "b.hcl.json"))
	c = start(t)
	c.initialize()
	c.open(hclURI, hclText)
	c.diagnosticsFor(hclURI, none)
	return c, hclURI, hclText, jsonURI
}

type location struct {
	URI   string                        `json:"uri"`
	Range struct{ Start, End position } `json:"range"`
}

// TestDefinitionJSON: go to definition from and to the declarations of a
// JSON file: its labels are the object keys that name its blocks (quotes
// included, as a native label's range), and a reference in one of its
// strings, bare ("host.x") or in a template ("${local.x}"), leads to its
// declaration. Declarations in JSON files were skipped, and the bare form
// was not read as a reference at all.
func TestDefinitionJSON(t *testing.T) {
	c, hclURI, hclText, jsonURI := jsonSession(t)
	type defCase struct {
		name     string
		from     string // the document asked in
		fromText string
		ref      string // first occurrence in fromText
		at       int    // bytes into ref
		uri      string // "" means no definition
		text     string
		decl     string // the declaration's label, quotes included, first occurrence in text
	}
	check := func(t *testing.T, tests []defCase) {
		t.Helper()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				m := c.call("textDocument/definition", docPos(tt.from, pos(t, tt.fromText, tt.ref, tt.at)))
				if m.Error != nil {
					t.Fatalf("definition: %+v", m.Error)
				}
				if tt.uri == "" {
					if string(m.Result) != "null" {
						t.Errorf("definition at %q+%d: %s, want none", tt.ref, tt.at, m.Result)
					}
					return
				}
				var loc location
				if err := json.Unmarshal(m.Result, &loc); err != nil {
					t.Fatalf("definition %s: %v", m.Result, err)
				}
				want := pos(t, tt.text, tt.decl, 0)
				if loc.URI != tt.uri || loc.Range.Start != want || loc.Range.End != (position{want.Line, want.Character + len(tt.decl)}) {
					t.Errorf("definition at %q+%d: %s, want %s at %+v, %d characters", tt.ref, tt.at, m.Result, tt.uri, want, len(tt.decl))
				}
			})
		}
	}

	// b.hcl.json is on disk only.
	check(t, []defCase{
		{"hcl to json host", hclURI, hclText, "= host.send_host", 4, jsonURI, jsonPort, `"send_host"`},
		{"hcl to json local", hclURI, hclText, "= local.out_dir", 10, jsonURI, jsonPort, `"out_dir"`},
	})

	c.open(jsonURI, jsonPort)
	c.diagnosticsFor(jsonURI, none)
	check(t, []defCase{
		{"hcl to open json", hclURI, hclText, "= host.send_host", 9, jsonURI, jsonPort, `"send_host"`},
		{"json to hcl server", jsonURI, jsonPort, `"server.srv1"`, 9, hclURI, hclText, `"srv1"`},
		{"json to hcl account", jsonURI, jsonPort, `"service_account.svc_send"`, 3, hclURI, hclText, `"svc_send"`},
		{"json to hcl pipeline", jsonURI, jsonPort, `"pipeline.sign_encrypt"`, 22, hclURI, hclText, `"sign_encrypt"`},
		{"within json bare", jsonURI, jsonPort, `"host.send_host"`, 1, jsonURI, jsonPort, `"send_host"`},
		{"within json template after an escape", jsonURI, jsonPort, `${local.out_dir}`, 9, jsonURI, jsonPort, `"out_dir"`},
		{"json key", jsonURI, jsonPort, `"host": "host.send_host"`, 2, "", "", ""},
		{"json message", jsonURI, jsonPort, `message.id`, 9, "", "", ""},
		{"json text not a reference", jsonURI, jsonPort, `"out/fabrikam"`, 2, "", "", ""},
	})

	// The template form in a string of any attribute, in a buffer not
	// saved; and a key whose text looks like a reference is none.
	edited := strings.Replace(jsonPort, `"out_dir": "out/fabrikam"`,
		`"out_dir": "out/fabrikam", "note": "on ${host.send_host}", "host.send_host": 1`, 1)
	c.change(jsonURI, 2, edited)
	check(t, []defCase{
		{"within edited json template", jsonURI, edited, `${host.send_host}`, 8, jsonURI, edited, `"send_host"`},
		{"json key like a reference", jsonURI, edited, `"host.send_host": 1`, 3, "", "", ""},
	})
	c.shutdown()
}

// TestJSONDocument: hover over a thumbprint in a JSON file shows its
// certificate, completion offers nothing there (its names are HCL's
// syntax, not JSON's: "group" inserted into a JSON file breaks it), and
// no request fails on a JSON buffer cut anywhere, as it is while typed.
func TestJSONDocument(t *testing.T) {
	c, _, _, jsonURI := jsonSession(t)
	c.open(jsonURI, jsonPort)
	c.diagnosticsFor(jsonURI, none)

	var h struct {
		Contents struct{ Value string } `json:"contents"`
	}
	c.result("textDocument/hover", docPos(jsonURI, pos(t, jsonPort, "CCFE302DA", 5)), &h)
	if !strings.Contains(h.Contents.Value, `certificate_store "srv1_other_people"`) {
		t.Errorf("hover over a thumbprint in JSON: %q", h.Contents.Value)
	}

	for _, at := range []position{
		{0, 0}, pos(t, jsonPort, "\n  \"host\"", 1), pos(t, jsonPort, `"pipeline": "`, 13),
		pos(t, jsonPort, `"path": `, 8), pos(t, jsonPort, "}\n}\n", 3),
	} {
		var list struct {
			Items []struct{ Label string } `json:"items"`
		}
		c.result("textDocument/completion", docPos(jsonURI, at), &list)
		if len(list.Items) != 0 {
			t.Errorf("completion in JSON at %+v: %+v, want none", at, list.Items)
		}
	}

	version := 2
	for cut := 0; cut <= len(jsonPort); cut += 9 {
		text := jsonPort[:cut]
		c.change(jsonURI, version, text)
		version++
		end := pos(t, text+"\x00", "\x00", 0)
		for _, method := range []string{"textDocument/definition", "textDocument/hover", "textDocument/completion"} {
			for _, at := range []position{end, {Line: end.Line, Character: max(end.Character-3, 0)}} {
				if m := c.call(method, docPos(jsonURI, at)); m.Error != nil {
					t.Errorf("%s at %+v in %q: %+v", method, at, text, m.Error)
				}
			}
		}
	}
	c.shutdown()
}

// TestUnreadableJSONBuffer: a JSON buffer the loader refuses for its
// nesting (BP1000) is refused by definition too, which parses it as JSON.
// It was checked as HCL only, to which the brackets after a "${" string
// are the text of a template: parsing them three million deep overflowed
// the stack, a fatal error that ended the server.
func TestUnreadableJSONBuffer(t *testing.T) {
	c, _, _, jsonURI := jsonSession(t)
	buf := `{"a": "host.send_host", "b": "${", "c": ` + strings.Repeat("[", 3_000_000) + "\n"
	c.open(jsonURI, buf)
	c.diagnosticsFor(jsonURI, hasCode("BP1000"))
	for _, method := range []string{"textDocument/definition", "textDocument/hover"} {
		if m := c.call(method, docPos(jsonURI, pos(t, buf, "host.send_host", 7))); m.Error != nil || string(m.Result) != "null" {
			t.Errorf("%s: %s %+v, want null", method, m.Result, m.Error)
		}
	}
	c.shutdown()
}
