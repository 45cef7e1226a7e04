//go:build linux

package runner_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestDecodeListedSignerNotInStore: a message signed with a certificate a
// party lists (its next one, during its rollover) that the server's
// other-people store lacks is refused, as the contract says, but the
// reason says so: that party fabrikam lists it and which store lacks it,
// by thumbprint, so the operator knows to add it there. Before, it said the
// signer "is not a signing certificate of any party", which the
// configuration contradicts.
func TestDecodeListedSignerNotInStore(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	cfg := strings.Replace(decodeConfig, `party "fabrikam" { signing_certificates = ["{{.Partner}}"] }`,
		`party "fabrikam" { signing_certificates = ["{{.Partner}}", "{{.Next}}"] }`, 1)
	p := newPKI(t)
	next := p.ca.Issue(t, testpki.Options{CommonName: "Fabrikam 2027", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 3)})
	decrypt := p.ca.Issue(t, testpki.Options{CommonName: "Contoso Decryption", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 0)})
	dir := setup(t, p, cfg, map[string]string{"Decrypt": decrypt.SHA1(), "Next": next.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "decrypt.pem", append(decrypt.CertPEM(), decrypt.KeyPEM()...))
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	entity := file("entity.mime", []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*~"))
	signed := file("s.eml", mustRun(t, ossl, "cms", "-sign", "-binary", "-in", entity,
		"-signer", file("n.pem", next.CertPEM()), "-inkey", file("n.key", next.KeyPEM())))
	put(t, dir, "order.edi", mustRun(t, ossl, "cms", "-encrypt", "-binary", "-aes256", "-in", signed, file("d.pem", decrypt.CertPEM())))
	r, box := start(t, dir)
	if sum := runUntilSettled(t, r); sum.Suspended != 1 {
		t.Fatalf("summary %+v, want 1 suspended", sum)
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages %v, %v", msgs, err)
	}
	reason := msgs[0].Reason
	for _, want := range []string{`receive location "from_fabrikam"`, `"CN=Fabrikam 2027"`, `party "fabrikam"`,
		strings.ToUpper(next.SHA1()), `other-people store "others"`} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q; want it to name %s", reason, want)
		}
	}
	if strings.Contains(reason, "not a signing certificate of any party") {
		t.Errorf("reason %q says no party lists the signer", reason)
	}
}
