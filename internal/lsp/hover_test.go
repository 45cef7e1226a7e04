package lsp

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/model"
)

// TestStoreName: a store's path, which can come from a variable, shows
// escaped the way diagnostics show it (a newline as \n, not as a space
// that would name another directory; an escape sequence as \x1b), and not
// at all when it comes from a sensitive value.
func TestStoreName(t *testing.T) {
	sensitive := model.Known("/srv/secret-tenant/store", hcl.Range{})
	sensitive.Sensitive = true
	tests := []struct {
		name string
		path model.Value[string]
		want string // in the hover line
		not  string
	}{
		{"plain", model.Known("/srv/stores/a b", hcl.Range{}), "`certificate_store \"s\" (/srv/stores/a b)`", ""},
		{"newline", model.Known("/srv/stores/a\nb", hcl.Range{}), `("/srv/stores/a\nb")`, "a b"},
		{"escape", model.Known("/srv/\x1b[2Jstores", hcl.Range{}), `/srv/\x1b[2Jstores`, "\x1b"},
		{"sensitive", sensitive, "`certificate_store \"s\"`", "secret-tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := md(storeName(&model.CertificateStore{Name: "s", Path: tt.path}))
			if !strings.Contains(got, tt.want) {
				t.Errorf("hover line %s, want it to contain %s", got, tt.want)
			}
			if tt.not != "" && strings.Contains(got, tt.not) {
				t.Errorf("hover line %q shows %q", got, tt.not)
			}
		})
	}
}
