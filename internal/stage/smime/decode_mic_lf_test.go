package smime

import (
	"bytes"
	"crypto"
	"testing"

	"github.com/smallstep/pkcs7"
)

// TestDecodeMICBareLF: the AS2 MIC of a clear-signed message is over what
// was signed, the canonical CRLF form (RFC 4130 §7.3.1), also when the
// message arrives with bare LFs: it equals the message digest OpenSSL signed (the messageDigest
// signed attribute), which is the MIC the sender expects back, whether
// the message's line breaks are LF or CRLF. A MIC over the octets as
// received would not match the sender's. (OpenSSL writes the signed part
// with CRLFs in an otherwise LF message; a transfer that converted line
// breaks leaves only LFs, the case here.)
func TestDecodeMICBareLF(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	key := writeGroupKey(t, p)
	entity := []byte("Content-Type: text/plain\n\nline one\nline two\n")
	signed := run(t, entity, ossl, "cms", "-sign", "-signer", p.groupPEM, "-inkey", key, "-md", "sha256")
	lf := bytes.ReplaceAll(signed, []byte("\r\n"), []byte("\n"))
	crlf := lfToCRLF(lf)
	// OpenSSL's digest of what it signed, from the signature itself.
	_, der := stdSignedParts(t, crlf)
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	var digest []byte
	if err := p7.UnmarshalSignedAttribute(oidAttrMessageDigest, &digest); err != nil {
		t.Fatal(err)
	}
	if len(digest) != crypto.SHA256.Size() {
		t.Fatalf("no SHA-256 messageDigest attribute in OpenSSL's signature (%x)", digest)
	}
	for name, msg := range map[string][]byte{"as OpenSSL wrote it": signed, "bare LF": lf, "CRLF": crlf} {
		t.Run(name, func(t *testing.T) {
			opts := p.decodeOpts()
			opts.MICHash = crypto.SHA256
			res, _, err := decodeStream(t, t.Context(), msg, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.MIC, digest) {
				t.Errorf("MIC %x, want OpenSSL's digest %x", res.MIC, digest)
			}
		})
	}
}
