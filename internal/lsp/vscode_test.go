package lsp_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/npmtest"
)

// step is one step of testdata/client/client.js's scenario.
type step struct {
	Op        string `json:"op"`
	URI       string `json:"uri,omitempty"`
	Text      string `json:"text,omitempty"`
	Version   int    `json:"version,omitempty"`
	Code      string `json:"code"`
	Line      int    `json:"line"`
	Character int    `json:"character"`
}

func at(uri string, p position, op string) step {
	return step{Op: op, URI: uri, Line: p.Line, Character: p.Character}
}

// TestVSCodeJSONRPCClient drives `bizpipe lsp` with an independent client:
// vscode-jsonrpc, the JSON-RPC layer of VS Code's language client (npm,
// pinned in testdata/client). Diagnostics, hover, definition and
// completion reach it intact through its own framing and message handling,
// and the server exits 0 after shutdown and exit.
func TestVSCodeJSONRPCClient(t *testing.T) {
	src, err := filepath.Abs(filepath.Join("testdata", "client"))
	if err != nil {
		t.Fatal(err)
	}
	modules := npmtest.Install(t, src, filepath.Join("vscode-jsonrpc", "package.json"), "the language server test with vscode-jsonrpc as the client")
	node := npmtest.Tool(t, "node", "the language server test with vscode-jsonrpc as the client")

	dir, text := quickstart(t)
	uri := fileURI(filepath.Join(dir, "bizpipe.hcl"))
	typo := strings.Replace(text, "host                   = host.send_host", "host                   = host.send_hots", 1)
	withEncoder := strings.Replace(text, "encoder \"smime\" {\n", "encoder \"smime\" {\n    \n", 1)
	steps := []step{
		{Op: "open", URI: uri, Text: text},
		{Op: "diagnostics", URI: uri, Code: ""},
		{Op: "change", URI: uri, Version: 2, Text: typo},
		{Op: "diagnostics", URI: uri, Code: "BP1001"},
		{Op: "change", URI: uri, Version: 3, Text: text},
		{Op: "diagnostics", URI: uri, Code: ""},
		at(uri, pos(t, text, "4E 07 7E", 4), "hover"),
		at(uri, pos(t, text, "= host.send_host", 4), "definition"),
		{Op: "change", URI: uri, Version: 4, Text: withEncoder},
		at(uri, pos(t, withEncoder, "encoder \"smime\" {\n    \n", len("encoder \"smime\" {\n    ")), "completion"),
		{Op: "shutdown"},
	}
	scenario, err := json.Marshal(map[string]any{"command": []string{bizpipeBin, "lsp"}, "steps": steps})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "scenario.json")
	if err := os.WriteFile(file, scenario, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(src, "client.js"), file)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(modules, "node_modules"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client.js: %v\n%s\n%s", err, out, stderr.String())
	}
	var got struct {
		Capabilities map[string]any    `json:"capabilities"`
		Results      []json.RawMessage `json:"results"`
		Exit         int               `json:"exit"`
		Error        string            `json:"error"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got.Results) != len(steps) {
		t.Fatalf("client.js printed %s (%v)", out, err)
	}
	for _, c := range []string{"hoverProvider", "definitionProvider", "completionProvider", "textDocumentSync"} {
		if got.Capabilities[c] == nil {
			t.Errorf("capability %s missing: %v", c, got.Capabilities)
		}
	}

	var ds []diagnostic
	if err := json.Unmarshal(got.Results[3], &ds); err != nil || len(ds) != 1 || ds[0].Code != "BP1001" {
		t.Fatalf("diagnostics after the typo: %s", got.Results[3])
	}
	if start := pos(t, typo, "host.send_hots", 0); ds[0].Range.Start != start || !strings.Contains(ds[0].Message, `"send_hots"`) {
		t.Errorf("BP1001 %+v, want it at %+v naming send_hots", ds[0], start)
	}

	var hover struct {
		Contents struct{ Kind, Value string } `json:"contents"`
	}
	if err := json.Unmarshal(got.Results[6], &hover); err != nil || !strings.Contains(hover.Contents.Value, "CN=Contoso Signing (DEMO ONLY)") {
		t.Errorf("hover over the signing thumbprint: %s", got.Results[6])
	}

	var loc struct {
		URI   string                        `json:"uri"`
		Range struct{ Start, End position } `json:"range"`
	}
	if err := json.Unmarshal(got.Results[7], &loc); err != nil || loc.URI != uri ||
		loc.Range.Start != pos(t, text, `host "send_host"`, len("host ")) {
		t.Errorf("definition of host.send_host: %s", got.Results[7])
	}

	var items []struct {
		Label string `json:"label"`
	}
	var list struct {
		Items []struct {
			Label string `json:"label"`
		} `json:"items"`
	}
	if json.Unmarshal(got.Results[9], &list) == nil && list.Items != nil {
		items = list.Items
	} else if err := json.Unmarshal(got.Results[9], &items); err != nil {
		t.Fatalf("completion: %s", got.Results[9])
	}
	labels := map[string]bool{}
	for _, it := range items {
		labels[it.Label] = true
	}
	for _, want := range []string{"signature", "encryption_algorithm"} {
		if !labels[want] {
			t.Errorf("completion in encoder \"smime\" lacks %s: %s", want, got.Results[9])
		}
	}

	if got.Exit != 0 {
		t.Errorf("bizpipe lsp exited %d after shutdown and exit, want 0", got.Exit)
	}
}
