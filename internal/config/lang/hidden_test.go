package lang

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestHiddenOperandsJSON: a JSON file's filter or template, a string whose
// template is native syntax, reports the errors HCL drops for an operand
// chosen by the unknown message as its native twin does
// (testdata/invalid-files/hidden-operands.hcl): otherwise it validated,
// and every message that reached it failed at run time. What a known
// operand spares is judged in neither.
func TestHiddenOperandsJSON(t *testing.T) {
	tests := []struct {
		name, filter, fileName string
		want                   int // BP1005 errors
	}{
		{name: "and", filter: `message.receive_location == "in" && upper(message.id, 1) == "X"`, want: 1},
		{name: "or", filter: `message.receive_location == "in" || nosuch(message.id)`, want: 1},
		{name: "received_at", filter: `message.receive_location == "in" && message.received_at > 5`, want: 1},
		{name: "conditional filter", filter: `message.size > 1 ? message.receive_location == "in" : substr(message.id) == "x"`, want: 1},
		{name: "conditional template", filter: "true", fileName: `${message.size > 1 ? message.id : upper(message.id, 2)}.edi`, want: 1},
		{name: "spared", filter: `local.on && upper(message.id, 1) == "X"`, fileName: `${local.on ? upper(message.id, 1) : message.id}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fileName := tt.fileName
			if fileName == "" {
				fileName = "${message.id}"
			}
			dir := t.TempDir()
			native := fmt.Sprintf(`group "g" {}
host "h" {}
locals {
  on = false
}
send_port "p" {
  host   = host.h
  filter = %s
  transport "file" {
    path      = "out"
    file_name = %q
  }
}
`, tt.filter, fileName)
			doc := map[string]any{
				"group":  map[string]any{"g": map[string]any{}},
				"host":   map[string]any{"h": map[string]any{}},
				"locals": map[string]any{"on": false},
				"send_port": map[string]any{"p": map[string]any{
					"host":      "host.h",
					"filter":    "${" + tt.filter + "}",
					"transport": map[string]any{"file": map[string]any{"path": "out", "file_name": fileName}},
				}},
			}
			text, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			for name, diags := range loadTwins(t, dir, native, text) {
				codes := make([]string, 0, len(diags))
				for _, d := range diags {
					codes = append(codes, string(diag.CodeOf(d)))
				}
				if got := len(slices.DeleteFunc(slices.Clone(codes), func(c string) bool { return c != string(diag.CodeFilter) })); got != tt.want || len(codes) != tt.want {
					t.Errorf("%s: diagnostics %v, want %d BP1005 and nothing else:\n%s", name, codes, tt.want, diags.Error())
				}
			}
		})
	}
}
