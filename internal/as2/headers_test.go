package as2

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestQuoteAndParseName(t *testing.T) {
	for _, tc := range []struct {
		id, quoted string
	}{
		{"CONTOSO", "CONTOSO"},
		{"contoso-as2.01", "contoso-as2.01"},
		{"My Company", `"My Company"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"x@y", `"x@y"`},
		{"semi;colon", `"semi;colon"`},
	} {
		q, err := QuoteName(tc.id)
		if err != nil || q != tc.quoted {
			t.Errorf("QuoteName(%q) = %q, %v; want %q", tc.id, q, err, tc.quoted)
		}
		back, err := ParseName(q)
		if err != nil || back != tc.id {
			t.Errorf("ParseName(%q) = %q, %v; want %q", q, back, err, tc.id)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 129), "tab\there", "é", "line\r\nX-Injected: 1"} {
		if _, err := QuoteName(bad); err == nil {
			t.Errorf("QuoteName(%q) succeeded", bad)
		}
	}
	for _, bad := range []string{`""`, `"a\"`, `"a"b"`, "\x01"} {
		if _, err := ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) succeeded", bad)
		}
	}
}

func TestMessageID(t *testing.T) {
	a1 := MessageID("delivery-42", "contoso.example")
	a2 := MessageID("delivery-42", "contoso.example")
	b := MessageID("delivery-43", "contoso.example")
	if a1 != a2 {
		t.Errorf("the same delivery key gives %q and %q", a1, a2)
	}
	if a1 == b {
		t.Error("different delivery keys give the same Message-ID")
	}
	re := regexp.MustCompile(`^<[0-9a-f]{32}@[^<>@\s]+>$`)
	for _, domain := range []string{"contoso.example", "", "My AS2 <id>", "..."} {
		id := MessageID("k", domain)
		if !re.MatchString(id) || !validMessageID(id) {
			t.Errorf("MessageID(k, %q) = %q", domain, id)
		}
	}
}

func TestRequestHeaderRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"sync signed", Request{From: "CONTOSO", To: "FABRIKAM", Subject: "Order 1", Receipt: ReceiptSync, SignedReceipt: true, MICAlg: SHA384}},
		{"sync unsigned", Request{From: "CONTOSO", To: "Fabrikam Inc", Receipt: ReceiptSync}},
		{"async", Request{From: "CONTOSO", To: "FABRIKAM", Receipt: ReceiptAsync, SignedReceipt: true, AsyncURL: "http://127.0.0.1:4080/as2"}},
		{"none", Request{From: "CONTOSO", To: "FABRIKAM", Receipt: ReceiptNone}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.MessageID = MessageID(tc.name, "contoso.example")
			h, err := tc.req.Header()
			if err != nil {
				t.Fatal(err)
			}
			if h.Get("AS2-Version") != "1.2" {
				t.Errorf("AS2-Version %q", h.Get("AS2-Version"))
			}
			got, err := ParseRequest(h)
			if err != nil {
				t.Fatal(err)
			}
			if got.From != tc.req.From || got.To != tc.req.To || got.MessageID != tc.req.MessageID || got.Receipt != tc.req.Receipt || got.AsyncURL != tc.req.AsyncURL {
				t.Errorf("round trip: %+v from %+v", got, tc.req)
			}
			if got.Options.Signed != tc.req.SignedReceipt {
				t.Errorf("signed receipt %v, want %v", got.Options.Signed, tc.req.SignedReceipt)
			}
			if tc.req.SignedReceipt && got.Options.MICAlg() != tc.req.MICAlg {
				t.Errorf("micalg %v, want %v", got.Options.MICAlg(), tc.req.MICAlg)
			}
		})
	}
	bad := []Request{
		{From: "", To: "X", MessageID: "<a@b>"},
		{From: "X", To: "Y", MessageID: "no-brackets"},
		{From: "X", To: "Y", MessageID: "<a@b>", Subject: "a\r\nBcc: x"},
		{From: "X", To: "Y", MessageID: "<a@b>", Receipt: ReceiptAsync, AsyncURL: "ftp://x"},
	}
	for _, r := range bad {
		if _, err := r.Header(); err == nil {
			t.Errorf("Header() of %+v succeeded", r)
		}
	}
	h := http.Header{"As2-From": {"X"}, "As2-To": {"Y"}, "Message-Id": {"<a@b>"}, "Disposition-Notification-To": {"x"}, "Receipt-Delivery-Option": {"javascript:alert(1)"}}
	if _, err := ParseRequest(h); err == nil {
		t.Error("ParseRequest accepted a non-http Receipt-Delivery-Option")
	}
}

func TestParseNotificationOptions(t *testing.T) {
	for _, tc := range []struct {
		in       string
		signed   bool
		required bool
		alg      Alg
		ok       bool
	}{
		{"signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256", true, false, SHA256, true},
		// libas2 writes no space and its configured digest.
		{"signed-receipt-protocol=required,pkcs7-signature; signed-receipt-micalg=required,sha-512", true, true, SHA512, true},
		{"Signed-Receipt-Protocol=Optional, PKCS7-Signature; Signed-Receipt-MICALG=optional, md5, SHA1, sha-256", true, false, SHA1, true},
		{"signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, md5, rsa-md4", true, false, SHA256, true},
		{"signed-receipt-micalg=optional, sha384", false, false, SHA384, true},
		{"", false, false, SHA256, true},
		{"signed-receipt-protocol=sometimes, pkcs7-signature", false, false, 0, false},
		{"signed-receipt-protocol", false, false, 0, false},
		{"signed-receipt-protocol=optional", false, false, 0, false},
	} {
		o, err := ParseNotificationOptions(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		if o.Signed != tc.signed || o.SignedRequired != tc.required || o.MICAlg() != tc.alg {
			t.Errorf("%q: %+v (MICAlg %v), want signed=%v required=%v alg=%v", tc.in, o, o.MICAlg(), tc.signed, tc.required, tc.alg)
		}
	}
}

// TestParseRequestMessageID: a received Message-ID is taken with or
// without its angle brackets (RFC 4130 §5.3.3: "when receiving a message,
// do not check for angle brackets"), as written, so that an MDN echoes it
// exactly; one that is no msg-id at all is still refused. A missing one
// is ErrNoMessageID, which ParseMDNRequest, for an asynchronous MDN,
// accepts (and it alone).
func TestParseRequestMessageID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"<a1@fabrikam.example>", true},
		{"a1@fabrikam.example", true},
		{" a1@fabrikam.example ", true},
		{"", false},
		{"no-at-sign", false},
		{"a1@", false},
		{"<a1@fabrikam.example", false},
		{"a 1@fabrikam.example", false},
		{"a<1@fabrikam.example", false},
	} {
		h := http.Header{"As2-From": {"X"}, "As2-To": {"Y"}, "Message-Id": {tc.id}}
		got, err := ParseRequest(h)
		if (err == nil) != tc.ok {
			t.Errorf("Message-ID %q: error %v, want ok=%v", tc.id, err, tc.ok)
			continue
		}
		if tc.ok && got.MessageID != strings.TrimSpace(tc.id) {
			t.Errorf("Message-ID %q read as %q", tc.id, got.MessageID)
		}
		if errors.Is(err, ErrNoMessageID) != (tc.id == "") {
			t.Errorf("Message-ID %q: error %v, want ErrNoMessageID only when it is missing", tc.id, err)
		}
		mdn, err := ParseMDNRequest(h)
		if (err == nil) != (tc.ok || tc.id == "") || err == nil && mdn.MessageID != strings.TrimSpace(tc.id) {
			t.Errorf("Message-ID %q of an MDN: %+v, %v; want it taken when valid or missing", tc.id, mdn, err)
		}
	}
	if _, err := ParseRequest(http.Header{"As2-From": {"X"}, "As2-To": {"Y"}}); !errors.Is(err, ErrNoMessageID) {
		t.Errorf("no Message-ID field: %v, want ErrNoMessageID", err)
	}
}

// TestRefusedReceiptURLHidesPassword: a Receipt-Delivery-Option refused as
// no http(s) URL is named in the error (which the location logs and
// answers) without its user information or its query (a token), however
// broken the URL.
func TestRefusedReceiptURLHidesPassword(t *testing.T) {
	for _, tc := range []struct{ url, shown string }{
		{"ftp://mdnuser:TOPSECRET@127.0.0.1:18099/cred", `"ftp://...@127.0.0.1:18099/cred"`},
		{"http://mdnuser:TOPSECRET@127.0.0.1:bad/cred", `"http://...@127.0.0.1:bad/cred"`},
		{"mdnuser:TOPSECRET@host/path", `"...@host/path"`},
		{"ftp://a@b:TOPSECRET@host?x=@y", `"ftp://..."`},
		{"ftp://host/mdn?token=TOPSECRET", `"ftp://host/mdn?[query omitted]"`},
		{"ftp://u:pa/ss@host/p", `"ftp://...@host/p"`}, // a password with a "/"
		{"ftp://host/path@x", `"ftp://...@x"`},         // a path may be cut too
		{"ftp://host/path", `"ftp://host/path"`},
	} {
		h := http.Header{"As2-From": {"X"}, "As2-To": {"Y"}, "Message-Id": {"<a1@x>"},
			"Disposition-Notification-To": {"mdn@x"}, "Receipt-Delivery-Option": {tc.url}}
		_, err := ParseRequest(h)
		if err == nil {
			t.Errorf("%s accepted", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.shown) || strings.Contains(err.Error(), "TOPSECRET") {
			t.Errorf("%s: error %q, want it to show %s, without the password", tc.url, err, tc.shown)
		}
	}
}

// TestRequestAsyncURLErrorHidesSecrets: the error for a configured
// asynchronous MDN URL that is not an http(s) one shows neither what may
// be its user information (a password) nor its query (a token), however
// broken the URL, and still shows the rest, to find the mistake by.
func TestRequestAsyncURLErrorHidesSecrets(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"ftp://user:s3cret@as2.example/mdn?token=t0ken", `"ftp://...@as2.example/mdn?[query omitted]"`},
		{"https:/user:s3cret@as2.example/mdn", `"...@as2.example/mdn"`},
		{"https://user:s3%zzcret@as2.example/mdn", `"https://...@as2.example/mdn"`},
		{"https://user:s3cret@/mdn#t0ken", `"https://...@/mdn"`},
		// Which "?" starts the query cannot be told: the scheme only.
		{"https://user:s3?cret@as2.example/mdn?token=t0ken", `"https://..."`},
		{"ftp://as2.example/mdn?token=s3@t0ken", `"ftp://..."`},
		{"as2.example/mdn?token=t0ken", `"as2.example/mdn?[query omitted]"`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			r := Request{From: "X", To: "Y", MessageID: "<a@b>", Receipt: ReceiptAsync, AsyncURL: tt.url}
			_, err := r.Header()
			if err == nil {
				t.Fatal("Header() succeeded")
			}
			if msg := err.Error(); strings.Contains(msg, "s3") || strings.Contains(msg, "t0ken") || !strings.Contains(msg, tt.want) {
				t.Errorf("Header(): %v, want it to show %s and neither the password nor the token", err, tt.want)
			}
		})
	}
}
