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
