package lang

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestTemplateLiteralsJSON: the checks that read a template's literal text
// (a file_name whose every name holds a path separator, a url whose every
// value has a scheme other than http and https: BP1004; a tls block on a
// url certainly http://: BP1010) judge a JSON file's template, a string,
// as its native twin. They read native templates only, and such a JSON
// configuration validated, then every delivery failed (or went in clear
// with no warning).
func TestTemplateLiteralsJSON(t *testing.T) {
	tests := []struct {
		name      string
		transport string
		attrs     map[string]any // the transport's attributes, string values templates
		tls       bool
		want      []diag.Code
	}{
		{name: "file_name prefix", transport: "file", attrs: map[string]any{"path": "out", "file_name": "sub/${message.id}.eml"}, want: []diag.Code{diag.CodeInvalidValue}},
		{name: "file_name part", transport: "file", attrs: map[string]any{"path": "out", "file_name": "${message.id}/x.eml"}, want: []diag.Code{diag.CodeInvalidValue}},
		{name: "file_name fine", transport: "file", attrs: map[string]any{"path": "out", "file_name": "x-${message.id}.eml"}},
		{name: "url scheme", transport: "http", attrs: map[string]any{"url": "ftp://partner.example/${message.id}"}, want: []diag.Code{diag.CodeInvalidValue}},
		{name: "tls on http", transport: "http", attrs: map[string]any{"url": "http://partner.example/${message.id}"}, tls: true, want: []diag.Code{diag.CodeTLSUnused}},
		{name: "tls on https", transport: "http", attrs: map[string]any{"url": "https://partner.example/${message.id}"}, tls: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var native string
			for _, k := range []string{"path", "file_name", "url"} {
				if v, ok := tt.attrs[k]; ok {
					native += fmt.Sprintf("    %s = %q\n", k, v)
				}
			}
			transport := map[string]any{}
			for k, v := range tt.attrs {
				transport[k] = v
			}
			if tt.tls {
				native += "    tls {\n      ca_file = \"ca.pem\"\n    }\n"
				transport["tls"] = map[string]any{"ca_file": "ca.pem"}
			}
			native = fmt.Sprintf("group \"g\" {}\nhost \"h\" {}\nsend_port \"p\" {\n  host   = host.h\n  filter = true\n  transport %q {\n%s  }\n}\n", tt.transport, native)
			text, err := json.Marshal(map[string]any{
				"group": map[string]any{"g": map[string]any{}},
				"host":  map[string]any{"h": map[string]any{}},
				"send_port": map[string]any{"p": map[string]any{
					"host": "host.h", "filter": true, "transport": map[string]any{tt.transport: transport},
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for name, diags := range loadTwins(t, dir, native, text) {
				var got []diag.Code
				for _, d := range diags {
					got = append(got, diag.CodeOf(d))
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s: diagnostics %v, want %v:\n%s", name, got, tt.want, diags.Error())
				}
			}
		})
	}
}

// loadTwins writes native, a configuration in HCL, and text, the same in
// JSON, to native/p.hcl and json/p.hcl.json under dir, and returns what
// Load of each says, by those names.
func loadTwins(t *testing.T, dir, native string, text []byte) map[string]hcl.Diagnostics {
	t.Helper()
	out := map[string]hcl.Diagnostics{}
	for name, src := range map[string][]byte{"native/p.hcl": []byte(native), "json/p.hcl.json": text} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, src, 0o644); err != nil {
			t.Fatal(err)
		}
		_, out[name] = Load([]string{p}, Options{LookupEnv: noEnv})
	}
	return out
}
