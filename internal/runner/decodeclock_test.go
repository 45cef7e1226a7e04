//go:build linux

package runner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestDecodeSignerValidAtReceipt: the party's signing certificate must be
// valid at the time of receipt (language §10), the instant the runner's
// clock gives when the message is received: the same message is
// delivered with the party when received within the certificate's
// validity, and suspended, never routed, with a reason that says the
// certificate expired when received after its NotAfter, or before its
// NotBefore. A runner that judged certificates by another time than its
// own clock (the rollover's, language §12) delivered all three.
func TestDecodeSignerValidAtReceipt(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p, decrypt, dir := setupDecode(t, decodeConfig, nil)
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	entity := file("entity.mime", []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*~"))
	signed := file("signed.eml", mustRun(t, ossl, "cms", "-sign", "-binary", "-in", entity,
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM())))
	msg := mustRun(t, ossl, "cms", "-encrypt", "-binary", "-in", signed, "-aes256", file("d.pem", decrypt.CertPEM()))

	clk := &clock{}
	r, box := startWith(t, dir, func(o *runner.Options) { o.Now = clk.Now })
	partner := p.partner.Cert
	for _, tc := range []struct {
		name string
		at   time.Time
		why  string // "" when delivered
	}{
		{"valid", partner.NotBefore.Add(time.Minute), ""},
		{"expired", partner.NotAfter.Add(time.Second), "expired"},
		{"not yet valid", partner.NotBefore.Add(-time.Second), "not yet valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.set(tc.at)
			name := strings.ReplaceAll(tc.name, " ", "-") + ".edi"
			put(t, dir, name, msg)
			runUntilSettled(t, r)
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if m.FileName != name {
					continue
				}
				if tc.why == "" {
					if m.Status != msgbox.StatusDelivered || m.Party != "fabrikam" {
						t.Errorf("received at %s: %s, party %q, %q; want delivered, fabrikam", tc.at, m.Status, m.Party, m.Reason)
					}
					return
				}
				if m.Status != msgbox.StatusSuspended || m.Decoding != msgbox.DecodingFailed || m.Party != "" || !strings.Contains(m.Reason, tc.why) {
					t.Errorf("received at %s: %s, decoding %q, party %q, %q; want suspended, failed, no party, %q", tc.at, m.Status, m.Decoding, m.Party, m.Reason, tc.why)
				}
				return
			}
			t.Fatalf("%s was not stored", name)
		})
	}
}
