package runner_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestAS2TwoStageMIC: an as2 location whose pipeline decrypts in one stage
// and verifies in the next answers with the Received-Content-MIC of what
// the partner signed (RFC 4130 §7.3.1), as a one-stage pipeline does,
// although the stage that reads the message as received is not the one
// that verifies it; the message is the signer's party's. Clear and opaque
// signatures, whose signed content is here the entity itself.
func TestAS2TwoStageMIC(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	cfg := strings.Replace(as2RecvConfig, decodePipeline, `pipeline "decode" {
  decoder "smime" { decrypt = true }
  decoder "smime" { verify = true }
}`, 1)
	if cfg == as2RecvConfig {
		t.Fatal("as2RecvConfig has no decodePipeline to replace")
	}
	// northwind, a party of as2RecvConfig, signs with the group's
	// certificate here: a certificate of its own would do as well.
	dir := setup(t, p, cfg, map[string]string{"Port": freePort(t), "Northwind": p.signer.SHA1(), "Decrypt": p.signer.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "northwind.pem", p.signer.CertPEM())
	url, box := serveAS2(t, dir, nil)

	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	entity := []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*~two stages\r\n")
	sum := sha256.Sum256(entity)
	wantMIC := base64.StdEncoding.EncodeToString(sum[:]) + ", sha-256"
	for i, opaque := range []bool{false, true} {
		t.Run(fmt.Sprintf("opaque=%t", opaque), func(t *testing.T) {
			args := []string{"cms", "-sign", "-binary", "-in", file("entity.mime", entity),
				"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM()), "-md", "sha256"}
			if opaque {
				args = append(args, "-nodetach")
			}
			signed := file("signed.eml", run(args...))
			der := run("cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-gcm", "-in", signed, file("r.pem", p.signer.CertPEM()))
			req := as2Request(t, url, "FABRIKAM", fmt.Sprintf("<two%d@fabrikam.example>", i),
				`application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"`, der)
			req.Header.Set("Disposition-Notification-Options", "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256")
			resp, b := testhttp.Do(t, nil, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST: %s %q", resp.Status, b)
			}
			rc, err := as2.ParseMDN(as2.JoinEntity(resp.Header, b), as2.VerifyOptions{Trusted: []*x509.Certificate{p.signer.Cert}})
			if err != nil {
				t.Fatal(err)
			}
			if !rc.MDN.Disposition.Positive() || rc.MDN.MIC == nil || rc.MDN.MIC.String() != wantMIC {
				t.Errorf("MDN %q, MIC %v; want processed with %s", rc.MDN.Disposition, rc.MDN.MIC, wantMIC)
			}
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != i+1 {
				t.Fatalf("%d messages stored, want %d", len(msgs), i+1)
			}
			for _, m := range msgs {
				if m.Party != "fabrikam" || m.Decoding != msgbox.Decoded {
					t.Errorf("stored: party %q, decoding %q, %s %q; want fabrikam's, decoded", m.Party, m.Decoding, m.Status, m.Reason)
				}
			}
		})
	}
}
