package smime

// Interoperability with the openssl command-line tool. These tests fail (not
// skip) when openssl is missing: a skipped interop test would look like a
// passing one.

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

var matrixAlgorithms = []string{"none", "aes128-cbc", "aes256-cbc", "aes128-gcm", "aes256-gcm", "des3"}

// TestOpenSSLMatrix: for every signature × encryption × digest × body, the
// spec's pipeline
//
//	openssl cms -decrypt -recip partner.pem -inkey partner.key -in out.eml |
//	openssl cms -verify -CAfile ca.pem
//
// outputs the signed entity whose body, once its transfer encoding is undone
// (with the standard library), is exactly the original (binary) or its CRLF
// canonical form (text); -signer writes the group certificate; and Decode
// reads the same message to the same body.
func TestOpenSSLMatrix(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	for _, sig := range []string{"clear", "opaque"} {
		for _, alg := range matrixAlgorithms {
			for _, digest := range []string{"sha256", "sha512"} {
				for _, body := range []testBody{textBody(), binaryBody()} {
					name := fmt.Sprintf("%s/%s/%s/%s", sig, alg, digest, body.name)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						opts := Options{Signature: sig, Digest: digest, IncludeCertificate: true, ContentTransferEncoding: "base64"}
						if alg != "none" {
							a, err := cms.ParseAlgorithm(alg)
							if err != nil {
								t.Fatal(err)
							}
							opts.Encrypt, opts.Algorithm = true, a
						}
						out := mustEncode(t, mustEncoder(t, opts), body.contentType, body.data, p.signer(), p.partner.Cert)
						checkTopLevel(t, out, sig, alg, digest)

						msg := writeTemp(t, "out.eml", out)
						signed := out
						if alg != "none" {
							signed = run(t, nil, ossl, "cms", "-decrypt", "-recip", p.partnerPEM, "-inkey", p.partnerKey, "-in", msg)
						}
						signerOut := filepath.Join(t.TempDir(), "signer.pem")
						content := run(t, signed, ossl, "cms", "-verify", "-CAfile", p.caPEM, "-signer", signerOut)
						ct, _, got := stdEntity(t, content)
						if ct != body.contentType {
							t.Errorf("openssl output Content-Type %q, want %q", ct, body.contentType)
						}
						if !bytes.Equal(got, body.want) {
							t.Errorf("openssl output body differs from the original:\n got %q\nwant %q", got, body.want)
						}
						if !bytes.Equal(pemCertDER(t, readFile(t, signerOut)), p.group.DER) {
							t.Error("openssl -signer did not write the group signing certificate")
						}

						d, err := decodeBoth(t, out, p.decodeOpts())
						if err != nil {
							t.Fatalf("Decode: %v", err)
						}
						checkDecoded(t, d, body, true, alg != "none", p.group.Cert)
					})
				}
			}
		}
	}
}

// checkTopLevel checks the outermost header fields of an encoded message.
func checkTopLevel(t *testing.T, out []byte, sig, alg, digest string) {
	t.Helper()
	if !bytes.HasPrefix(out, []byte("MIME-Version: 1.0\r\n")) {
		t.Errorf("message does not start with MIME-Version: %q", out[:min(40, len(out))])
	}
	mt, params, err := mime.ParseMediaType(headerOf(t, out, "Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	micalg := map[string]string{"sha1": "sha-1", "sha256": "sha-256", "sha384": "sha-384", "sha512": "sha-512"}[digest]
	switch {
	case alg == "aes128-gcm" || alg == "aes256-gcm":
		if mt != "application/pkcs7-mime" || params["smime-type"] != "authEnveloped-data" || params["name"] != "smime.p7m" {
			t.Errorf("GCM: Content-Type %s %v", mt, params)
		}
	case alg != "none":
		if mt != "application/pkcs7-mime" || params["smime-type"] != "enveloped-data" || params["name"] != "smime.p7m" {
			t.Errorf("CBC: Content-Type %s %v", mt, params)
		}
	case sig == "clear":
		if mt != "multipart/signed" || params["protocol"] != "application/pkcs7-signature" || params["micalg"] != micalg {
			t.Errorf("clear: Content-Type %s %v, want micalg %s", mt, params, micalg)
		}
	case sig == "opaque":
		if mt != "application/pkcs7-mime" || params["smime-type"] != "signed-data" || params["name"] != "smime.p7m" {
			t.Errorf("opaque: Content-Type %s %v", mt, params)
		}
	}
}

func checkDecoded(t *testing.T, d *Decoded, body testBody, signed, encrypted bool, signer *x509.Certificate) {
	t.Helper()
	if d.ContentType != body.contentType {
		t.Errorf("Decode ContentType %q, want %q", d.ContentType, body.contentType)
	}
	if !bytes.Equal(d.Body, body.want) {
		t.Errorf("Decode body differs:\n got %q\nwant %q", d.Body, body.want)
	}
	if d.Signed != signed || d.Encrypted != encrypted {
		t.Errorf("Decode Signed=%v Encrypted=%v, want %v %v", d.Signed, d.Encrypted, signed, encrypted)
	}
	if signed && (d.Signer == nil || !d.Signer.Equal(signer)) {
		t.Errorf("Decode Signer = %v, want %q", d.Signer, signer.Subject)
	}
}

// TestOpenSSLTransferEncodings: every transfer encoding that can carry the
// body verifies with openssl and reproduces the body exactly. Clear-signed
// binary data in the "binary" encoding needs -binary -crlfeol (see the
// package documentation); everything else verifies with the plain command.
// Bodies a 7bit/8bit encoding cannot carry are refused by Encode.
func TestOpenSSLTransferEncodings(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	for _, cte := range []string{"base64", "quoted-printable", "7bit", "8bit", "binary"} {
		for _, body := range []testBody{textBody(), asciiTextBody(), binaryBody()} {
			for _, sig := range []string{"clear", "opaque"} {
				t.Run(cte+"/"+body.name+"/"+sig, func(t *testing.T) {
					t.Parallel()
					e := mustEncoder(t, Options{Signature: sig, Digest: "sha256", IncludeCertificate: true, ContentTransferEncoding: cte})
					out, err := e.Encode(nil, body.contentType, body.data, p.signer(), nil)
					refuse := (cte == "7bit" && body.name != "ascii") || (cte == "8bit" && body.name == "binary")
					if refuse {
						if err == nil {
							t.Fatalf("Encode accepted a %s body with content_transfer_encoding %s", body.name, cte)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					args := []string{"cms", "-verify", "-CAfile", p.caPEM}
					needsBinary := sig == "clear" && cte == "binary" && body.name == "binary"
					if needsBinary {
						args = append(args, "-binary", "-crlfeol")
						if _, stderr, err := runErr(out, nil, ossl, "cms", "-verify", "-CAfile", p.caPEM); err == nil {
							t.Log("note: plain openssl cms -verify now accepts clear-signed binary data; the documentation can be simplified")
						} else {
							t.Logf("as documented, plain openssl cms -verify rejects it: %s", firstLine(stderr))
						}
					}
					content := run(t, out, ossl, args...)
					ct, gotCTE, got := stdEntity(t, content)
					if gotCTE != cte || ct != body.contentType {
						t.Errorf("entity has Content-Type %q and encoding %q, want %q and %q", ct, gotCTE, body.contentType, cte)
					}
					if !bytes.Equal(got, body.want) {
						t.Errorf("openssl output body differs:\n got %q\nwant %q", got, body.want)
					}
					d, err := decodeBoth(t, out, p.decodeOpts())
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					checkDecoded(t, d, body, true, false, p.group.Cert)
				})
			}
		}
	}
}

// asciiTextBody is text that 7bit can carry.
func asciiTextBody() testBody {
	data := []byte("Order 4711\nFrom: purchasing\n.\ntrailing  \n")
	return testBody{
		name:        "ascii",
		contentType: "text/plain; charset=us-ascii",
		data:        data,
		want:        bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")),
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// TestOpenSSLWithoutCertificate: include_certificate = false leaves the
// signing certificate out, so openssl verifies only when given it with
// -certfile, and Decode only when given it in DecodeOptions.Certs.
func TestOpenSSLWithoutCertificate(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	body := binaryBody()
	for _, sig := range []string{"clear", "opaque"} {
		t.Run(sig, func(t *testing.T) {
			t.Parallel()
			e := mustEncoder(t, Options{Signature: sig, Digest: "sha256", IncludeCertificate: false})
			out := mustEncode(t, e, body.contentType, body.data, p.signer(), nil)

			if _, _, err := runErr(out, nil, ossl, "cms", "-verify", "-CAfile", p.caPEM); err == nil {
				t.Error("openssl verified without -certfile: the certificate is embedded")
			}
			content := run(t, out, ossl, "cms", "-verify", "-CAfile", p.caPEM, "-certfile", p.groupPEM)
			if _, _, got := stdEntity(t, content); !bytes.Equal(got, body.want) {
				t.Errorf("openssl output body differs")
			}

			if _, err := decodeBoth(t, out, p.decodeOpts()); err == nil {
				t.Error("Decode verified without the signer certificate")
			}
			opts := p.decodeOpts()
			opts.Certs = []*x509.Certificate{p.group.Cert}
			d, err := decodeBoth(t, out, opts)
			if err != nil {
				t.Fatalf("Decode with Certs: %v", err)
			}
			checkDecoded(t, d, body, true, false, p.group.Cert)
		})
	}
}

// TestDecodeOpenSSLMessages: Decode reads what openssl cms and openssl
// smime write: clear (canonicalised and -binary) and opaque (DER and
// streamed BER) signatures, CBC and GCM enveloping, sign-then-encrypt, and
// the legacy application/x-pkcs7-* types of openssl smime.
func TestDecodeOpenSSLMessages(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	groupKey := writeGroupKey(t, p)

	text := textBody()
	// The input entities, built without the package: text with Unix line
	// breaks (openssl canonicalises it when signing without -binary) and
	// binary data base64-encoded or raw.
	textEntity := append([]byte("Content-Type: text/plain; charset=utf-8\n\n"), text.data...)
	bin := binaryBody()
	b64 := base64.StdEncoding.EncodeToString(bin.data)
	var b64Lines strings.Builder
	for len(b64) > 64 {
		b64Lines.WriteString(b64[:64] + "\r\n")
		b64 = b64[64:]
	}
	b64Lines.WriteString(b64 + "\r\n")
	binEntity := []byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Lines.String())
	rawEntity := append([]byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n"), bin.data...)

	sign := []string{"-signer", p.groupPEM, "-inkey", groupKey}
	encrypt := []string{"-recip", p.partnerPEM}
	tests := []struct {
		name              string
		in                []byte
		cmds              [][]string // run in sequence, each reading the previous output
		body              testBody
		signed, encrypted bool
	}{
		{"cms-sign-clear-text", textEntity, [][]string{append([]string{"cms", "-sign"}, sign...)}, text, true, false},
		{"cms-sign-clear-binary-b64", binEntity, [][]string{append([]string{"cms", "-sign", "-md", "sha512"}, sign...)}, bin, true, false},
		{"cms-sign-clear-binary-raw", rawEntity, [][]string{append([]string{"cms", "-sign", "-binary"}, sign...)}, bin, true, false},
		{"cms-sign-opaque", binEntity, [][]string{append([]string{"cms", "-sign", "-nodetach"}, sign...)}, bin, true, false},
		{"cms-sign-opaque-stream", rawEntity, [][]string{append([]string{"cms", "-sign", "-nodetach", "-binary", "-stream"}, sign...)}, bin, true, false},
		{"cms-encrypt-aes256-cbc", binEntity, [][]string{append([]string{"cms", "-encrypt", "-aes-256-cbc"}, encrypt...)}, bin, false, true},
		{"cms-encrypt-aes256-gcm", rawEntity, [][]string{append([]string{"cms", "-encrypt", "-binary", "-aes-256-gcm"}, encrypt...)}, bin, false, true},
		{"cms-sign-then-encrypt", textEntity, [][]string{
			append([]string{"cms", "-sign"}, sign...),
			append([]string{"cms", "-encrypt", "-aes-128-gcm"}, encrypt...),
		}, text, true, true},
		{"smime-sign-clear", textEntity, [][]string{append([]string{"smime", "-sign"}, sign...)}, text, true, false},
		{"smime-sign-opaque", binEntity, [][]string{append([]string{"smime", "-sign", "-nodetach"}, sign...)}, bin, true, false},
		{"smime-sign-then-encrypt", rawEntity, [][]string{
			append([]string{"smime", "-sign", "-binary"}, sign...),
			append([]string{"smime", "-encrypt", "-binary", "-aes256"}, p.partnerPEM),
		}, bin, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := tt.in
			for _, c := range tt.cmds {
				msg = run(t, msg, ossl, c...)
			}
			d, err := decodeBoth(t, msg, p.decodeOpts())
			if err != nil {
				t.Fatalf("Decode: %v\n%s", err, msg[:min(len(msg), 400)])
			}
			checkDecoded(t, d, tt.body, tt.signed, tt.encrypted, p.group.Cert)
		})
	}
}

// writeGroupKey writes the group signing key for openssl.
func writeGroupKey(t testing.TB, p *testPKI) string {
	t.Helper()
	path := filepath.Join(p.dir, "group.key")
	if err := os.WriteFile(path, p.group.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDecodeOpenSSLKeyID: openssl cms -sign -keyid identifies the signer
// by its subject key identifier (a version 3 SignerInfo), as some S/MIME
// agents do by default; Decode finds the signer among the embedded
// certificates or, with -nocerts, DecodeOptions.Certs, and verifies it as
// any other. A signer whose key identifier no certificate has is refused,
// saying so.
func TestDecodeOpenSSLKeyID(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	ski := []byte("bizpipe test signer key id")
	skiExt, err := asn1.Marshal(ski)
	if err != nil {
		t.Fatal(err)
	}
	signer := p.ca.Issue(t, testpki.Options{CommonName: "Fabrikam signing (key id)", Key: keys.Key(t, testpki.RSA2048, 4),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 14}, Value: skiExt}}})
	certPEM := testpki.WriteFile(t, p.dir, "keyid.pem", signer.CertPEM())
	keyPEM := testpki.WriteFile(t, p.dir, "keyid.key", signer.KeyPEM())
	other := p.ca.Issue(t, testpki.Options{CommonName: "Another key id", Key: keys.Key(t, testpki.RSA2048, 5),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 14}, Value: []byte{0x04, 0x01, 0x07}}}})

	text := textBody()
	entity := append([]byte("Content-Type: text/plain; charset=utf-8\n\n"), text.data...)
	sign := []string{"cms", "-sign", "-keyid", "-signer", certPEM, "-inkey", keyPEM}
	tests := []struct {
		name  string
		args  []string
		certs []*x509.Certificate // DecodeOptions.Certs
		want  string              // the error, "" for none
	}{
		{"clear", sign, nil, ""},
		{"opaque", append(sign, "-nodetach"), nil, ""},
		{"opaque-stream", append(sign, "-nodetach", "-stream"), nil, ""},
		{"nocerts", append(sign, "-nocerts"), []*x509.Certificate{other.Cert, signer.Cert}, ""},
		{"nocerts-unknown", append(sign, "-nocerts"), []*x509.Certificate{other.Cert}, "no certificate has the signer's subject key identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := run(t, entity, ossl, tt.args...)
			opts := p.decodeOpts()
			opts.Certs = tt.certs
			d, err := decodeBoth(t, msg, opts)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Decode: %v, want an error saying %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkDecoded(t, d, text, true, false, signer.Cert)
			// openssl verifies what Decode did.
			run(t, msg, ossl, "cms", "-verify", "-CAfile", p.caPEM, "-certfile", certPEM)
		})
	}
}

// TestDecodeOpenSSLSignerCertAbsent: a signature made with openssl cms
// -nocerts by a certificate that is neither embedded nor a party's (its
// SignerInfo names it by issuer and serial number) is refused naming that
// issuer and serial number, as a signer identified by subject key
// identifier is by its key identifier (TestDecodeOpenSSLKeyID), so that the
// operator can tell which certificate is missing; not by pkcs7's "No
// certificate for signer", which names nothing. Clear and opaque, in
// memory and streaming alike.
func TestDecodeOpenSSLSignerCertAbsent(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	stranger := p.ca.Issue(t, testpki.Options{CommonName: "Stranger", Key: keys.Key(t, testpki.RSA2048, 4)})
	certPEM := testpki.WriteFile(t, p.dir, "stranger.pem", stranger.CertPEM())
	keyPEM := testpki.WriteFile(t, p.dir, "stranger.key", stranger.KeyPEM())
	entity := []byte("Content-Type: text/plain\r\n\r\nhello\r\n")
	sign := []string{"cms", "-sign", "-nocerts", "-signer", certPEM, "-inkey", keyPEM}
	want := fmt.Sprintf(`no certificate has the signer's issuer %q, serial %s (none embedded in the signature, nor a party's)`,
		stranger.Cert.Issuer, stranger.Cert.SerialNumber.Text(16))
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"clear", sign},
		{"opaque", append(sign, "-nodetach")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := run(t, entity, ossl, tt.args...)
			_, err := decodeBoth(t, msg, p.decodeOpts())
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Decode: %v, want an error saying %q", err, want)
			}
			// What a receive location answers by (an AS2 MDN's
			// authentication-failed).
			if _, err := DecodeStream(t.Context(), bytes.NewReader(msg), io.Discard, p.decodeOpts()); !errors.Is(err, component.ErrAuthenticationFailed) {
				t.Errorf("DecodeStream: %v, not an authentication failure", err)
			}
		})
	}
}

// TestDecodeOpenSSLDigests: of what openssl cms signs, with and without
// signed attributes, Decode verifies the digests the encoder offers and
// refuses any other naming it (by name and object identifier), not with
// pkcs7's text about decryption, in memory and streaming alike.
func TestDecodeOpenSSLDigests(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	sign := []string{"cms", "-sign", "-signer", p.groupPEM, "-inkey", writeGroupKey(t, p)}
	text := textBody()
	entity := append([]byte("Content-Type: text/plain; charset=utf-8\n\n"), text.data...)
	tests := []struct {
		md   string
		want string // the error, "" for none
	}{
		{"sha256", ""},
		{"sha384", ""},
		{"sha512", ""},
		{"sha1", ""},
		{"md5", "md5 (1.2.840.113549.2.5)"},
		{"sha224", "sha224 (2.16.840.1.101.3.4.2.4)"},
		{"sha3-256", "sha3-256 (2.16.840.1.101.3.4.2.8)"},
		{"sha512-256", "sha512-256 (2.16.840.1.101.3.4.2.6)"},
	}
	for _, tt := range tests {
		for _, attrs := range [][]string{nil, {"-noattr"}} {
			name := tt.md
			if attrs != nil {
				name += "-noattr"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				msg := run(t, entity, ossl, append(append(sign, "-md", tt.md), attrs...)...)
				d, err := decodeBoth(t, msg, p.decodeOpts())
				if tt.want == "" {
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					checkDecoded(t, d, text, true, false, p.group.Cert)
					return
				}
				want := "smime: signature verification failed: the signature's digest algorithm " + tt.want +
					" is not accepted (want one of sha256, sha384, sha512, sha1)"
				_, serr := Decode(msg, p.decodeOpts())
				for _, err := range []error{err, serr} {
					if err == nil || err.Error() != want {
						t.Errorf("Decode: %v, want %s", err, want)
					}
				}
			})
		}
	}
	if got := digestName(asn1.ObjectIdentifier{1, 2, 3, 4}); got != "1.2.3.4" {
		t.Errorf("an unnamed digest is named %q, want its object identifier", got)
	}
}
