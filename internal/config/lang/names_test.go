package lang

import (
	"fmt"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestBlockNames: a block's name is an identifier, [A-Za-z_][A-Za-z0-9_-]*
// (language §2), whole: anything else is BP1004 and the block is left out,
// whichever block type it labels.
func TestBlockNames(t *testing.T) {
	tests := []struct {
		name  string // as written between the label's quotes
		valid bool
	}{
		{"a", true},
		{"_", true},
		{"Srv_01-east", true},
		{"_9-", true},
		{"", false},
		{"1srv", false},
		{"-srv", false},
		{"srv.east", false},
		{"srv east", false},
		{`srv\n`, false},
		{`\nsrv`, false},
		{`srv\u0000`, false},
		{"srv\u200e", false}, // LEFT-TO-RIGHT MARK, pasted with the name
		{"s\u0430v", false},  // CYRILLIC SMALL LETTER A
		{"ｓｒｖ", false},       // fullwidth letters
		{"café", false},      // a letter, but not an ASCII one
		{`srv\"x`, false},    // an escaped quote
		{`$${x}`, false},     // the text of a template: labels are literal
	}
	for _, tt := range tests {
		for _, block := range []string{"server", "certificate_store"} {
			t.Run(fmt.Sprintf("%s %q", block, tt.name), func(t *testing.T) {
				body := "{}"
				if block == "certificate_store" {
					body = `{ path = "s" }`
				}
				cfg, diags := loadSource(t, fmt.Sprintf("%s%s \"%s\" %s\n", nestingGroup, block, tt.name, body))
				declared := len(cfg.Servers) + len(cfg.Stores)
				invalid := 0
				for _, d := range diags {
					if d.Summary == "Invalid name" && diag.CodeOf(d) == diag.CodeInvalidValue {
						invalid++
					}
				}
				if tt.valid && (invalid != 0 || declared != 1) {
					t.Errorf("valid name refused (declared %d): %s", declared, diags.Error())
				}
				if !tt.valid && (invalid != 1 || declared != 0) {
					t.Errorf("invalid name: %d BP1004 Invalid name, %d blocks declared; want 1 and 0: %s", invalid, declared, diags.Error())
				}
			})
		}
	}
}
