package smime

import (
	"encoding/asn1"
	"encoding/base64"
	"strings"
	"testing"
)

// TestDecodeUnsupportedCMSContentType: an application/pkcs7-mime body whose
// CMS content type is none the decoder reads is refused naming the type
// by its name, where it has one, beside its object identifier: an operator
// whose AS2 partner compresses (compressed-data, RFC 3274 and RFC 5402)
// learns what to ask the partner to turn off without looking the
// identifier up. In memory and streaming alike.
func TestDecodeUnsupportedCMSContentType(t *testing.T) {
	p := newPKI(t)
	for _, tt := range []struct {
		oid  asn1.ObjectIdentifier
		want string
	}{
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 9}, "compressed-data (1.2.840.113549.1.9.16.1.9)"},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 5}, "digested-data (1.2.840.113549.1.7.5)"},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}, "encrypted-data (1.2.840.113549.1.7.6)"},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 2}, "authenticated-data (1.2.840.113549.1.9.16.1.2)"},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}, "data (1.2.840.113549.1.7.1)"},
		{asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, "content type 1.3.6.1.4.1.99999.1 "},
	} {
		t.Run(tt.oid.String(), func(t *testing.T) {
			// ContentInfo { contentType, [0] EXPLICIT OCTET STRING "" }:
			// only the type is read before the refusal.
			der, err := asn1.Marshal(struct {
				Type    asn1.ObjectIdentifier
				Content asn1.RawValue `asn1:"explicit,tag:0"`
			}{tt.oid, asn1.RawValue{Tag: asn1.TagOctetString, Bytes: []byte{}}})
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("Content-Type: application/pkcs7-mime; smime-type=compressed-data; name=smime.p7z\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				base64.StdEncoding.EncodeToString(der) + "\r\n")
			_, err = decodeBoth(t, msg, p.decodeOpts())
			_, _, serr := decodeStream(t, t.Context(), msg, p.decodeOpts())
			for _, e := range []error{err, serr} {
				if e == nil || !strings.Contains(e.Error(), tt.want) || !strings.Contains(e.Error(), "unsupported CMS") {
					t.Errorf("Decode: %v, want it to name %q", e, tt.want)
				}
			}
		})
	}
}
