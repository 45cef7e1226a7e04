package as2

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/as2"
)

// FuzzLooksLikeMDN: a POST whose Content-Type and body read as an MDN
// (as2.ParseMDN, unverified, as serveMDN reads it) is taken for one by
// looksLikeMDN from the body's first mdnPeek bytes, and mayBeMDN from its
// Content-Type. Taken for a message instead, it would be stored as one
// and answered with an MDN (RFC 3798 §2.1: never a receipt for a
// receipt), and the delivery it answers would wait for it in vain.
func FuzzLooksLikeMDN(f *testing.F) {
	report := "Content-Type: multipart/report; report-type=disposition-notification; boundary=r\r\n\r\n" +
		"--r\r\nContent-Type: text/plain\r\n\r\nok\r\n--r\r\nContent-Type: message/disposition-notification\r\n\r\n" +
		"Original-Message-ID: <a@b>\r\nDisposition: automatic-action/MDN-sent-automatically; processed\r\n--r--\r\n"
	signed := "--b\r\n" + report + "\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n\r\nMAA=\r\n--b--\r\n"
	f.Add(`multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary=b`, []byte(signed))
	f.Add("multipart/report; report-type=disposition-notification; boundary=r", []byte(report[len("Content-Type: multipart/report; report-type=disposition-notification; boundary=r\r\n\r\n"):]))
	f.Add("multipart/signed; boundary=b", []byte(strings.Replace(signed, "Content-Type: multipart", "Content-Type:\r\n multipart", 1)))
	f.Add("multipart/signed; boundary=b", []byte("preamble --b\r\n\r\n"+signed))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		if len(body) > 64<<10 || len(ct) > 1<<10 {
			return
		}
		h := http.Header{"Content-Type": {ct}}
		if _, err := as2.ParseMDN(as2.JoinEntity(h, body), as2.VerifyOptions{Unverified: true}); err != nil {
			return
		}
		if !mayBeMDN(ct) {
			t.Errorf("an MDN of Content-Type %q is not taken for one by its Content-Type", ct)
		}
		if !looksLikeMDN(ct, body[:min(len(body), mdnPeek)]) {
			t.Errorf("an MDN of Content-Type %q is taken for a message: %q", ct, body)
		}
	})
}
