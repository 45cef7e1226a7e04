package rules_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// TestFilterLocationsJSON: BP1006 judges a JSON file's filter, the
// template of a string, as its native twin: it read native filters only,
// and a .hcl.json port subscribed to a misspelt location went unreported.
func TestFilterLocationsJSON(t *testing.T) {
	tests := []struct {
		name, filter string
		want         []string // the names BP1006 reports
	}{
		{name: "equal", filter: `message.receive_location == "orders_inn"`, want: []string{`"orders_inn"`}},
		{name: "contains", filter: `message.receive_location == "orders_in" || contains(["typo"], message.receive_location)`, want: []string{`"typo"`}},
		{name: "declared", filter: `message.receive_location == "orders_in"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := json.Marshal(map[string]any{
				"group": map[string]any{"g": map[string]any{}},
				"host":  map[string]any{"h": map[string]any{}},
				"receive_location": map[string]any{"orders_in": map[string]any{
					"host": "host.h", "transport": map[string]any{"file": map[string]any{"path": "in"}},
				}},
				"send_port": map[string]any{"p": map[string]any{
					"host": "host.h", "filter": "${" + tt.filter + "}",
					"transport": map[string]any{"file": map[string]any{"path": "out"}},
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "p.hcl.json")
			if err := os.WriteFile(p, text, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, diags := lang.Load([]string{p}, lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
			if diags.HasErrors() {
				t.Fatalf("lang.Load:\n%s", dump(diags))
			}
			_, diags = rules.Check(cfg, rules.Options{})
			var got []string
			for _, d := range diags {
				if diag.CodeOf(d) == diag.CodeFilterLocation {
					for _, name := range []string{`"orders_inn"`, `"typo"`} {
						if strings.Contains(d.Detail, name) {
							got = append(got, name)
						}
					}
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("BP1006 names %v, want %v:\n%s", got, tt.want, dump(diags))
			}
		})
	}
}

// TestJSONFilterRanges: the warnings the rules give about a JSON file's
// filter (BP1006, BP1008) cover the text their native twin's cover. The
// filter is the template of a string, parsed from its decoded text: each
// escape before the name (\" around every string) shifted the range, so
// that "orders_inn" was shown without its closing quote.
func TestJSONFilterRanges(t *testing.T) {
	tests := []struct {
		name         string
		native, json string // the filter, as each file writes it
		code         diag.Code
		want         string // the text the warning covers, decoded
	}{
		{name: "location", native: `"${message.receive_location == "orders_inn" && message.size > 1}"`,
			json: `"${message.receive_location == \"orders_inn\" && message.size > 1}"`, code: diag.CodeFilterLocation, want: `"orders_inn"`},
		{name: "location after escapes", native: `"${message.properties.p == "ä" || message.receive_location == "orders_inn"}"`,
			json: `"${message.properties.p == \"\u00e4\" || message.receive_location == \"orders_inn\"}"`, code: diag.CodeFilterLocation, want: `"orders_inn"`},
		{name: "property", native: `"${message.receive_location == "orders_in" && message.properties.partnr == "x"}"`,
			json: `"${message.receive_location == \"orders_in\" && message.properties.partnr == \"x\"}"`, code: diag.CodeFilterProperty, want: "message.properties.partnr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{
				"p.hcl": fmt.Sprintf(`group "g" {}
host "h" {}
receive_location "orders_in" {
  host = host.h
  transport "file" { path = "in" }
}
send_port "p" {
  host   = host.h
  filter = %s
  transport "file" { path = "out" }
}
`, tt.native),
				"p.hcl.json": fmt.Sprintf(`{
  "group": {"g": {}},
  "host": {"h": {}},
  "receive_location": {"orders_in": {"host": "host.h", "transport": {"file": {"path": "in"}}}},
  "send_port": {"p": {
    "host": "host.h",
    "filter": %s,
    "transport": {"file": {"path": "out"}}
  }}
}
`, tt.json),
			}
			for name, src := range files {
				p := filepath.Join(t.TempDir(), name)
				if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
				cfg, diags := lang.Load([]string{p}, lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
				if diags.HasErrors() {
					t.Fatalf("lang.Load:\n%s", dump(diags))
				}
				_, diags = rules.Check(cfg, rules.Options{})
				var covered []string
				for _, d := range diags {
					if diag.CodeOf(d) != tt.code {
						continue
					}
					text := src[d.Subject.Start.Byte:d.Subject.End.Byte]
					if strings.HasSuffix(name, ".json") {
						var s string
						if err := json.Unmarshal([]byte(`"`+text+`"`), &s); err != nil {
							t.Errorf("%s: %s covers %q, not whole characters", name, d.Subject, text)
						}
						text = s
					}
					covered = append(covered, text)
				}
				if !slices.Equal(covered, []string{tt.want}) {
					t.Errorf("%s: %s covers %q, want %q:\n%s", name, tt.code, covered, tt.want, dump(diags))
				}
			}
		})
	}
}
