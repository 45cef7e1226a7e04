//go:build linux

package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestAS2SharedSigningCertificate: two parties that list one signing
// certificate (two AS2 identities of one partner, which signs for both with
// one key) each receive what is signed with it under their own AS2-From,
// as their own: language §11 refuses a message whose verified signer
// belongs to another party than its AS2-From, and this signer belongs to
// the AS2-From's party too. Refusing it as authentication-failed, as a
// decoder that named only the first party listing the certificate made the
// runner do, rejected every message of the party declared second.
func TestAS2SharedSigningCertificate(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	// northwind lists the partner's certificate, as fabrikam does; the
	// port takes the messages of both.
	cfg := strings.Replace(as2RecvConfig, `filter = message.party == "fabrikam"`, `filter = message.party != ""`, 1)
	dir := setup(t, p, cfg, map[string]string{"Port": freePort(t), "Northwind": p.partner.SHA1(), "Decrypt": p.signer.SHA1()})
	url, box := serveAS2(t, dir, nil)

	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	for i, tc := range []struct{ from, party string }{
		{"FABRIKAM", "fabrikam"},
		{"NORTHWIND", "northwind"},
	} {
		t.Run(tc.from, func(t *testing.T) {
			payload := []byte("ISA*00*~" + tc.party)
			entity := append([]byte("Content-Type: application/edi-x12\r\n\r\n"), payload...)
			signed := file("signed.eml", run("cms", "-sign", "-binary", "-nodetach", "-in", file("entity.mime", entity),
				"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM())))
			der := run("cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", signed, file("r.pem", p.signer.CertPEM()))
			id := fmt.Sprintf("<shared%d@partner.example>", i)
			req := as2Request(t, url, tc.from, id, `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`, der)
			resp, b := testhttp.Do(t, nil, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST: %s %q", resp.Status, b)
			}
			rc, err := as2.ParseMDN(as2.JoinEntity(resp.Header, b), as2.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !rc.MDN.Disposition.Positive() || rc.MDN.OriginalMessageID != id {
				t.Errorf("MDN for %s: %q, want processed", rc.MDN.OriginalMessageID, rc.MDN.Disposition)
			}
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, m := range msgs {
				if b := body(t, box, m.ID); !bytes.Equal(b, payload) && m.Decoding == msgbox.Decoded {
					continue
				}
				m, err := box.Message(context.Background(), m.ID)
				if err != nil {
					t.Fatal(err)
				}
				if m.Party != tc.party || m.Decoding != msgbox.Decoded || m.Status == msgbox.StatusSuspended {
					t.Errorf("stored: party %q, decoding %q, status %s %q; want party %q, decoded", m.Party, m.Decoding, m.Status, m.Reason, tc.party)
				}
				found = true
			}
			if !found {
				t.Errorf("the message from %s was not stored", tc.from)
			}
		})
	}
}

// TestDecodeSharedSigningCertificateFirstParty: received otherwise than
// over AS2, where no AS2-From names the sender, a message signed with a
// certificate two parties list is the party whose name sorts first, as
// the party block's documentation says, whichever is declared first:
// the order of the blocks (and so the names of the files) never changes
// the meaning (language §2).
func TestDecodeSharedSigningCertificateFirstParty(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	const fabrikam = `party "fabrikam" { signing_certificates = ["{{.Partner}}"] }`
	for _, tc := range []struct{ name, parties string }{
		{"declared first", fabrikam + "\n" + `party "fabrikam_eu" { signing_certificates = ["{{.Partner}}"] }`},
		{"declared second", `party "fabrikam_eu" { signing_certificates = ["{{.Partner}}"] }` + "\n" + fabrikam},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := strings.Replace(decodeConfig, fabrikam, tc.parties, 1)
			if cfg == decodeConfig {
				t.Fatal("decodeConfig has no party fabrikam to add another beside")
			}
			p, decrypt, dir := setupDecode(t, cfg, nil)
			work := t.TempDir()
			file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
			entity := file("entity.mime", []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*~"))
			signed := file("signed.eml", mustRun(t, ossl, "cms", "-sign", "-binary", "-in", entity,
				"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM())))
			put(t, dir, "order.edi", mustRun(t, ossl, "cms", "-encrypt", "-binary", "-in", signed, "-aes256", file("d.pem", decrypt.CertPEM())))
			r, box := start(t, dir)
			if sum := runUntilSettled(t, r); sum.Delivered != 1 {
				t.Fatalf("summary %+v, want 1 delivered", sum)
			}
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 || msgs[0].Party != "fabrikam" {
				t.Errorf("messages %+v, want one of party fabrikam", msgs)
			}
		})
	}
}
