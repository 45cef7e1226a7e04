package as2

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestVerifyMDNSignerReasons: with the parties' signing certificates
// (VerifyOptions.Parties), a signed MDN whose signer is not the partner's
// certificate is refused saying what the signer is, as the smime decoder
// stage says it of a message, not with the chain error ("certificate
// signed by unknown authority") that would send the operator to the
// partner's certificate: a stranger (also beside the partner's own
// signature), a look-alike of the partner's or of another party's
// certificate (its issuer and serial number, self-signed by someone else,
// with another key or with the party's own), another party's certificate
// (naming that party and the partner). The partner's own certificate that
// does not verify (expired) keeps the chain error. The MDNs are signed by BuildMDN and by openssl cms -sign
// (also with RSASSA-PSS);
// each is refused, or accepted, as it is without Parties.
func TestVerifyMDNSignerReasons(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	fab, other, stranger := newParty(t, "FABRIKAM"), newParty(t, "OTHER"), newParty(t, "STRANGER")
	// A look-alike of p's self-signed certificate: the same subject, so
	// the same issuer, and serial number, signed by key; with p's key, it
	// expires a day earlier so as not to be p's certificate itself.
	lookAlike := func(p *party, own bool) *party {
		o := testpki.Options{CommonName: p.Cert.Cert.Subject.CommonName, Email: p.Cert.Cert.EmailAddresses[0], SerialNumber: p.Cert.Cert.SerialNumber}
		if own {
			o.Key, o.NotBefore, o.NotAfter = p.Key, p.Cert.Cert.NotBefore, p.Cert.Cert.NotAfter.Add(-24*time.Hour)
		}
		c := &party{Cert: testpki.SelfSigned(t, o), ID: p.ID}
		if !bytes.Equal(c.Cert.Cert.RawIssuer, p.Cert.Cert.RawIssuer) || c.Cert.Cert.SerialNumber.Cmp(p.Cert.Cert.SerialNumber) != 0 || c.Cert.Cert.Equal(p.Cert.Cert) {
			t.Fatal("the look-alike does not have the party's issuer and serial number, or is the party's certificate")
		}
		return c
	}
	fabOtherKey, fabOwnKey, otherLookAlike := lookAlike(fab, false), lookAlike(fab, true), lookAlike(other, false)

	report, ct, err := buildReport(testMDN(Processed()), strings.NewReader(strings.Repeat("r", 64)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := testpki.WriteFile(t, dir, "report.mime", append([]byte("Content-Type: "+ct+"\r\n\r\n"), report...))
	files := func(p *party) []string {
		name := fmt.Sprintf("%s-%s", p.ID, p.Cert.SHA1())
		return []string{"-signer", testpki.WriteFile(t, dir, name+".pem", p.CertPEM()), "-inkey", testpki.WriteFile(t, dir, name+".key", p.KeyPEM())}
	}
	// byOpenSSL is the report signed by signers with openssl cms -sign:
	// a multipart/signed MDN with bare LFs, as openssl writes it; with
	// extra after each signer (its -keyopt).
	sign := func(extra []string, signers ...*party) []byte {
		args := []string{"cms", "-sign", "-in", in, "-md", "sha256"}
		for _, p := range signers {
			args = append(append(args, files(p)...), extra...)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(ossl, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	byOpenSSL := func(signers ...*party) []byte { return sign(nil, signers...) }
	// byOpenSSLPSS is byOpenSSL with RSASSA-PSS signatures, as an AS2
	// product configured for them signs its MDNs.
	byOpenSSLPSS := func(signers ...*party) []byte { return sign([]string{"-keyopt", "rsa_padding_mode:pss"}, signers...) }
	byUs := func(p *party) []byte {
		b, err := BuildMDN(testMDN(Processed()), BuildOptions{Signer: p.signer(), Digest: SHA256, From: "FABRIKAM", To: "CONTOSO"})
		if err != nil {
			t.Fatal(err)
		}
		return b.Entity
	}

	parties := []component.PartyCertificate{{Party: "other", Cert: other.Cert.Cert}, {Party: "fabrikam", Cert: fab.Cert.Cert}}
	now := time.Now()
	expired := fab.Cert.Cert.NotAfter.Add(time.Hour)
	notParty := func(p *party) string {
		return fmt.Sprintf(`as2: MDN signature: smime: the signer "CN=%[1]s" (issuer "CN=%[1]s", serial %[2]s) is not a signing certificate of any party`,
			p.Cert.Cert.Subject.CommonName, p.Cert.Cert.SerialNumber.Text(16))
	}
	notPartys := func(p *party, name, differs string) string {
		return fmt.Sprintf(`as2: MDN signature: smime: the signer certificate the message carries, "CN=%[1]s" (issuer "CN=%[1]s", serial %[2]s), does not match party %[3]q's signing certificate with that issuer and serial number: %[4]s`,
			p.Cert.Cert.Subject.CommonName, p.Cert.Cert.SerialNumber.Text(16), name, differs)
	}
	othersParty := func(p *party, name string) string {
		return fmt.Sprintf(`as2: MDN signature: smime: the signer "CN=%[1]s" (issuer "CN=%[1]s", serial %[2]s) is party %[3]q's signing certificate, not party "fabrikam"'s`,
			p.Cert.Cert.Subject.CommonName, p.Cert.Cert.SerialNumber.Text(16), name)
	}
	chain := func(p *party, err string) string {
		return fmt.Sprintf(`as2: MDN signature: smime: signer certificate "CN=%s" (serial %s): %s`, p.Cert.Cert.Subject.CommonName, p.Cert.Cert.SerialNumber.Text(16), err)
	}
	const unknown = "x509: certificate signed by unknown authority"
	// The partner's certificate is no CA: x509 says so of it.
	const cannotSign = unknown + ` (possibly because of "x509: invalid signature: parent certificate cannot sign this kind of certificate" while trying to verify candidate authority certificate "FABRIKAM AS2")`
	otherKey, sameKey := "its thumbprint and public key differ", "its thumbprint differs, though its public key is the same"
	for _, tc := range []struct {
		name string
		mdn  []byte
		at   time.Time
		// want is the error with Parties, "" when the MDN verifies;
		// without is the error without them.
		want, without string
	}{
		{"the partner", byUs(fab), now, "", ""},
		{"the partner, by openssl", byOpenSSL(fab), now, "", ""},
		{"a stranger", byUs(stranger), now, notParty(stranger), chain(stranger, unknown)},
		{"a stranger, by openssl", byOpenSSL(stranger), now, notParty(stranger), chain(stranger, unknown)},
		{"the partner, RSASSA-PSS, by openssl", byOpenSSLPSS(fab), now, "", ""},
		{"a stranger, RSASSA-PSS, by openssl", byOpenSSLPSS(stranger), now, notParty(stranger), chain(stranger, unknown)},
		{"the partner, RSASSA-PSS, expired", byOpenSSLPSS(fab), expired, chain(fab, fmt.Sprintf("x509: certificate has expired or is not yet valid: current time %s is after %s",
			expired.UTC().Format(time.RFC3339), fab.Cert.Cert.NotAfter.UTC().Format(time.RFC3339))), ""},
		{"the partner, then a stranger, by openssl", byOpenSSL(fab, stranger), now, notParty(stranger), chain(stranger, unknown)},
		{"a look-alike of the partner's with another key", byUs(fabOtherKey), now, notPartys(fabOtherKey, "fabrikam", otherKey), chain(fabOtherKey, cannotSign)},
		{"a look-alike of the partner's with another key, by openssl", byOpenSSL(fabOtherKey), now, notPartys(fabOtherKey, "fabrikam", otherKey), chain(fabOtherKey, cannotSign)},
		{"a look-alike of the partner's with its key", byUs(fabOwnKey), now, notPartys(fabOwnKey, "fabrikam", sameKey),
			chain(fabOwnKey, unknown)},
		{"a look-alike of another party's", byOpenSSL(otherLookAlike), now, notPartys(otherLookAlike, "other", otherKey), chain(otherLookAlike, unknown)},
		{"another party", byUs(other), now, othersParty(other, "other"), chain(other, unknown)},
		{"another party, by openssl", byOpenSSL(other), now, othersParty(other, "other"), chain(other, unknown)},
		{"the partner, expired", byUs(fab), expired, chain(fab, fmt.Sprintf("x509: certificate has expired or is not yet valid: current time %s is after %s",
			expired.UTC().Format(time.RFC3339), fab.Cert.Cert.NotAfter.UTC().Format(time.RFC3339))), ""},
	} {
		if tc.without == "" {
			tc.without = tc.want
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []struct {
				parties []component.PartyCertificate
				want    string
			}{{parties, tc.want}, {nil, tc.without}} {
				opts := VerifyOptions{Trusted: fabTrust(fab), Parties: v.parties, Now: tc.at}
				if v.parties != nil {
					opts.Partner = "fabrikam"
				}
				got, err := ParseMDN(tc.mdn, opts)
				if v.want == "" {
					if err != nil || !got.Signed || !got.Signer.Equal(fab.Cert.Cert) {
						t.Fatalf("with %d parties: ParseMDN = %+v, %v; want it signed by the partner", len(v.parties), got, err)
					}
					continue
				}
				if err == nil || err.Error() != v.want {
					t.Errorf("with %d parties: ParseMDN error\n  %v\nwant\n  %s", len(v.parties), err, v.want)
				}
				// Read first, verified later (an asynchronous MDN): the same.
				r, err := ParseMDN(tc.mdn, VerifyOptions{Unverified: true})
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Verify(opts); err == nil || err.Error() != v.want || r.Signed {
					t.Errorf("with %d parties: Verify = %v, signed %v; want\n  %s", len(v.parties), err, r.Signed, v.want)
				}
			}
		})
	}
}
