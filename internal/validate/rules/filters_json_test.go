package rules_test

import (
	"encoding/json"
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
