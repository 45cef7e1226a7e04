package lsp

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/benchgen"
	"github.com/bizpipe/bizpipe/internal/lsp/jsonrpc"
)

func size(b *testing.B, name string) int64 {
	info, err := os.Stat(name)
	if err != nil {
		b.Fatal(err)
	}
	return info.Size()
}

// BenchmarkDidChange measures the latency from a didChange to the
// publishDiagnostics that answers it, on the quickstart and on the
// benchmark configuration of validate (benchgen.Default: 1,000 hosts x 2
// instances, 2,000 send ports, 200 stores), with the server in-process over
// pipes. The debounce is set to nothing, so the time is the server's own
// work: an editor sees it plus the debounce (DefaultDebounce). Each change
// edits the largest file of the directory, alternating between two texts.
//
//	go test ./internal/lsp -run '^$' -bench BenchmarkDidChange -benchtime 20x
//
// scripts/bench-lsp.sh runs it.
func BenchmarkDidChange(b *testing.B) {
	b.Run("quickstart", func(b *testing.B) {
		dir := b.TempDir()
		if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
			b.Fatal(err)
		}
		benchDidChange(b, dir)
	})
	b.Run("benchgen-1000-hosts", func(b *testing.B) {
		dir := b.TempDir()
		if err := benchgen.Generate(dir, benchgen.Default()); err != nil {
			b.Fatal(err)
		}
		benchDidChange(b, dir)
	})
}

func benchDidChange(b *testing.B, dir string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no configuration in %s: %v", dir, err)
	}
	// The largest file is edited: re-parsing it is the cost of a change.
	sort.Slice(files, func(i, j int) bool { return size(b, files[i]) > size(b, files[j]) })
	text, err := os.ReadFile(files[0])
	if err != nil {
		b.Fatal(err)
	}
	uri := pathToURI(files[0])
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Serve(inR, outW, Options{Debounce: time.Nanosecond, LookupEnv: func(string) (string, bool) { return "", false }})
		outW.Close()
	}()
	client := jsonrpc.NewConn(outR, inW)
	// The pipes have no buffer: a reader of its own keeps the server from
	// blocking on a write while the benchmark writes.
	in := make(chan *jsonrpc.Message, 64)
	go func() {
		defer close(in)
		for {
			m, err := client.Read()
			if err != nil {
				return
			}
			in <- m
		}
	}()
	send := func(id int, method string, params any) {
		p, _ := json.Marshal(params)
		m := &jsonrpc.Message{Method: method, Params: p}
		if id > 0 {
			m.ID = json.RawMessage([]byte{byte('0' + id)})
		}
		if err := client.Write(m); err != nil {
			b.Fatal(err)
		}
	}
	// waitClean reads until diagnostics for uri arrive, and fails on
	// findings: the benchmark must measure the clean path.
	waitClean := func() {
		for {
			m, ok := <-in
			if !ok {
				b.Fatal("the server closed its output")
			}
			if m.Method != "textDocument/publishDiagnostics" {
				continue
			}
			var p publishDiagnosticsParams
			if err := json.Unmarshal(m.Params, &p); err != nil {
				b.Fatal(err)
			}
			if p.URI != uri {
				continue
			}
			for _, d := range p.Diagnostics {
				if d.Severity == severityError {
					b.Fatalf("the configuration has errors: %s", d.Message)
				}
			}
			return
		}
	}
	send(1, "initialize", map[string]any{})
	send(0, "initialized", map[string]any{})
	send(0, "textDocument/didOpen", didOpenParams{TextDocument: textDocumentItem{URI: uri, Version: 1, Text: string(text)}})
	waitClean()
	texts := []string{string(text) + "\n# edited\n", string(text)}
	version := 1
	b.ResetTimer()
	for b.Loop() {
		version++
		send(0, "textDocument/didChange", map[string]any{
			"textDocument":   map[string]any{"uri": uri, "version": version},
			"contentChanges": []map[string]any{{"text": texts[version%2]}},
		})
		waitClean()
	}
	b.StopTimer()
	send(2, "shutdown", nil)
	send(0, "exit", nil)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	inW.Close()
}
