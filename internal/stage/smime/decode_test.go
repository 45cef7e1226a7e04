package smime

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/b64"
	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestDecodeRoundTrip: everything the encoder can write, Decode reads back
// to the body (exact for binary, canonical for text) with the right flags.
func TestDecodeRoundTrip(t *testing.T) {
	p := newPKI(t)
	bodies := []testBody{textBody(), asciiTextBody(), binaryBody(), {name: "empty", contentType: "application/octet-stream", data: []byte{}, want: []byte{}}}
	for _, sig := range []string{"none", "clear", "opaque"} {
		for _, alg := range matrixAlgorithms {
			for _, cte := range []string{"base64", "quoted-printable", "7bit", "8bit", "binary"} {
				for _, body := range bodies {
					o := Options{Signature: sig, IncludeCertificate: true, ContentTransferEncoding: cte}
					if alg != "none" {
						o.Encrypt = true
						o.Algorithm, _ = cms.ParseAlgorithm(alg)
					}
					out, err := mustEncoder(t, o).Encode(nil, body.contentType, body.data, p.signer(), p.partner.Cert)
					if err != nil {
						if (cte == "7bit" || cte == "8bit") && (body.name == "binary" || body.name == "text" && cte == "7bit") {
							continue // refused, see TestOpenSSLTransferEncodings
						}
						t.Fatalf("%s/%s/%s/%s: %v", sig, alg, cte, body.name, err)
					}
					d, err := decodeBoth(t, out, p.decodeOpts())
					if err != nil {
						t.Errorf("%s/%s/%s/%s: Decode: %v", sig, alg, cte, body.name, err)
						continue
					}
					t.Run(sig+"/"+alg+"/"+cte+"/"+body.name, func(t *testing.T) {
						checkDecoded(t, d, body, sig != "none", alg != "none", p.group.Cert)
					})
				}
			}
		}
	}
}

// TestDecodeAfterLineBreakDamage: a clear-signed text message whose line
// breaks were all turned into LF (a Unix mail store, FTP in ASCII mode)
// still verifies, via the canonical reading of the signed part.
func TestDecodeAfterLineBreakDamage(t *testing.T) {
	p := newPKI(t)
	body := textBody()
	for _, cte := range []string{"base64", "quoted-printable", "8bit"} {
		out := mustEncode(t, mustEncoder(t, Options{Signature: "clear", IncludeCertificate: true, ContentTransferEncoding: cte}),
			body.contentType, body.data, p.signer(), nil)
		damaged := bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n"))
		d, err := decodeBoth(t, damaged, p.decodeOpts())
		if err != nil {
			t.Fatalf("%s: %v", cte, err)
		}
		t.Run(cte, func(t *testing.T) { checkDecoded(t, d, body, true, false, p.group.Cert) })
	}
}

// TestDecodeRejects: every way a message can fail to be authentic,
// readable or well-formed is an error, with enough context to act on.
func TestDecodeRejects(t *testing.T) {
	p := newPKI(t)
	otherCA := testpki.SelfSigned(t, testpki.Options{CommonName: "other CA", IsCA: true, Key: keys.Key(t, testpki.RSA2048, 3)})
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(otherCA.Cert)

	body := []byte("ISA*00~\nbinary\x00")
	enc := func(o Options, s *Signer) []byte {
		o.IncludeCertificate = true
		return mustEncode(t, mustEncoder(t, o), "application/edi-x12", body, s, p.partner.Cert)
	}
	clear := enc(Options{Signature: "clear"}, p.signer())
	opaque := enc(Options{Signature: "opaque"}, p.signer())
	encrypted := enc(Options{Signature: "opaque", Encrypt: true}, p.signer())

	signerWith := func(o testpki.Options) *Signer {
		o.Key = keys.Key(t, testpki.RSA2048, 1)
		c := p.ca.Issue(t, o)
		return &Signer{Cert: c.Cert, Key: c.Key}
	}
	encipherOnly := enc(Options{Signature: "clear"}, signerWith(testpki.Options{CommonName: "no digitalSignature", KeyUsage: x509.KeyUsageKeyEncipherment}))
	serverAuth := enc(Options{Signature: "clear"}, signerWith(testpki.Options{CommonName: "TLS only", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}))

	// Tampering: one octet of the signed base64 text, one octet of the
	// encapsulated content.
	tamperedClear := bytes.Replace(clear, []byte("Content-Transfer-Encoding: base64\r\n\r\nSVNB"), []byte("Content-Transfer-Encoding: base64\r\n\r\nSVNC"), 1)
	if bytes.Equal(tamperedClear, clear) {
		t.Fatal("tampering did not change the message")
	}

	other := p.ca.Issue(t, testpki.Options{CommonName: "someone else", Key: keys.Key(t, testpki.RSA2048, 3)})

	tests := []struct {
		name    string
		msg     []byte
		opts    func(*DecodeOptions)
		wantErr string
	}{
		{"no trust roots", clear, func(o *DecodeOptions) { o.Roots = nil }, "no trust roots"},
		{"untrusted CA", clear, func(o *DecodeOptions) { o.Roots = otherRoots }, "certificate signed by unknown authority"},
		{"untrusted CA, opaque", opaque, func(o *DecodeOptions) { o.Roots = otherRoots }, "certificate signed by unknown authority"},
		{"signer expired at Now", clear, func(o *DecodeOptions) { o.Now = time.Now().Add(2 * testpki.LeafValidity) }, "expired"},
		{"signer not yet valid at Now", opaque, func(o *DecodeOptions) { o.Now = time.Now().Add(-48 * time.Hour) }, "not yet valid"},
		{"key usage without digitalSignature", encipherOnly, nil, "key usage does not allow digital signatures"},
		{"extended key usage without emailProtection", serverAuth, nil, "incompatible key usage"},
		{"tampered clear-signed content", tamperedClear, nil, "signature verification failed"},
		{"encrypted, no key", encrypted, func(o *DecodeOptions) { o.Key = nil }, "no decryption certificate and key"},
		{"encrypted for someone else", encrypted, func(o *DecodeOptions) { o.Cert, o.Key = other.Cert, other.Key.(*rsa.PrivateKey) }, "not encrypted for this certificate"},
		{"duplicate Content-Type", append([]byte("Content-Type: text/plain\r\n"), clear...), nil, "duplicate Content-Type"},
		{"not MIME", []byte("hello world\r\n"), nil, "not a header field"},
		{"bad media type", []byte("Content-Type: text/\r\n\r\n"), nil, "invalid Content-Type"},
		{"too many media type parameters", []byte("Content-Type: text/plain" + strings.Repeat("; a=b", 101) + "\r\n\r\n"), nil, "more than 100 media type parameters"},
		{"unknown transfer encoding", []byte("Content-Transfer-Encoding: x-uue\r\n\r\nx"), nil, "unsupported Content-Transfer-Encoding"},
		{"detached signature alone", []byte("Content-Type: application/pkcs7-signature\r\n\r\n"), nil, "without its multipart/signed"},
		{"pkcs7-mime not CMS", []byte("Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n"), nil, "not a CMS ContentInfo"},
		{"pgp protocol", []byte("Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\n\r\ny\r\n--b--\r\n"), nil, "unsupported protocol"},
		{"three parts", []byte("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\n\r\ny\r\n--b\r\n\r\nz\r\n--b--\r\n"), nil, "has 3 parts"},
		{"too many parts", []byte("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n" + strings.Repeat("--b\r\n", 1000) + "--b--\r\n"), nil, "more than 16 parts"},
		{"truncated multipart", clear[:len(clear)-60], nil, "no close delimiter"},
		{"signature part of another type", bytes.Replace(clear, []byte("Content-Type: application/pkcs7-signature; name=smime.p7s"), []byte("Content-Type: text/plain"), 1), nil, "want application/pkcs7-signature"},
		{"opaque SignedData in multipart/signed", clearWithSignature(t, clear, opaque), nil, "want a detached signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := p.decodeOpts()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			d, err := decodeBoth(t, tt.msg, opts)
			if err == nil {
				t.Fatalf("Decode accepted it: %+v", d)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "smime: ") {
				t.Errorf("err = %v, want %q with package context", err, tt.wantErr)
			}
			if d != nil {
				t.Error("non-nil result with an error")
			}
		})
	}
	// A key that is not the certificate's is caught before decrypting.
	if _, err := decodeBoth(t, encrypted, DecodeOptions{Cert: p.partner.Cert, Key: other.Key.(*rsa.PrivateKey), Roots: p.roots}); err == nil || !strings.Contains(err.Error(), "decrypting with certificate") {
		t.Errorf("wrong key for the right certificate: %v", err)
	}
}

// clearWithSignature replaces the signature of a clear-signed message with
// the SignedData (base64 body) of an opaque one.
func clearWithSignature(t *testing.T, clear, opaque []byte) []byte {
	t.Helper()
	_, sig := stdSignedParts(t, clear)
	_, _, opaqueDER := stdEntity(t, opaque)
	return bytes.Replace(clear, b64.AppendLines(nil, sig), b64.AppendLines(nil, opaqueDER), 1)
}

// TestDecodePinnedSignerAnyExtKeyUsage: a signer trusted as itself (a
// party's listed certificate) may have an extended key usage without
// emailProtection, as AS2 partners' TLS-only certificates do; the same
// certificate issued by a trusted CA is refused (TestDecodeRejects).
func TestDecodePinnedSignerAnyExtKeyUsage(t *testing.T) {
	p := newPKI(t)
	c := testpki.SelfSigned(t, testpki.Options{CommonName: "AS2 partner, TLS only", Key: keys.Key(t, testpki.RSA2048, 2),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	body := []byte("ISA*00~")
	for _, sig := range []string{"clear", "opaque"} {
		msg := mustEncode(t, mustEncoder(t, Options{Signature: sig, IncludeCertificate: true}), "application/edi-x12", body,
			&Signer{Cert: c.Cert, Key: c.Key}, p.partner.Cert)
		pinned := x509.NewCertPool()
		pinned.AddCert(c.Cert)
		opts := p.decodeOpts()
		opts.Roots = pinned
		d, err := decodeBoth(t, msg, opts)
		if err != nil || !bytes.Equal(d.Body, body) {
			t.Errorf("%s: pinned TLS-only signer: %v", sig, err)
		}
	}
}

// TestDecodeSignerWithoutKeyUsage: a certificate with neither key usage nor
// extended key usage is usable (the extensions restrict only when present).
func TestDecodeSignerWithoutKeyUsage(t *testing.T) {
	p := newPKI(t)
	c := p.ca.Issue(t, testpki.Options{CommonName: "bare", OmitKeyUsage: true, OmitExtKeyUsage: true, Key: keys.Key(t, testpki.RSA2048, 1)})
	out := mustEncode(t, mustEncoder(t, Options{Signature: "clear", IncludeCertificate: true}), "text/plain", []byte("x"), &Signer{Cert: c.Cert, Key: c.Key}, nil)
	if _, err := decodeBoth(t, out, p.decodeOpts()); err != nil {
		t.Fatal(err)
	}
}

// TestDecodeNesting: layers are unwrapped to a fixed depth; deeper nesting
// is refused. The innermost signer is reported.
func TestDecodeNesting(t *testing.T) {
	p := newPKI(t)
	inner := p.ca.Issue(t, testpki.Options{CommonName: "inner signer", Key: keys.Key(t, testpki.RSA2048, 3)})
	wrap := func(entity []byte, s *Signer) []byte {
		der, err := signedData(entity, s, digests[0], true, true)
		if err != nil {
			t.Fatal(err)
		}
		return appendPKCS7MIME(nil, false, "signed-data", der)
	}
	msg := []byte("Content-Type: text/plain\r\n\r\ncore")
	msg = wrap(msg, &Signer{Cert: inner.Cert, Key: inner.Key})
	for range maxNesting - 2 {
		msg = wrap(msg, p.signer())
	}
	d, err := decodeBoth(t, msg, p.decodeOpts())
	if err != nil {
		t.Fatalf("%d layers: %v", maxNesting-1, err)
	}
	if string(d.Body) != "core" || !d.Signer.Equal(inner.Cert) {
		t.Errorf("body %q, signer %v; want the innermost", d.Body, d.Signer.Subject)
	}
	if _, err := decodeBoth(t, wrap(msg, p.signer()), p.decodeOpts()); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("%d layers: %v, want nesting error", maxNesting, err)
	}
}

func TestDecodePlain(t *testing.T) {
	in := []byte("Subject: x\r\n\r\nhello\r\n")
	d, err := decodeBoth(t, in, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.ContentType != "text/plain; charset=us-ascii" || string(d.Body) != "hello\r\n" || d.Signed || d.Encrypted || d.Signer != nil {
		t.Errorf("got %+v", d)
	}
	d.Body[0] = 'J'
	if in[len(in)-7] != 'h' {
		t.Error("Body aliases the input")
	}
}
