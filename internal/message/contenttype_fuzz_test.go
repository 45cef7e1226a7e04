package message

import (
	"strings"
	"testing"
)

// FuzzNormaliseContentType feeds NormaliseContentType the Content-Type
// fields of hostile requests (the HTTP and AS2 receivers judge a request's
// with it). What it accepts is what the S/MIME encoder writes into a MIME
// header and what a decoder parses again, so the value it returns must
// hold no line break or NUL (no header injection), be accepted again as
// itself (normalising is idempotent: a message's type does not drift from
// one hop to the next), and start with its media type, lower case, one
// type "/" subtype.
func FuzzNormaliseContentType(f *testing.F) {
	for _, s := range []string{
		"",
		"Text/XML; Charset=UTF-8",
		"application/edi-x12",
		`multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="----=_a b"`,
		"application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m",
		"text/plain; title*=utf-8''%E2%82%AC%0D%0AX-Injected:%20yes",
		"text/plain; a*0=\"x\"; a*1*=%0A; a*2=z",
		"text/plain; a=\"\\\"\\\\\\\r\"",
		"garbage",
		"text/xml; charset",
		"a/b; a=1; A=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		if len(ct) > 4096 {
			return // a receiver's header is bounded; longer adds nothing
		}
		v, mt, err := NormaliseContentType(ct)
		if err != nil {
			if v != "" || mt != "" {
				t.Fatalf("NormaliseContentType(%q) = %q, %q with error %v", ct, v, mt, err)
			}
			return
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			t.Fatalf("NormaliseContentType(%q) = %q: a line break or NUL", ct, v)
		}
		if mt != strings.ToLower(mt) || strings.Count(mt, "/") != 1 || !strings.HasPrefix(v, mt) {
			t.Fatalf("NormaliseContentType(%q) = %q, media type %q", ct, v, mt)
		}
		v2, mt2, err := NormaliseContentType(v)
		if err != nil || v2 != v || mt2 != mt {
			t.Fatalf("NormaliseContentType(%q) = %q, %q; again: %q, %q, %v", ct, v, mt, v2, mt2, err)
		}
	})
}
