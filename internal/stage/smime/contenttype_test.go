package smime

import (
	"bytes"
	crand "crypto/rand"
	"encoding/asn1"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/ber"
)

// TestDecodeSignedContentType: a signature with signed attributes must say,
// in its content-type attribute, that it signs id-data, the only content
// Decode reads (RFC 5652 §5.3; pkcs7 does not look): one that signs
// another type of content (openssl cms -econtent_type) is refused, naming
// the type, whichever way the signature is carried.
func TestDecodeSignedContentType(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	sign := []string{"cms", "-sign", "-signer", p.groupPEM, "-inkey", writeGroupKey(t, p)}
	text := textBody()
	entity := append([]byte("Content-Type: text/plain; charset=utf-8\n\n"), text.data...)
	const receipt = "1.2.840.113549.1.9.16.1.1" // id-ct-receipt
	for _, tc := range []struct {
		name string
		args []string
		want string // "" for none
	}{
		{"id-data, detached", nil, ""},
		{"id-data, opaque", []string{"-nodetach"}, ""},
		{"another type, detached", []string{"-econtent_type", receipt}, "smime: signed content type is " + receipt + ", want id-data"},
		{"another type, opaque", []string{"-nodetach", "-econtent_type", receipt}, "smime: signed content type is " + receipt + ", want id-data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := run(t, entity, ossl, append(append([]string{}, sign...), tc.args...)...)
			d, err := decodeBoth(t, msg, p.decodeOpts())
			_, serr := Decode(msg, p.decodeOpts())
			if tc.want == "" {
				if err != nil || serr != nil {
					t.Fatalf("Decode: %v; %v", err, serr)
				}
				checkDecoded(t, d, text, true, false, p.group.Cert)
				return
			}
			for _, err := range []error{err, serr} {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Decode: %v, want %q", err, tc.want)
				}
			}
		})
	}
}

// signedWithAttrs is a multipart/signed message of entity whose detached
// signature, by p's group certificate with sha256, has the signed
// attributes attrs (each a whole Attribute) besides the message digest and
// the signing time: the SignerInfo signerInfoFor writes, but for them.
func signedWithAttrs(t *testing.T, p *testPKI, entity []byte, attrs ...[]byte) []byte {
	t.Helper()
	d := digests[0]
	h := d.hash.New()
	h.Write(entity)
	signingTime, err := asn1.Marshal(time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	all := append([][]byte{
		marshalAttribute(oidAttrSigningTime, signingTime),
		marshalAttribute(oidAttrMessageDigest, ber.AppendTLV(nil, 0x04, h.Sum(nil))),
	}, attrs...)
	slices.SortFunc(all, bytes.Compare)
	signed := ber.AppendTLV(nil, 0x31, all...)
	h = d.hash.New()
	h.Write(signed)
	s := p.signer()
	sig, err := s.Key.Sign(crand.Reader, h.Sum(nil), d.hash)
	if err != nil {
		t.Fatal(err)
	}
	sigOID, err := signatureOID(s.Key.Public(), d)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := asn1.Marshal(s.Cert.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	signed[0] = 0xa0
	si := ber.AppendTLV(nil, 0x30,
		[]byte{0x02, 0x01, 0x01},
		ber.AppendTLV(nil, 0x30, s.Cert.RawIssuer, serial),
		digestAlgorithmID(d),
		signed,
		ber.AppendTLV(nil, 0x30, derOID(sigOID)),
		ber.AppendTLV(nil, 0x04, sig),
	)
	der := detachedSignedData(s, d, true, si)
	var msg bytes.Buffer
	msg.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"b1\"\r\n\r\n")
	msg.WriteString("--b1\r\n")
	msg.Write(entity)
	msg.WriteString("\r\n--b1\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	msg.WriteString(base64.StdEncoding.EncodeToString(der))
	msg.WriteString("\r\n--b1--\r\n")
	return msg.Bytes()
}

// TestDecodeContentTypeAttribute: signed attributes without a content-type
// attribute, or with one that does not parse, are refused; with it, naming
// id-data, the same signature is accepted.
func TestDecodeContentTypeAttribute(t *testing.T) {
	p := newPKI(t)
	entity := []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*order~\r\n")
	for _, tc := range []struct {
		name  string
		attrs [][]byte
		want  string // "" for none
	}{
		{"id-data", [][]byte{marshalAttribute(oidAttrContentType, derOID(oidData))}, ""},
		{"none", nil, "smime: signed attributes lack the content-type attribute"},
		{"not an object identifier", [][]byte{marshalAttribute(oidAttrContentType, []byte{0x02, 0x01, 0x07})}, "smime: malformed content-type signed attribute"},
		{"another type", [][]byte{marshalAttribute(oidAttrContentType, derOID(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}))},
			"smime: signed content type is 1.2.840.113549.1.7.2, want id-data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := signedWithAttrs(t, p, entity, tc.attrs...)
			d, err := decodeBoth(t, msg, p.decodeOpts())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !d.Signed || !d.Signer.Equal(p.group.Cert) || !bytes.Contains(d.Body, []byte("ISA*00*order~")) {
					t.Fatalf("decoded signed=%v signer=%v body %q", d.Signed, d.Signer != nil, d.Body)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: %v, want %q", err, tc.want)
			}
		})
	}
}
