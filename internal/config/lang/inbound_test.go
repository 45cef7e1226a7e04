package lang

import (
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// TestInboundModel checks that the inbound attributes of language §10 reach
// the model: the group's as2_id, the host's decryption_certificate and
// previous_decryption_certificates (each with its own range), parties
// with their listed thumbprints (each with its own range), receive
// pipelines on receive locations, and the decoder's key needs, including
// require_encryption's default (decrypt's value).
func TestInboundModel(t *testing.T) {
	cfg, diags := Load([]string{"testdata/valid-files/inbound.hcl"}, Options{LookupEnv: noEnv})
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:\n%s", diags.Error())
	}
	if got := cfg.Group.AS2ID; !got.Usable() || got.V != "CONTOSO" {
		t.Errorf("group as2_id = %+v", got)
	}
	if got := cfg.Hosts[0].DecryptionCertificate; !got.Usable() || got.V[:4] != "5B1E" {
		t.Errorf("host decryption_certificate = %+v", got)
	}
	if h := cfg.Hosts[0]; !h.PreviousDecryptionCertificatesKnown || len(h.PreviousDecryptionCertificates) != 2 ||
		!strings.HasSuffix(h.PreviousDecryptionCertificates[0].V, "0001") || !strings.HasSuffix(h.PreviousDecryptionCertificates[1].V, "0000") {
		t.Errorf("host previous_decryption_certificates = %+v", h.PreviousDecryptionCertificates)
	} else if a, b := h.PreviousDecryptionCertificates[0].Range, h.PreviousDecryptionCertificates[1].Range; a.Start.Line != b.Start.Line || a.Start.Column >= b.Start.Column {
		t.Errorf("previous thumbprint ranges %v and %v: want one per list element", a, b)
	}
	if len(cfg.Parties) != 2 {
		t.Fatalf("%d parties, want 2", len(cfg.Parties))
	}
	fab := cfg.Parties[0]
	if fab.Name != "fabrikam" || fab.AS2ID.V != "FABRIKAM" || !fab.SigningCertificatesKnown || len(fab.SigningCertificates) != 2 {
		t.Fatalf("party = %+v", fab)
	}
	if a, b := fab.SigningCertificates[0].Range, fab.SigningCertificates[1].Range; a.Start.Line != b.Start.Line || a.Start.Column >= b.Start.Column {
		t.Errorf("thumbprint ranges %v and %v: want one per list element", a, b)
	}
	if lit := cfg.Parties[1]; lit.AS2ID.Set || len(lit.SigningCertificates) != 0 || !lit.SigningCertificatesKnown {
		t.Errorf("party without attributes = %+v", lit)
	}

	tests := []struct {
		location          string
		decrypt, verify   component.Need
		requireEncryption bool
	}{
		{"from_fabrikam", component.Needed, component.Needed, true},
		{"from_litware", component.NotNeeded, component.Needed, false},
	}
	for _, tt := range tests {
		t.Run(tt.location, func(t *testing.T) {
			var rl *model.ReceiveLocation
			for _, r := range cfg.ReceiveLocations {
				if r.Name == tt.location {
					rl = r
				}
			}
			if rl == nil || rl.Pipeline == nil || !rl.Pipeline.Decodes() || rl.Pipeline.Encodes() {
				t.Fatalf("location %q: no receive pipeline resolved: %+v", tt.location, rl)
			}
			n := rl.Needs()
			if n.Decryption != tt.decrypt || n.PartySigning != tt.verify || n.Signing != component.NotNeeded {
				t.Errorf("needs = %+v", n)
			}
			c := rl.Pipeline.Stages[0].Config.(*smime.DecoderConfig)
			if c.RequireEncryption.V != tt.requireEncryption {
				t.Errorf("require_encryption = %v, want %v", c.RequireEncryption.V, tt.requireEncryption)
			}
			if !rl.Pipeline.Used {
				t.Error("pipeline not marked used")
			}
		})
	}
}
