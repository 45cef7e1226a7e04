package as2

import (
	"bytes"
	"encoding/base64"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/smallstep/pkcs7"
)

// signEntity returns a multipart/signed MDN whose first part is inner,
// exactly as given, with a detached SHA-256 signature by p over it: a
// signature that verifies whatever inner's headers say, so a test can give
// the report a transfer encoding our encoder would never write.
func signEntity(t *testing.T, p *party, inner []byte) []byte {
	t.Helper()
	sd, err := pkcs7.NewSignedData(inner)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(p.Cert.Cert, p.Key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"sig\"\r\n\r\n")
	b.WriteString("--sig\r\n")
	b.Write(inner)
	b.WriteString("\r\n--sig\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7s\r\n\r\n")
	b.WriteString(base64.StdEncoding.EncodeToString(der))
	b.WriteString("\r\n--sig--\r\n")
	return b.Bytes()
}

// TestParseSignedMDNTransferEncoding: the multipart/report inside a
// multipart/signed MDN is held to the transfer-encoding rule of an
// unsigned one (checkReport), whether the signature is checked or not
// (Unverified). Every MDN here has a valid signature, so a rejection is
// the encoding's, and the identity encodings show the signing helper
// makes MDNs that parse.
func TestParseSignedMDNTransferEncoding(t *testing.T) {
	fab := newParty(t, "FABRIKAM")
	report, ct, err := buildReport(testMDN(Processed()), strings.NewReader(strings.Repeat("r", 64)))
	if err != nil {
		t.Fatal(err)
	}
	qp := func(b []byte) []byte {
		var out bytes.Buffer
		w := quotedprintable.NewWriter(&out)
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	for _, tc := range []struct {
		name, cte string
		body      []byte
		ok        bool
	}{
		{"none", "", report, true},
		{"7bit", "7bit", report, true},
		{"8bit upper case", "8BIT", report, true},
		{"binary", "binary", report, true},
		// Forbidden for a composite type (RFC 2045 §6.4), though the
		// signature verifies and the content decodes.
		{"base64", "base64", []byte(base64.StdEncoding.EncodeToString(report)), false},
		{"quoted-printable", "quoted-printable", qp(report), false},
		// Unknown: the unverified path used to read it as identity.
		{"unknown", "x-unknown", report, false},
	} {
		var inner bytes.Buffer
		inner.WriteString("Content-Type: " + ct + "\r\n")
		if tc.cte != "" {
			inner.WriteString("Content-Transfer-Encoding: " + tc.cte + "\r\n")
		}
		inner.WriteString("\r\n")
		inner.Write(tc.body)
		mdn := signEntity(t, fab, inner.Bytes())
		for _, opts := range []struct {
			name string
			o    VerifyOptions
		}{
			{"verified", VerifyOptions{Trusted: fabTrust(fab)}},
			{"unverified", VerifyOptions{Unverified: true}},
		} {
			t.Run(tc.name+"/"+opts.name, func(t *testing.T) {
				got, err := ParseMDN(mdn, opts.o)
				if !tc.ok {
					if err == nil || !strings.Contains(err.Error(), "cannot have Content-Transfer-Encoding") {
						t.Fatalf("ParseMDN = %v, want the transfer encoding refused", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got.Signed == opts.o.Unverified || !got.Disposition.Positive() || got.OriginalMessageID != "<abc@contoso.example>" {
					t.Errorf("parsed %+v", got)
				}
			})
		}
	}
}

// TestVerifyAfterUnverifiedParse: reading an MDN unverified and then
// calling Verify gives what ParseMDN with the same options gives, error
// or result, and a failed Verify leaves the reading as it was.
func TestVerifyAfterUnverifiedParse(t *testing.T) {
	fab, other := newParty(t, "FABRIKAM"), newParty(t, "OTHER")
	build := func(signer *party) []byte {
		bo := BuildOptions{From: "FABRIKAM", To: "CONTOSO"}
		if signer != nil {
			bo.Signer = signer.signer()
		}
		b, err := BuildMDN(testMDN(ProcessedError("decryption-failed")), bo)
		if err != nil {
			t.Fatal(err)
		}
		return b.Entity
	}
	signed := build(fab)
	// Bare LFs: the signature covers the CRLF form, which Verify reads.
	lf := bytes.ReplaceAll(signed, []byte("\r\n"), []byte("\n"))
	for _, tc := range []struct {
		name string
		raw  []byte
		opts VerifyOptions
		ok   bool
		// signed: Signed after a successful Verify.
		signed bool
	}{
		{"signed, trusted", signed, VerifyOptions{Trusted: fabTrust(fab)}, true, true},
		{"signed with bare LFs, trusted", lf, VerifyOptions{Trusted: fabTrust(fab)}, true, true},
		{"signed, another trusted", signed, VerifyOptions{Trusted: fabTrust(other)}, false, false},
		{"signed, nothing trusted", signed, VerifyOptions{}, false, false},
		{"signed, unverified", signed, VerifyOptions{Unverified: true}, true, false},
		{"signed by another", build(other), VerifyOptions{Trusted: fabTrust(fab)}, false, false},
		{"tampered", bytes.Replace(signed, []byte("decryption-failed"), []byte("decryption-fa1led"), 1), VerifyOptions{Trusted: fabTrust(fab)}, false, false},
		{"unsigned", build(nil), VerifyOptions{Trusted: fabTrust(fab)}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := ParseMDN(tc.raw, tc.opts)
			if (wantErr == nil) != tc.ok {
				t.Fatalf("ParseMDN: %v", wantErr)
			}
			got, err := ParseMDN(tc.raw, VerifyOptions{Unverified: true})
			if err != nil {
				t.Fatal(err)
			}
			read := *got
			err = got.Verify(tc.opts)
			if (err == nil) != tc.ok || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("Verify: %v; ParseMDN: %v", err, wantErr)
			}
			if err != nil {
				if got.Signed || got.Signer != nil || got.MDN != read.MDN {
					t.Errorf("a failed Verify changed the reading: signed %v, %+v", got.Signed, got.MDN)
				}
				return
			}
			if got.Signed != tc.signed || want.Signed != tc.signed || got.Disposition != want.Disposition ||
				got.OriginalMessageID != want.OriginalMessageID || got.MICField != want.MICField {
				t.Errorf("Verify gives signed %v, %+v; ParseMDN signed %v, %+v", got.Signed, got.MDN, want.Signed, want.MDN)
			}
		})
	}
}

// TestVerifyReadsWhatWasSigned: when the report read unverified is not
// the content the signature covers, Verify takes its fields from the
// signed content. The reading is forged here, as a parser that split the
// parts otherwise than the verifier would leave it.
func TestVerifyReadsWhatWasSigned(t *testing.T) {
	fab := newParty(t, "FABRIKAM")
	b, err := BuildMDN(testMDN(ProcessedError("decryption-failed")), BuildOptions{Signer: fab.signer()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseMDN(b.Entity, VerifyOptions{Unverified: true})
	if err != nil {
		t.Fatal(err)
	}
	r.signedReport.body = bytes.Replace(r.signedReport.body, []byte("processed/error: decryption-failed"), []byte("processed"), 1)
	r.Disposition = Processed()
	if err := r.Verify(VerifyOptions{Trusted: fabTrust(fab)}); err != nil {
		t.Fatal(err)
	}
	if !r.Signed || r.Disposition != ProcessedError("decryption-failed") {
		t.Errorf("after Verify: signed %v, disposition %v; want the signed processed/error", r.Signed, r.Disposition)
	}
}
