package lang

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// TestSMIMEEncoderAttributes: an encoder "smime" block becomes the encoder
// options language §3 states: left out, or null, each attribute has its
// default (signature "none", digest "sha256", include_certificate true,
// encrypt false, encryption_algorithm "aes256-cbc", content_transfer_encoding
// "base64", which the encoder applies as base64 but binary where RFC 2045
// allows no other), and each value of each enumeration is the option of
// that name.
func TestSMIMEEncoderAttributes(t *testing.T) {
	defaults := smime.Options{Signature: "none", Digest: "sha256", IncludeCertificate: true, Algorithm: cms.AES256CBC}
	with := func(f func(o *smime.Options)) smime.Options {
		o := defaults
		f(&o)
		return o
	}
	tests := []struct {
		body string
		want smime.Options
	}{
		{``, defaults},
		{`signature = null
digest = null
include_certificate = null
encrypt = null
encryption_algorithm = null
content_transfer_encoding = null`, defaults},
		{`signature = "clear"`, with(func(o *smime.Options) { o.Signature = "clear" })},
		{`signature = "opaque"`, with(func(o *smime.Options) { o.Signature = "opaque" })},
		{`signature = "none"`, defaults},
		{`digest = "sha384"`, with(func(o *smime.Options) { o.Digest = "sha384" })},
		{`digest = "sha512"`, with(func(o *smime.Options) { o.Digest = "sha512" })},
		{`digest = "sha1"`, with(func(o *smime.Options) { o.Digest = "sha1" })},
		{`include_certificate = false`, with(func(o *smime.Options) { o.IncludeCertificate = false })},
		{`encrypt = true`, with(func(o *smime.Options) { o.Encrypt = true })},
		{`encryption_algorithm = "aes128-cbc"`, with(func(o *smime.Options) { o.Algorithm = cms.AES128CBC })},
		{`encryption_algorithm = "aes256-cbc"`, defaults},
		{`encryption_algorithm = "aes128-gcm"`, with(func(o *smime.Options) { o.Algorithm = cms.AES128GCM })},
		{`encryption_algorithm = "aes256-gcm"`, with(func(o *smime.Options) { o.Algorithm = cms.AES256GCM })},
		{`encryption_algorithm = "des3"`, with(func(o *smime.Options) { o.Algorithm = cms.DES3CBC })},
		{`content_transfer_encoding = "base64"`, with(func(o *smime.Options) { o.ContentTransferEncoding = "base64" })},
		{`content_transfer_encoding = "quoted-printable"`, with(func(o *smime.Options) { o.ContentTransferEncoding = "quoted-printable" })},
		{`content_transfer_encoding = "7bit"`, with(func(o *smime.Options) { o.ContentTransferEncoding = "7bit" })},
		{`content_transfer_encoding = "8bit"`, with(func(o *smime.Options) { o.ContentTransferEncoding = "8bit" })},
		{`content_transfer_encoding = "binary"`, with(func(o *smime.Options) { o.ContentTransferEncoding = "binary" })},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.body, "\n", "; "), func(t *testing.T) {
			cfg, diags := loadSource(t, fmt.Sprintf("%spipeline \"p\" {\n  encoder \"smime\" {\n%s\n  }\n}\n", nestingGroup, tt.body))
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %s", diags.Error())
			}
			if len(cfg.Pipelines) != 1 || len(cfg.Pipelines[0].Stages) != 1 {
				t.Fatalf("pipelines %+v, want one of one stage", cfg.Pipelines)
			}
			c, ok := cfg.Pipelines[0].Stages[0].Config.(*smime.Config)
			if !ok {
				t.Fatalf("stage config %T, want *smime.Config", cfg.Pipelines[0].Stages[0].Config)
			}
			got, err := c.Options()
			if err != nil || got != tt.want {
				t.Errorf("options %+v, %v; want %+v", got, err, tt.want)
			}
			if cte := c.ContentTransferEncoding; !strings.Contains(tt.body, "content_transfer_encoding = \"") && (cte.V != "base64" || !cte.Default) {
				t.Errorf("content_transfer_encoding %+v, want the default base64", cte)
			}
			// The encoder takes the options as they are.
			if _, err := smime.NewEncoder(got); err != nil {
				t.Errorf("NewEncoder(%+v): %v", got, err)
			}
		})
	}
}
