package as2

import "testing"

// TestLooksLikeMDN: a multipart/report, or a multipart/signed whose first
// part is one, is an MDN; a signed or encrypted message is not, whatever
// its payload says further on.
func TestLooksLikeMDN(t *testing.T) {
	signed := func(first string) string {
		return "--b\r\nContent-Type: " + first + "\r\n\r\npayload\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n\r\nsig\r\n--b--\r\n"
	}
	for _, tc := range []struct {
		name, ct, body string
		want           bool
	}{
		{"report", "multipart/report; report-type=disposition-notification; boundary=b", "--b\r\n", true},
		{"signed report", `multipart/signed; protocol="application/pkcs7-signature"; boundary=b`,
			signed("multipart/report; report-type=disposition-notification; boundary=c"), true},
		{"signed report, LF and case", "multipart/signed; boundary=b",
			"--b\nCONTENT-TYPE:   Multipart/Report; boundary=c\n\nx\n--b--\n", true},
		{"signed report, folded", "multipart/signed; boundary=b",
			signed("\r\n multipart/report; report-type=disposition-notification; boundary=c"), true},
		{"signed report, boundary within the preamble", "multipart/signed; boundary=b",
			"preamble --b\r\n\r\n" + signed("multipart/report; boundary=c"), true},
		{"signed order", `multipart/signed; protocol="application/pkcs7-signature"; boundary=b`, signed("application/edi-x12"), false},
		{"report further on", "multipart/signed; boundary=b",
			"--b\r\nContent-Type: text/plain\r\n\r\nContent-Type: multipart/report\r\n--b--\r\n", false},
		{"signed without boundary", "multipart/signed", signed("multipart/report"), false},
		{"enveloped", `application/pkcs7-mime; smime-type=enveloped-data`, "\x30\x80", false},
		{"malformed", "multipart/report; boundary=", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := looksLikeMDN(tc.ct, []byte(tc.body)); got != tc.want {
				t.Errorf("looksLikeMDN = %v, want %v", got, tc.want)
			}
		})
	}
}
