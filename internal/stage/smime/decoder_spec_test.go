package smime

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
)

// TestDecoderNeeds checks what a decoder block asks of the instance that
// runs it, which the rules derive BP7001–BP7008 from: the decryption
// identity when it decrypts, the parties' certificates when it verifies,
// "maybe" when that depends on a value unknown during validate, and
// require_encryption defaulting to decrypt's value.
func TestDecoderNeeds(t *testing.T) {
	known := func(b bool) value.Value[bool] { return value.Known(b, hcl.Range{}) }
	// As the front end decodes them: absent attributes with a default
	// are defaulted; require_encryption, which has none, is unset.
	def := value.Defaulted(false, hcl.Range{})
	unset := value.Value[bool]{}
	unknown := value.Value[bool]{Set: true}
	tests := []struct {
		name                       string
		decrypt, verify, require   value.Value[bool]
		wantDecryption, wantVerify component.Need
		wantRequire                value.Value[bool]
	}{
		{"defaults", def, def, unset, component.NotNeeded, component.NotNeeded, def},
		{"decrypt", known(true), def, unset, component.Needed, component.NotNeeded, known(true)},
		{"verify", known(false), known(true), unset, component.NotNeeded, component.Needed, known(false)},
		{"decrypt, plain input allowed", known(true), known(true), known(false), component.Needed, component.Needed, known(false)},
		{"unknown during validate", unknown, unknown, unset, component.MaybeNeeded, component.MaybeNeeded, unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := component.NewBody(`decoder "smime"`, hcl.Range{}, func(d *hcl.Diagnostic) { t.Errorf("diagnostic: %s", d.Error()) })
			b.Set("decrypt", tt.decrypt)
			b.Set("verify", tt.verify)
			b.Set("require_encryption", tt.require)
			c := DecoderSpec.Decode(b).(*DecoderConfig)
			n := c.Needs()
			if n.Decryption != tt.wantDecryption || n.PartySigning != tt.wantVerify || n.Signing != component.NotNeeded || n.Encryption != component.NotNeeded {
				t.Errorf("Needs() = %+v", n)
			}
			if c.RequireEncryption.Known != tt.wantRequire.Known || c.RequireEncryption.V != tt.wantRequire.V {
				t.Errorf("require_encryption = %+v, want %+v", c.RequireEncryption, tt.wantRequire)
			}
		})
	}
}

// TestDecoderRequireEncryptionWithoutDecrypt: require_encryption = true in
// a stage that does not decrypt refuses every message, so it is BP1004 at
// the attribute; with decrypt true, or unknown, or require_encryption
// false, it is not.
func TestDecoderRequireEncryptionWithoutDecrypt(t *testing.T) {
	at := hcl.Range{Filename: "main.hcl", Start: hcl.Pos{Line: 7, Column: 5}}
	known := func(b bool) value.Value[bool] { return value.Known(b, at) }
	for _, tt := range []struct {
		name             string
		decrypt, require value.Value[bool]
		wantError        bool
	}{
		{"decrypt false", known(false), known(true), true},
		{"decrypt left out", value.Defaulted(false, hcl.Range{}), known(true), true},
		{"decrypt true", known(true), known(true), false},
		{"decrypt unknown", value.Value[bool]{Set: true}, known(true), false},
		{"require_encryption false", known(false), known(false), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []*hcl.Diagnostic
			b := component.NewBody(`decoder "smime"`, hcl.Range{}, func(d *hcl.Diagnostic) { got = append(got, d) })
			b.Set("decrypt", tt.decrypt)
			b.Set("verify", known(true))
			b.Set("require_encryption", tt.require)
			DecoderSpec.Decode(b)
			if !tt.wantError {
				if len(got) != 0 {
					t.Errorf("diagnostics %v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Severity != hcl.DiagError || got[0].Subject == nil || *got[0].Subject != at ||
				!strings.Contains(got[0].Detail, "would refuse every message") || !strings.Contains(got[0].Detail, `decoder "smime"`) {
				t.Errorf("diagnostics %v, want one error at require_encryption saying it would refuse every message", got)
			}
		})
	}
}
