package as2

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzParseRequest feeds ParseRequest and ParseMDNRequest the AS2 headers
// of hostile requests. A request they accept is one the receiver can
// answer: its AS2-From quotes back to itself (the MDN's AS2-To), and the
// unsigned MDN that names its Message-ID builds and reads back naming it.
// A Receipt-Delivery-Option is an http(s) URL, and one that is refused
// never shows the password written in it.
func FuzzParseRequest(f *testing.F) {
	f.Add("CONTOSO", "FABRIKAM", "<a1@contoso>", "", "mailto:x", "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256", "https", "user", "host/mdn", true)
	f.Add(`"My \"Co\""`, " FAB ", "a1@contoso", "Hello", "", "", "http", "", "[::1]:80", false)
	f.Add("A", "B", "<@>", "", "x", "signed-receipt-micalg=required, sha1, md5", "ftp", "u", "h", true)
	f.Add("A", "B", "", "", "x", "", "http", "u%zz", "h@x/%zz", false)
	f.Fuzz(func(t *testing.T, from, to, id, subject, notifyTo, opts, scheme, user, rest string, async bool) {
		const secret = "SECRETPW"
		for _, s := range []string{from, to, id, subject, notifyTo, opts, scheme, user, rest} {
			// A value net/http delivers holds no line break or NUL; the
			// secret must be the one written below.
			if strings.ContainsAny(s, "\r\n\x00") || strings.Contains(s, secret) {
				return
			}
		}
		h := http.Header{}
		set := func(k, v string) {
			if v != "" {
				h[http.CanonicalHeaderKey(k)] = []string{v}
			}
		}
		set(HeaderFrom, from)
		set(HeaderTo, to)
		set(HeaderMessageID, id)
		set(HeaderSubject, subject)
		set(HeaderNotificationTo, notifyTo)
		set(HeaderNotificationOpts, opts)
		if async {
			set(HeaderReceiptDelivery, scheme+"://"+user+":"+secret+"@"+rest)
		}
		for _, needID := range []bool{true, false} {
			r, err := parseRequest(h, needID)
			if err != nil {
				if r != nil {
					t.Fatalf("a request with the error %v", err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows the URL's password: %v", err)
				}
				continue
			}
			if r.MessageID == "" && needID {
				t.Fatal("ParseRequest accepted a request without a Message-ID")
			}
			if r.Receipt == ReceiptAsync {
				if _, ok := ParseHTTPURL(r.AsyncURL); !ok {
					t.Fatalf("asynchronous MDN URL %q is not an http(s) URL", r.AsyncURL)
				}
			}
			q, err := QuoteName(r.From)
			if err != nil {
				t.Fatalf("AS2-From %q read as %q, which QuoteName refuses: %v", from, r.From, err)
			}
			if back, err := ParseName(q); err != nil || back != r.From {
				t.Fatalf("AS2-From %q -> %q -> %q -> %q, %v", from, r.From, q, back, err)
			}
			if r.MessageID == "" {
				continue
			}
			// The receiver's answer (mdnFor, unsigned here).
			m := &MDN{OriginalRecipient: r.To, FinalRecipient: r.To, OriginalMessageID: r.MessageID, Disposition: Processed(),
				MIC: &MIC{Alg: r.Options.MICAlg(), Digest: make([]byte, r.Options.MICAlg().Hash().Size())}}
			b, err := BuildMDN(m, BuildOptions{From: r.To, To: r.From})
			if err != nil {
				t.Fatalf("request %v: the MDN does not build: %v", h, err)
			}
			got, err := ParseMDN(b.Entity, VerifyOptions{})
			if err != nil {
				t.Fatalf("request %v: the MDN does not read back: %v", h, err)
			}
			if got.OriginalMessageID != bracketed(r.MessageID) || got.FinalRecipient != r.To || !got.Disposition.Positive() || got.MIC == nil || !got.MIC.Equal(*m.MIC) {
				t.Fatalf("request %v: the MDN reads back as %+v", h, got.MDN)
			}
		}
	})
}
