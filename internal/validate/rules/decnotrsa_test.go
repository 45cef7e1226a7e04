package rules_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// TestDecryptionCertificateNotRSA: a decryption certificate with a key
// that is not RSA is refused (BP7004), and the detail says what fails.
// OpenSSL encrypts for an ECDSA certificate all the same (ECDH key
// agreement), so "partners cannot encrypt for it" would tell the operator
// that nothing arrives encrypted for it, when what arrives cannot be
// decrypted.
func TestDecryptionCertificateNotRSA(t *testing.T) {
	t.Parallel()
	openssl := testpki.OpenSSL(t)
	p := newPKI(t)
	const name = "dec-ecdsa"
	pem := testpki.WriteFile(t, t.TempDir(), "dec.pem", p.cert(name).CertPEM())
	cmd := exec.Command(openssl, "cms", "-encrypt", "-aes256", pem)
	cmd.Stdin = strings.NewReader("order\r\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fixture: openssl cms -encrypt for the certificate: %v\n%s", err, out)
	}

	s := newScene(t, p)
	s.certKey("personal", "dec.pem", name)
	s.certOnly("other", "f.pem", "party")
	s.write(inTopo{Dec: `"{{tp "` + name + `"}}"`}.hcl())
	cfg, loadDiags := s.loadChecked()
	_, diags := rules.Check(cfg, rules.Options{Now: p.now})
	diags = append(loadDiags, diags...)
	s.expect(diags, []finding{{diag.CodeDecCertUnusable, errorSev, "dec", `"{{tp "` + name + `"}}"`, "",
		list(`host "recv_host"`, "needs an RSA key", "bizpipe run cannot decrypt what partners encrypt for it")}})
	for _, d := range diags {
		if strings.Contains(d.Detail, "partners cannot encrypt") {
			t.Errorf("the detail says partners cannot encrypt for the certificate, which OpenSSL does:\n%s", d.Detail)
		}
	}
}
