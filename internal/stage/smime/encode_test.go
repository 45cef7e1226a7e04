package smime

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"strings"
	"sync"
	"testing"

	"github.com/smallstep/pkcs7"

	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

func TestNewEncoderOptions(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		want    Options
		wantErr string
	}{
		{"zero value means language defaults", Options{},
			Options{Signature: "none", Digest: "sha256", ContentTransferEncoding: "base64"}, ""},
		{"DefaultOptions", DefaultOptions(),
			Options{Signature: "none", Digest: "sha256", IncludeCertificate: true, Algorithm: cms.AES256CBC, ContentTransferEncoding: "base64"}, ""},
		{"encrypt without algorithm uses the default", Options{Encrypt: true},
			Options{Signature: "none", Digest: "sha256", Encrypt: true, Algorithm: cms.AES256CBC, ContentTransferEncoding: "base64"}, ""},
		{"normalised spelling", Options{Signature: " Clear ", Digest: "SHA512", ContentTransferEncoding: "Quoted-Printable", Encrypt: true, Algorithm: cms.DES3CBC},
			Options{Signature: "clear", Digest: "sha512", ContentTransferEncoding: "quoted-printable", Encrypt: true, Algorithm: cms.DES3CBC}, ""},
		{"sha1 allowed when configured", Options{Signature: "opaque", Digest: "sha1"},
			Options{Signature: "opaque", Digest: "sha1", ContentTransferEncoding: "base64"}, ""},
		{"bad signature", Options{Signature: "detached"}, Options{}, `invalid signature "detached" (want one of none, clear, opaque)`},
		{"bad digest", Options{Digest: "md5"}, Options{}, `invalid digest "md5" (want one of sha256, sha384, sha512, sha1)`},
		{"bad transfer encoding", Options{ContentTransferEncoding: "uuencode"}, Options{}, `invalid content_transfer_encoding "uuencode"`},
		{"bad algorithm", Options{Encrypt: true, Algorithm: 99}, Options{}, "invalid encryption algorithm Algorithm(99)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEncoder(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Options(); got != tt.want {
				t.Errorf("Options() = %+v, want %+v", got, tt.want)
			}
			if e.Signs() != (tt.want.Signature != "none") || e.Encrypts() != tt.want.Encrypt {
				t.Errorf("Signs/Encrypts = %v/%v", e.Signs(), e.Encrypts())
			}
		})
	}
}

// TestEncodeStructure checks the MIME structure of every mode with the
// standard library's parsers: header fields, CRLF line breaks, line
// lengths, and that only the outermost entity has MIME-Version.
func TestEncodeStructure(t *testing.T) {
	p := newPKI(t)
	body := binaryBody()
	for _, sig := range []string{"none", "clear", "opaque"} {
		for _, alg := range []string{"none", "aes256-cbc", "aes128-gcm"} {
			t.Run(sig+"/"+alg, func(t *testing.T) {
				o := Options{Signature: sig, Digest: "sha384", IncludeCertificate: true}
				if alg != "none" {
					o.Encrypt = true
					o.Algorithm, _ = cms.ParseAlgorithm(alg)
				}
				out := mustEncode(t, mustEncoder(t, o), body.contentType, body.data, p.signer(), p.partner.Cert)
				if sig != "none" || alg != "none" {
					checkTopLevel(t, out, sig, alg, "sha384")
				}
				// base64 everywhere: no bare CR or LF, no line over 76.
				for i, line := range strings.Split(string(out), "\r\n") {
					if strings.ContainsAny(line, "\r\n") {
						t.Fatalf("line %d has a bare CR or LF", i)
					}
					if len(line) > 76 && !strings.HasPrefix(line, "Content-Type:") {
						t.Errorf("line %d has %d characters", i, len(line))
					}
				}
				if n := strings.Count(string(out), "MIME-Version:"); n != 1 {
					t.Errorf("MIME-Version appears %d times in the outer text", n)
				}
				if alg == "none" && sig == "clear" {
					_, params, _ := mime.ParseMediaType(headerOf(t, out, "Content-Type"))
					if !strings.Contains(string(out), "\r\n--"+params["boundary"]+"\r\n"+
						"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"+
						"Content-Transfer-Encoding: base64\r\n"+
						"Content-Disposition: attachment; filename=smime.p7s\r\n\r\n") {
						t.Error("signature part header differs")
					}
					content, _ := stdSignedParts(t, out)
					if !bytes.HasPrefix(content, []byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: base64\r\n\r\n")) {
						t.Errorf("signed entity header: %q", content[:min(len(content), 90)])
					}
				}
				if sig != "clear" && (sig != "none" || alg != "none") {
					if got := headerOf(t, out, "Content-Disposition"); got != "attachment; filename=smime.p7m" {
						t.Errorf("Content-Disposition %q", got)
					}
				}
				if sig == "none" && alg == "none" {
					ct, cte, got := stdEntity(t, out)
					if ct != body.contentType || cte != "base64" || !bytes.Equal(got, body.data) {
						t.Errorf("plain entity: %q %q, body equal %v", ct, cte, bytes.Equal(got, body.data))
					}
				}
			})
		}
	}
}

// signedDataOf extracts and parses the SignedData of an unencrypted signed
// message (clear or opaque), with the standard library and pkcs7.
func signedDataOf(t *testing.T, out []byte) *pkcs7.PKCS7 {
	t.Helper()
	var der []byte
	if strings.HasPrefix(headerOf(t, out, "Content-Type"), "multipart/signed") {
		_, der = stdSignedParts(t, out)
	} else {
		_, _, der = stdEntity(t, out)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatalf("parsing SignedData: %v", err)
	}
	return p7
}

// TestSignedDataContents: the configured digest (not pkcs7's SHA-1
// default), the signed attributes OpenSSL writes, and certificates exactly
// as include_certificate and Signer.Chain say.
func TestSignedDataContents(t *testing.T) {
	root := testpki.SelfSigned(t, testpki.Options{CommonName: "root", IsCA: true, Key: keys.Key(t, testpki.RSA2048, 0)})
	inter := root.Issue(t, testpki.Options{CommonName: "intermediate", IsCA: true, Key: keys.Key(t, testpki.RSA2048, 3)})
	leaf := inter.Issue(t, testpki.Options{CommonName: "group", Key: keys.Key(t, testpki.RSA2048, 1)})
	signer := &Signer{Cert: leaf.Cert, Key: leaf.Key, Chain: []*x509.Certificate{inter.Cert}}
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)

	wantAttrs := map[string]bool{
		"1.2.840.113549.1.9.3":  true, // content-type
		"1.2.840.113549.1.9.4":  true, // message-digest
		"1.2.840.113549.1.9.5":  true, // signing-time
		"1.2.840.113549.1.9.15": true, // SMIMECapabilities
	}
	digestOIDs := map[string]string{
		"sha1": "1.3.14.3.2.26", "sha256": "2.16.840.1.101.3.4.2.1",
		"sha384": "2.16.840.1.101.3.4.2.2", "sha512": "2.16.840.1.101.3.4.2.3",
	}
	for _, how := range []string{"encode", "stream"} {
		for _, sig := range []string{"clear", "opaque"} {
			for _, digest := range []string{"sha1", "sha256", "sha384", "sha512"} {
				for _, include := range []bool{true, false} {
					t.Run(fmt.Sprintf("%s/%s/%s/include=%v", how, sig, digest, include), func(t *testing.T) {
						out := encodeHow(t, how, Options{Signature: sig, Digest: digest, IncludeCertificate: include}, "text/plain", []byte("hello\n"), signer, nil)
						checkTopLevel(t, out, sig, "none", digest) // micalg names the digest
						p7 := signedDataOf(t, out)
						if len(p7.Signers) != 1 {
							t.Fatalf("%d signers", len(p7.Signers))
						}
						si := p7.Signers[0]
						if got := si.DigestAlgorithm.Algorithm.String(); got != digestOIDs[digest] {
							t.Errorf("digest algorithm %s, want %s", got, digestOIDs[digest])
						}
						got := map[string]bool{}
						for _, a := range si.AuthenticatedAttributes {
							got[a.Type.String()] = true
						}
						if fmt.Sprint(got) != fmt.Sprint(wantAttrs) {
							t.Errorf("signed attributes %v, want %v", got, wantAttrs)
						}
						if include {
							if len(p7.Certificates) != 2 || !p7.Certificates[0].Equal(leaf.Cert) || !p7.Certificates[1].Equal(inter.Cert) {
								t.Errorf("certificates: %d, want leaf and intermediate", len(p7.Certificates))
							}
						} else if len(p7.Certificates) != 0 {
							t.Errorf("include_certificate=false but %d certificates embedded", len(p7.Certificates))
						}
						opts := DecodeOptions{Roots: roots}
						if !include {
							opts.Certs = []*x509.Certificate{leaf.Cert, inter.Cert}
						}
						d, err := decodeBoth(t, out, opts)
						if err != nil {
							t.Fatalf("Decode: %v", err)
						}
						if string(d.Body) != "hello\r\n" || !d.Signer.Equal(leaf.Cert) {
							t.Errorf("Decode: %q signed by %v", d.Body, d.Signer.Subject)
						}
					})
				}
			}
		}
	}
}

// TestSMIMECapabilities: the announced algorithms, strongest first, no
// Triple-DES.
func TestSMIMECapabilities(t *testing.T) {
	var caps []struct {
		Algorithm asn1.ObjectIdentifier
		Params    asn1.RawValue `asn1:"optional"`
	}
	if rest, err := asn1.Unmarshal(smimeCapabilities, &caps); err != nil || len(rest) > 0 {
		t.Fatalf("SMIMECapabilities is not a SEQUENCE OF SMIMECapability: %v", err)
	}
	var got []string
	for _, c := range caps {
		got = append(got, c.Algorithm.String())
	}
	want := "[2.16.840.1.101.3.4.1.46 2.16.840.1.101.3.4.1.6 2.16.840.1.101.3.4.1.42 2.16.840.1.101.3.4.1.22 2.16.840.1.101.3.4.1.2]"
	if fmt.Sprint(got) != want {
		t.Errorf("capabilities %v, want %s", got, want)
	}
}

// TestEncodeECDSASigner: an ECDSA group certificate signs too, and openssl
// verifies it.
func TestEncodeECDSASigner(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	group := p.ca.Issue(t, testpki.Options{CommonName: "ECDSA group", KeyType: testpki.ECDSAP256})
	if _, ok := group.Key.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("key is %T", group.Key)
	}
	for _, how := range []string{"encode", "stream"} {
		for _, sig := range []string{"clear", "opaque"} {
			out := encodeHow(t, how, Options{Signature: sig, Digest: "sha384", IncludeCertificate: true},
				"application/octet-stream", []byte{0, 1, 2, '\n'}, &Signer{Cert: group.Cert, Key: group.Key}, nil)
			run(t, out, ossl, "cms", "-verify", "-CAfile", p.caPEM)
			d, err := decodeBoth(t, out, p.decodeOpts())
			if err != nil || !bytes.Equal(d.Body, []byte{0, 1, 2, '\n'}) || !d.Signer.Equal(group.Cert) {
				t.Errorf("%s %s: Decode: %v", how, sig, err)
			}
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	p := newPKI(t)
	other := p.ca.Issue(t, testpki.Options{CommonName: "other", Key: keys.Key(t, testpki.RSA2048, 2)})
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edCert := p.ca.Issue(t, testpki.Options{CommonName: "ed25519", Key: edKey})
	ecdsaPartner := p.ca.Issue(t, testpki.Options{CommonName: "ecdsa partner", KeyType: testpki.ECDSAP256})

	clear := Options{Signature: "clear", IncludeCertificate: true}
	tests := []struct {
		name    string
		opts    Options
		ct      string
		body    string
		signer  *Signer
		recip   *x509.Certificate
		wantErr string
	}{
		{"no signer", clear, "text/plain", "x", nil, nil, "no signing certificate and key"},
		{"signer without key", clear, "text/plain", "x", &Signer{Cert: p.group.Cert}, nil, "no signing certificate and key"},
		{"key of another certificate", clear, "text/plain", "x", &Signer{Cert: p.group.Cert, Key: other.Key}, nil, "does not belong to signing certificate"},
		{"unsupported key type", clear, "text/plain", "x", &Signer{Cert: edCert.Cert, Key: edKey}, nil, "signing with certificate"},
		{"no recipient", Options{Encrypt: true}, "text/plain", "x", nil, nil, "no recipient certificate"},
		{"non-RSA recipient", Options{Encrypt: true}, "text/plain", "x", nil, ecdsaPartner.Cert, "encrypting for certificate"},
		{"bad content type", Options{}, "text/plain; charset", "x", nil, nil, "invalid content type"},
		{"header injection", Options{}, "text/plain\r\nBcc: x@example.com", "x", nil, nil, "invalid content type"},
		{"multipart as base64", Options{ContentTransferEncoding: "base64"}, "multipart/mixed; boundary=x", "--x--", nil, nil, "RFC 2045 §6.4"},
		{"message as quoted-printable", Options{ContentTransferEncoding: "quoted-printable"}, "message/rfc822", "A: b\r\n\r\n", nil, nil, "RFC 2045 §6.4"},
		{"binary as 8bit", Options{ContentTransferEncoding: "8bit"}, "application/octet-stream", "a\nb", nil, nil, "LF that is not part of CRLF"},
		{"8-bit text as 7bit", Options{ContentTransferEncoding: "7bit"}, "text/plain", "Grüße", nil, nil, "8-bit octet"},
		{"NUL in text as 8bit", Options{ContentTransferEncoding: "8bit"}, "text/plain", "a\x00", nil, nil, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := mustEncoder(t, tt.opts).Encode(nil, tt.ct, []byte(tt.body), tt.signer, tt.recip)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if out != nil {
				t.Error("partial output returned with an error")
			}
			if !strings.HasPrefix(err.Error(), "smime: ") {
				t.Errorf("error lacks package context: %v", err)
			}
			for _, secret := range secretsOf(t, tt.signer) {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error contains private key material: %v", err)
				}
			}
		})
	}
}

// secretsOf returns textual forms of a signer's private key that must
// never appear in errors.
func secretsOf(t *testing.T, s *Signer) []string {
	if s == nil || s.Key == nil {
		return nil
	}
	switch k := s.Key.(type) {
	case *rsa.PrivateKey:
		return []string{k.D.String(), k.D.Text(16), k.Primes[0].String()}
	case ed25519.PrivateKey:
		return []string{hex.EncodeToString(k.Seed()), base64.StdEncoding.EncodeToString(k.Seed()), fmt.Sprint(k.Seed())}
	}
	t.Fatalf("unexpected key type %T", s.Key)
	return nil
}

// TestEncodeBoundaryNotInBody: a body that contains the boundary the random
// source would produce forces a new boundary.
func TestEncodeBoundaryNotInBody(t *testing.T) {
	p := newPKI(t)
	first := bytes.Repeat([]byte{0xab}, 16)
	second := bytes.Repeat([]byte{0xcd}, 16)
	body := []byte("text containing ------=_bizpipe_" + hex.EncodeToString(first) + " inside\r\n")
	e := mustEncoder(t, Options{Signature: "clear", IncludeCertificate: true, ContentTransferEncoding: "8bit"})
	out, err := e.Encode(bytes.NewReader(append(first, second...)), "text/plain", body, p.signer(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(headerOf(t, out, "Content-Type"))
	if params["boundary"] != "----=_bizpipe_"+hex.EncodeToString(second) {
		t.Errorf("boundary %q, want the second one", params["boundary"])
	}
	d, err := decodeBoth(t, out, p.decodeOpts())
	if err != nil || !bytes.Equal(d.Body, body) {
		t.Errorf("Decode: %v", err)
	}
}

// TestEncodeDoesNotModifyBody: the caller's buffer is left alone, also when
// text is canonicalised.
func TestEncodeDoesNotModifyBody(t *testing.T) {
	p := newPKI(t)
	body := []byte("a\nb\rc\r\n")
	orig := bytes.Clone(body)
	for _, cte := range []string{"base64", "quoted-printable", "8bit", "binary"} {
		e := mustEncoder(t, Options{Signature: "opaque", IncludeCertificate: true, ContentTransferEncoding: cte})
		mustEncode(t, e, "text/plain", body, p.signer(), nil)
		if !bytes.Equal(body, orig) {
			t.Fatalf("%s: body modified to %q", cte, body)
		}
	}
}

// TestEncodeConcurrent: one test binary, many goroutines, encoders with
// every algorithm and digest, sharing nothing but the encoders and the
// certificates; run under -race. Every result must decode to its input.
func TestEncodeConcurrent(t *testing.T) {
	p := newPKI(t)
	var encoders []*Encoder
	for _, alg := range []cms.Algorithm{cms.AES128CBC, cms.AES256CBC, cms.AES128GCM, cms.AES256GCM, cms.DES3CBC} {
		for _, digest := range []string{"sha1", "sha256", "sha384", "sha512"} {
			sig := []string{"clear", "opaque"}[len(encoders)%2]
			encoders = append(encoders, mustEncoder(t, Options{Signature: sig, Digest: digest, IncludeCertificate: true, Encrypt: true, Algorithm: alg}))
		}
	}
	const workers, perWorker = 16, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				e := encoders[(w*perWorker+i)%len(encoders)]
				body := fmt.Appendf(nil, "worker %d message %d %s\x00\xff", w, i, e.Options().Algorithm)
				out, err := e.Encode(nil, "application/octet-stream", body, p.signer(), p.partner.Cert)
				if err != nil {
					errs <- err
					continue
				}
				d, err := decodeBoth(t, out, p.decodeOpts())
				if err != nil {
					errs <- fmt.Errorf("%+v: %w", e.Options(), err)
					continue
				}
				if !bytes.Equal(d.Body, body) || !d.Signed || !d.Encrypted {
					errs <- fmt.Errorf("%+v: body %q", e.Options(), d.Body)
				}
				// (No t.Fatal helpers off the test goroutine.)
				fields, _, err := SplitEntity(out)
				if err != nil || len(fields) < 2 || fields[1].Name != "Content-Type" {
					errs <- fmt.Errorf("%+v: header %v: %v", e.Options(), fields, err)
					continue
				}
				mt, params, _ := mime.ParseMediaType(fields[1].Value)
				if mt != "application/pkcs7-mime" || params["smime-type"] != e.Options().Algorithm.SMIMEType() {
					errs <- fmt.Errorf("%+v: Content-Type %s %v", e.Options(), mt, params)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
