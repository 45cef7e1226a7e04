package smime

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestDecoderStage runs the built decoder stage over messages made by
// openssl cms: signed by a party's certificate and encrypted for the host's
// decryption certificate, it yields the payload and the party; every
// policy refusal (not encrypted, not signed, unknown signer, not
// decryptable, a party certificate expired at the time of receipt) is an
// error naming the cause. A location that does not verify unwraps signed
// messages without a party.
func TestDecoderStage(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	stranger := p.ca.Issue(t, testpki.Options{CommonName: "Not a party", Email: "x@stranger.example", Key: keys.Key(t, testpki.RSA2048, 3)})
	other := p.ca.Issue(t, testpki.Options{CommonName: "Another host", Email: "y@other.example", Key: keys.Key(t, testpki.RSA2048, 4)})
	dir := t.TempDir()
	groupKey := testpki.WriteFile(t, dir, "group.key", p.group.KeyPEM())
	strangerPEM := testpki.WriteFile(t, dir, "stranger.pem", stranger.CertPEM())
	strangerKey := testpki.WriteFile(t, dir, "stranger.key", stranger.KeyPEM())
	otherPEM := testpki.WriteFile(t, dir, "other.pem", other.CertPEM())

	payload := []byte("ISA*00*          *00*          *ZZ*FABRIKAM       *ZZ*CONTOSO        *\x00\xff binary\r\n")
	entity := append([]byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n"), payload...)
	in := testpki.WriteFile(t, dir, "entity.mime", entity)
	sign := func(cert, key string, opaque bool) string {
		args := []string{"cms", "-sign", "-binary", "-in", in, "-signer", cert, "-inkey", key, "-md", "sha256"}
		if opaque {
			args = append(args, "-nodetach")
		}
		return testpki.WriteFile(t, t.TempDir(), "signed.eml", run(t, nil, ossl, args...))
	}
	encrypt := func(file, recip, cipher string) []byte {
		return run(t, nil, ossl, "cms", "-encrypt", "-binary", "-in", file, cipher, recip)
	}
	// OpenSSL signing a bare file, as `openssl cms -sign -in order.xml`
	// does: the signed bytes have no MIME header.
	bare := testpki.WriteFile(t, t.TempDir(), "signed.eml", run(t, nil, ossl, "cms", "-sign", "-binary",
		"-in", testpki.WriteFile(t, dir, "order.xml", []byte("<?xml version=\"1.0\"?>\n<Order/>\n")),
		"-signer", p.groupPEM, "-inkey", groupKey, "-md", "sha256"))
	clear := sign(p.groupPEM, groupKey, false)
	opaque := sign(p.groupPEM, groupKey, true)
	byStranger := sign(strangerPEM, strangerKey, false)

	keysAll := component.Keys{
		Decrypter:    &component.DecryptionIdentity{Cert: p.partner.Cert, Key: p.partner.Key.(crypto.Decrypter)},
		PartySigners: []component.PartyCertificate{{Party: "fabrikam", Cert: p.group.Cert}},
	}
	buildFollowed := func(decrypt, verify, followed bool) component.DecodeStage {
		t.Helper()
		return newDecoderStage(t, decrypt, verify, component.DecoderEnv{Keys: keysAll, Followed: followed})
	}
	build := func(decrypt, verify bool) component.DecodeStage {
		t.Helper()
		return buildFollowed(decrypt, verify, false)
	}
	both, verifyOnly, decryptOnly := build(true, true), build(false, true), build(true, false)

	tests := []struct {
		name      string
		stage     component.DecodeStage
		msg       []byte
		at        time.Time
		wantParty string
		wantErr   string
	}{
		{"clear-signed, AES-256-CBC", both, encrypt(clear, p.partnerPEM, "-aes256"), time.Now(), "fabrikam", ""},
		{"opaque-signed, 3DES", both, encrypt(opaque, p.partnerPEM, "-des3"), time.Now(), "fabrikam", ""},
		{"clear-signed, AES-128-GCM", both, encrypt(clear, p.partnerPEM, "-aes-128-gcm"), time.Now(), "fabrikam", ""},
		{"signed, not encrypted, verify only", verifyOnly, readFile(t, clear), time.Now(), "fabrikam", ""},
		{"encrypted, not signed, decrypt only", decryptOnly, encrypt(in, p.partnerPEM, "-aes256"), time.Now(), "", ""},
		{"not encrypted where required", both, readFile(t, clear), time.Now(), "", "not encrypted"},
		{"not signed where required", both, encrypt(in, p.partnerPEM, "-aes256"), time.Now(), "", "not signed"},
		{"unknown signer", both, encrypt(byStranger, p.partnerPEM, "-aes256"), time.Now(), "", "signer"},
		{"clear-signed where not verified: unwrapped, no party", decryptOnly, encrypt(clear, p.partnerPEM, "-aes256"), time.Now(), "", ""},
		{"opaque-signed by a stranger where not verified: unwrapped, no party", decryptOnly, encrypt(sign(strangerPEM, strangerKey, true), p.partnerPEM, "-aes256"), time.Now(), "", ""},
		{"encrypted for another host", both, encrypt(clear, otherPEM, "-aes256"), time.Now(), "", "decrypting"},
		{"signed content without a MIME header", both, encrypt(bare, p.partnerPEM, "-aes256"), time.Now(), "", "not a MIME entity"},
		{"party certificate expired at receipt", both, encrypt(clear, p.partnerPEM, "-aes256"), p.group.Cert.NotAfter.Add(time.Hour), "", "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			d, err := tt.stage.Decode(t.Context(), component.Header{}, bytes.NewReader(tt.msg), &out, tt.at)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !bytes.Equal(out.Bytes(), payload) {
				t.Errorf("decoded body = %q, want %q", out.Bytes(), payload)
			}
			if d.Party != tt.wantParty {
				t.Errorf("Party = %q, want %q", d.Party, tt.wantParty)
			}
			if ct := d.Header.Get("Content-Type"); ct != "application/edi-x12" {
				t.Errorf("Content-Type = %q, want application/edi-x12", ct)
			}
		})
	}

	// A stage that decrypts but does not verify, followed by one that
	// verifies: the first writes the signed entity whole, as the partner
	// signed it, with the AS2 MIC a single stage computes (over what was
	// signed); the second verifies it and finds the party. A stage that
	// verifies leaves nothing for the next one, followed or not.
	first, second := buildFollowed(true, false, true), verifyOnly
	for _, signed := range []string{clear, opaque} {
		msg := encrypt(signed, p.partnerPEM, "-aes256")
		mic := func(st component.DecodeStage, w *bytes.Buffer) component.Decoded {
			t.Helper()
			d, err := st.Decode(component.WithMICHash(t.Context(), crypto.SHA256), component.Header{}, bytes.NewReader(msg), w, time.Now())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			return d
		}
		var whole, single bytes.Buffer
		d1, want := mic(first, &whole), mic(both, &single)
		if !bytes.Equal(whole.Bytes(), readFile(t, signed)) || d1.Header.MIME || d1.Party != "" {
			t.Errorf("followed stage wrote %d octets (MIME %v, party %q), want the signed entity whole (%d octets), no party",
				whole.Len(), d1.Header.MIME, d1.Party, len(readFile(t, signed)))
		}
		if len(d1.MIC) == 0 || !bytes.Equal(d1.MIC, want.MIC) {
			t.Errorf("followed stage MIC %x, want %x as one stage computes it", d1.MIC, want.MIC)
		}
		var out bytes.Buffer
		d2, err := second.Decode(t.Context(), d1.Header, bytes.NewReader(whole.Bytes()), &out, time.Now())
		if err != nil || d2.Party != "fabrikam" || !bytes.Equal(out.Bytes(), payload) {
			t.Errorf("second stage: %v, party %q, body %q; want fabrikam's payload", err, d2.Party, out.Bytes())
		}
		var again bytes.Buffer
		if _, err := buildFollowed(true, true, true).Decode(t.Context(), component.Header{}, bytes.NewReader(msg), &again, time.Now()); err != nil || !bytes.Equal(again.Bytes(), payload) {
			t.Errorf("followed verifying stage: %v, body %q; want the payload", err, again.Bytes())
		}
	}
}

// TestDecoderStagePreviousCertificate: a decoder built with the host's
// previous decryption certificates decrypts what openssl cms encrypted for
// one of them (a partner that has not switched yet) as it does what was
// encrypted for the current one, the key chosen by the recipient info
// (package cms tests both kinds of recipient identifier), and says which
// certificate decrypted it. A message for none of them is refused naming
// them and the certificate it is for; without the previous certificates,
// the message for the old one is refused.
func TestDecoderStagePreviousCertificate(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	// The host's new certificate; p.partner is its previous one.
	current := p.ca.Issue(t, testpki.Options{CommonName: "Contoso decryption 2027", Key: keys.Key(t, testpki.RSA2048, 5)})
	stranger := p.ca.Issue(t, testpki.Options{CommonName: "Another host", Key: keys.Key(t, testpki.RSA2048, 4)})
	dir := t.TempDir()
	currentPEM := testpki.WriteFile(t, dir, "current.pem", current.CertPEM())
	strangerPEM := testpki.WriteFile(t, dir, "stranger.pem", stranger.CertPEM())
	payload := []byte("ISA*00*previous certificate\r\n")
	in := testpki.WriteFile(t, dir, "entity.mime", append([]byte("Content-Type: application/edi-x12\r\n\r\n"), payload...))
	encrypt := func(recip string) []byte {
		return run(t, nil, ossl, "cms", "-encrypt", "-binary", "-aes256", "-in", in, recip)
	}
	identity := func(c *testpki.Cert) *component.DecryptionIdentity {
		return &component.DecryptionIdentity{Cert: c.Cert, Key: c.Key.(crypto.Decrypter)}
	}
	build := func(previous ...*component.DecryptionIdentity) component.DecodeStage {
		t.Helper()
		return newDecoderStage(t, true, false, component.DecoderEnv{Keys: component.Keys{Decrypter: identity(current), PreviousDecrypters: previous}})
	}
	rotating, currentOnly := build(identity(p.partner)), build()

	for _, tt := range []struct {
		name  string
		stage component.DecodeStage
		msg   []byte
		with  *testpki.Cert // nil: refused
		err   []string
	}{
		{"for the previous certificate", rotating, encrypt(p.partnerPEM), p.partner, nil},
		{"for the current certificate", rotating, encrypt(currentPEM), current, nil},
		{"for an unknown certificate", rotating, encrypt(strangerPEM), nil,
			[]string{"encrypted for issuer \"CN=bizpipe test CA\", serial " + stranger.Cert.SerialNumber.Text(16) + ", which is none of the certificates decrypted with here",
				`"CN=Contoso decryption 2027" (serial ` + current.Cert.SerialNumber.Text(16) + ")", `"CN=Fabrikam EDI" (serial ` + p.partner.Cert.SerialNumber.Text(16) + ")"}},
		{"for the previous certificate, which the decoder was not given", currentOnly, encrypt(p.partnerPEM), nil,
			[]string{`decrypting with certificate "CN=Contoso decryption 2027"`, "not encrypted for this certificate",
				"serial " + p.partner.Cert.SerialNumber.Text(16)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			d, err := tt.stage.Decode(t.Context(), component.Header{}, bytes.NewReader(tt.msg), &out, time.Now())
			if tt.with == nil {
				if err == nil || !errors.Is(err, component.ErrDecryptionFailed) {
					t.Fatalf("Decode error = %v, want a decryption failure", err)
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Decode error = %v, want it to contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !bytes.Equal(out.Bytes(), payload) {
				t.Errorf("decoded body = %q, want %q", out.Bytes(), payload)
			}
			if d.DecryptedWith == nil || !d.DecryptedWith.Equal(tt.with.Cert) {
				t.Errorf("DecryptedWith = %v, want %s", d.DecryptedWith, tt.with.Cert.Subject)
			}
		})
	}
}

// TestDecoderStageSignerReasons: a verifying stage refuses what openssl
// cms signed with a certificate that is no party's, or with the wrong
// digest, with a reason that says so (the reason a suspended message
// shows), not with the chain or pkcs7 error that would send the operator
// to a party's certificate or to decryption: a stranger (also one whose
// certificate has expired, and a second signer beside the party), a
// look-alike of the party's certificate (its issuer and serial number,
// from a rogue CA of the same name, with another key or the party's
// own), an MD5 or SHA-224 digest. A party's own certificate that does not
// verify keeps the chain error. Each is refused as before, an
// authentication failure, signed only or encrypted with AES-GCM.
func TestDecoderStageSignerReasons(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	now := time.Now()
	stranger := p.ca.Issue(t, testpki.Options{CommonName: "Not a party", Key: keys.Key(t, testpki.RSA2048, 3)})
	shortLived := p.ca.Issue(t, testpki.Options{CommonName: "Not a party, short-lived", Key: keys.Key(t, testpki.RSA2048, 3),
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	rogue := testpki.SelfSigned(t, testpki.Options{CommonName: p.ca.Cert.Subject.CommonName, IsCA: true, Key: keys.Key(t, testpki.RSA2048, 4)})
	lookAlike := func(key crypto.Signer) *testpki.Cert {
		return rogue.Issue(t, testpki.Options{CommonName: p.group.Cert.Subject.CommonName, Key: key, SerialNumber: p.group.Cert.SerialNumber})
	}
	otherKey, partyKey := lookAlike(keys.Key(t, testpki.RSA2048, 5)), lookAlike(p.group.Key)
	for _, c := range []*testpki.Cert{otherKey, partyKey} {
		if !bytes.Equal(c.Cert.RawIssuer, p.group.Cert.RawIssuer) || c.Cert.SerialNumber.Cmp(p.group.Cert.SerialNumber) != 0 || c.Cert.Equal(p.group.Cert) {
			t.Fatal("the look-alike does not have the party's issuer and serial number, or is the party's certificate")
		}
	}

	dir := t.TempDir()
	files := func(name string, c *testpki.Cert) []string {
		return []string{"-signer", testpki.WriteFile(t, dir, name+".pem", c.CertPEM()), "-inkey", testpki.WriteFile(t, dir, name+".key", c.KeyPEM())}
	}
	party := files("party", p.group)
	entity := []byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\nISA*00*signer reasons\r\n")
	in := testpki.WriteFile(t, dir, "entity.mime", entity)
	sign := func(args ...string) string {
		return testpki.WriteFile(t, t.TempDir(), "signed.eml", run(t, nil, ossl, append([]string{"cms", "-sign", "-binary", "-in", in}, args...)...))
	}
	stage := func(decrypt bool) component.DecodeStage {
		t.Helper()
		keys := component.Keys{
			Decrypter:    &component.DecryptionIdentity{Cert: p.partner.Cert, Key: p.partner.Key.(crypto.Decrypter)},
			PartySigners: []component.PartyCertificate{{Party: "fabrikam", Cert: p.group.Cert}},
		}
		return newDecoderStage(t, decrypt, true, component.DecoderEnv{Keys: keys})
	}
	verifyOnly, both := stage(false), stage(true)

	notParty := func(subject string, c *testpki.Cert) string {
		return fmt.Sprintf(`smime: the signer %s (issuer "CN=bizpipe test CA", serial %s) is not a signing certificate of any party`, subject, c.Cert.SerialNumber.Text(16))
	}
	notPartys := func(c *testpki.Cert, differs string) string {
		return fmt.Sprintf(`smime: the signer certificate the message carries, "CN=Contoso group signing" (issuer "CN=bizpipe test CA", serial %s), does not match party "fabrikam"'s signing certificate with that issuer and serial number: %s`,
			c.Cert.SerialNumber.Text(16), differs)
	}
	digest := func(alg string) string {
		return "smime: signature verification failed: the signature's digest algorithm " + alg + " is not accepted (want one of sha256, sha384, sha512, sha1)"
	}
	tests := []struct {
		name   string
		signed string
		at     time.Time
		want   string
	}{
		{"a stranger", sign(append(files("stranger", stranger), "-md", "sha256")...), now, notParty(`"CN=Not a party"`, stranger)},
		{"a stranger, opaque", sign(append(files("stranger", stranger), "-md", "sha256", "-nodetach")...), now, notParty(`"CN=Not a party"`, stranger)},
		{"a stranger whose certificate expired before receipt", sign(append(files("short", shortLived), "-md", "sha256")...), now.Add(2 * time.Hour), notParty(`"CN=Not a party\\, short-lived"`, shortLived)},
		{"the party, then a stranger", sign(append(append(party, files("stranger", stranger)...), "-md", "sha256")...), now, notParty(`"CN=Not a party"`, stranger)},
		{"a look-alike with another key", sign(append(files("lookalike", otherKey), "-md", "sha256")...), now, notPartys(otherKey, "its thumbprint and public key differ")},
		{"a look-alike with the party's key", sign(append(files("samekey", partyKey), "-md", "sha256", "-nodetach")...), now, notPartys(partyKey, "its thumbprint differs, though its public key is the same")},
		{"MD5", sign(append(party, "-md", "md5")...), now, digest("md5 (1.2.840.113549.2.5)")},
		{"MD5 without signed attributes", sign(append(party, "-md", "md5", "-noattr", "-nodetach")...), now, digest("md5 (1.2.840.113549.2.5)")},
		{"SHA-224", sign(append(party, "-md", "sha224")...), now, digest("sha224 (2.16.840.1.101.3.4.2.4)")},
		{"the party's certificate expired at receipt", sign(append(party, "-md", "sha256")...), p.group.Cert.NotAfter.Add(time.Hour),
			fmt.Sprintf(`smime: signer certificate "CN=Contoso group signing" (serial %s): x509: certificate has expired or is not yet valid: current time %s is after %s`,
				p.group.Cert.SerialNumber.Text(16), p.group.Cert.NotAfter.Add(time.Hour).UTC().Format(time.RFC3339), p.group.Cert.NotAfter.UTC().Format(time.RFC3339))},
	}
	for _, tt := range tests {
		for _, v := range []struct {
			how   string
			stage component.DecodeStage
			msg   []byte
		}{
			{"signed", verifyOnly, readFile(t, tt.signed)},
			{"encrypted with AES-128-GCM", both, run(t, nil, ossl, "cms", "-encrypt", "-binary", "-in", tt.signed, "-aes-128-gcm", p.partnerPEM)},
		} {
			t.Run(tt.name+"/"+v.how, func(t *testing.T) {
				var out bytes.Buffer
				_, err := v.stage.Decode(t.Context(), component.Header{}, bytes.NewReader(v.msg), &out, tt.at)
				if err == nil {
					t.Fatal("Decode accepted it")
				}
				if err.Error() != tt.want {
					t.Errorf("Decode error\n  %v\nwant\n  %s", err, tt.want)
				}
				if !errors.Is(err, component.ErrAuthenticationFailed) {
					t.Errorf("Decode error %v is not an authentication failure", err)
				}
			})
		}
	}
	// A signer a verifying stage accepts is still the party's certificate
	// and nothing else.
	var out bytes.Buffer
	if d, err := verifyOnly.Decode(t.Context(), component.Header{}, bytes.NewReader(readFile(t, sign(append(party, "-md", "sha256")...))), &out, now); err != nil || d.Party != "fabrikam" {
		t.Errorf("signed by the party: %v, party %q; want fabrikam", err, d.Party)
	}
}
