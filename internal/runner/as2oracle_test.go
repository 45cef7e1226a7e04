package runner_test

import (
	"bytes"
	"context"
	"encoding/asn1"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestAS2CBCPaddingOracle: AES-CBC has no integrity, so a message whose
// last ciphertext blocks were altered decrypts either with bad padding or
// with valid padding and a garbled tail. Were the two answered
// differently, the MDN would be a padding oracle (Vaudenay) that recovers
// the plaintext of a captured message, block by block. A CBC message is
// therefore answered processed/error: decryption-failed, byte for byte the
// same MDN, whatever failed at or after its decryption: the padding, the
// MIME parse of the decrypted content, the signature, the signer; the
// reason stored with the suspended message still says which. A GCM
// message (authenticated) keeps its precise disposition.
func TestAS2CBCPaddingOracle(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }

	entity := []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*          *00*          *ZZ*FABRIKAM~\r\nGS*PO*FABRIKAM*CONTOSO~")
	sign := func(signer *testpki.Cert) []byte {
		return run("cms", "-sign", "-binary", "-nodetach", "-in", file("entity.mime", entity),
			"-signer", file("s.pem", signer.CertPEM()), "-inkey", file("s.key", signer.KeyPEM()))
	}
	signed, strangers := sign(p.partner), sign(p.signer) // p.signer is no party's
	// Not a MIME entity: a decrypt-only location fails to parse it.
	unparsable := []byte("this line is not a MIME header field\r\n\r\n" + strings.Repeat("payload ", 8))
	encrypt := func(plain []byte, cipher string) []byte {
		return run("cms", "-encrypt", "-binary", "-outform", "DER", "-"+cipher, "-in", file("plain", plain), file("r.pem", p.signer.CertPEM()))
	}

	type outcome struct {
		remote []byte // what the sender sees: status, header and MDN
		reason string // what the operator sees
	}
	for _, mode := range []struct {
		name   string
		verify bool
		plain  []byte // the CBC message's plaintext, padding undone
	}{
		{"decrypt and verify", true, signed},
		{"decrypt only", false, unparsable},
	} {
		t.Run(mode.name, func(t *testing.T) {
			url, box := startAS2Decoder(t, p, mode.verify)
			// Where asynchronous MDNs are POSTed.
			posted := make(chan []byte, 4)
			partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Error(err)
				}
				posted <- remoteView(t, &http.Response{Status: "POST " + r.URL.Path, Header: r.Header}, b)
			}))
			t.Cleanup(partner.Close)
			// post sends der, asking for a synchronous MDN, or, when async,
			// for one POSTed to partner, which the outcome then includes.
			post := func(t *testing.T, der []byte, async bool) outcome {
				t.Helper()
				before := listIDs(t, box)
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(der))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`)
				req.Header.Set("AS2-Version", "1.2")
				req.Header.Set("AS2-From", "FABRIKAM")
				req.Header.Set("AS2-To", "CONTOSO")
				// The attacker replays one captured message: one Message-ID,
				// which a refused message does not hold.
				req.Header.Set("Message-ID", "<captured@fabrikam.example>")
				req.Header.Set("Disposition-Notification-To", "as2@fabrikam.example")
				if async {
					req.Header.Set("Receipt-Delivery-Option", partner.URL+"/mdn")
				}
				resp, b := testhttp.Do(t, nil, req)
				m := newMessage(t, box, before)
				if m.Status != msgbox.StatusSuspended || m.Decoding != msgbox.DecodingFailed {
					t.Errorf("stored: status %s, decoding %q; want suspended, failed", m.Status, m.Decoding)
				}
				var remote []byte
				if async {
					remote = append(remote, fmt.Sprintf("%s\r\nContent-Length: %d\r\n\r\n%s", resp.Status, len(b), b)...)
					select {
					case mdn := <-posted:
						remote = append(remote, mdn...)
					case <-time.After(time.Minute):
						t.Fatal("no asynchronous MDN POSTed within a minute")
					}
				} else {
					remote = remoteView(t, resp, b)
				}
				return outcome{remote: remote, reason: m.Reason}
			}

			der := encrypt(mode.plain, "aes-256-cbc")
			pad := byte(16 - len(mode.plain)%16)
			cases := []struct {
				name string
				der  []byte
			}{
				// The last plaintext octet 1: valid padding, the block
				// before it garbled.
				{"valid padding, garbled tail", cbcTamper(t, der, pad, 1)},
			}
			if mode.verify {
				cases = append(cases, struct {
					name string
					der  []byte
				}{"signed by no party", encrypt(strangers, "aes-256-cbc")})
			} else {
				cases = append(cases, struct {
					name string
					der  []byte
				}{"not a MIME entity", der})
			}
			for _, async := range []bool{false, true} {
				badPadding := post(t, cbcTamper(t, der, pad, 0), async)
				if !strings.Contains(badPadding.reason, "decryption failed") {
					t.Errorf("bad padding: stored reason %q, want it to say decryption failed", badPadding.reason)
				}
				if !bytes.Contains(badPadding.remote, []byte("processed/error: decryption-failed")) {
					t.Errorf("bad padding (async %t) answered:\n%s\nwant processed/error: decryption-failed", async, badPadding.remote)
				}
				for _, tc := range cases {
					got := post(t, tc.der, async)
					if !bytes.Equal(got.remote, badPadding.remote) {
						t.Errorf("%s (async %t): answered\n%s\nwhile bad padding is answered\n%s", tc.name, async, got.remote, badPadding.remote)
					}
					if got.reason == badPadding.reason || strings.Contains(got.reason, "decryption failed") {
						t.Errorf("%s: stored reason %q, want the cause, not bad padding's %q", tc.name, got.reason, badPadding.reason)
					}
				}
			}

			if mode.verify {
				// Authenticated encryption is no oracle: its precise
				// disposition stays.
				got := post(t, encrypt(strangers, "aes-256-gcm"), false)
				if !bytes.Contains(got.remote, []byte("processed/error: authentication-failed")) {
					t.Errorf("GCM, signed by no party: answered\n%s\nwant processed/error: authentication-failed", got.remote)
				}
			}
		})
	}
}

// startAS2Decoder runs, until the test ends, as2RecvConfig's server with
// its location decrypting, and verifying only when verify, and returns its
// URL, listening, and its box.
func startAS2Decoder(t *testing.T, p *pki, verify bool) (string, msgbox.Box) {
	t.Helper()
	cfg := strings.Replace(as2RecvConfig, decodePipeline, fmt.Sprintf(`pipeline "decode" {
  decoder "smime" {
    decrypt = true
    verify  = %t
  }
}`, verify), 1)
	northwind := p.ca.Issue(t, testpki.Options{CommonName: "Northwind", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 4)})
	dir := setup(t, p, cfg, map[string]string{"Port": freePort(t), "Northwind": northwind.SHA1(), "Decrypt": p.signer.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "northwind.pem", northwind.CertPEM())
	url := "http://127.0.0.1:" + portOf(t, dir) + "/as2"
	r, box := startWith(t, dir, nil)
	t.Cleanup(runInBackground(t, r))
	waitListening(t, url)
	return url, box
}

// listIDs returns the ids of the messages in box.
func listIDs(t *testing.T, box msgbox.Box) []string {
	t.Helper()
	msgs, err := box.List(context.Background(), msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	return ids
}

// newMessage returns the one message stored in box since before was
// listed.
func newMessage(t *testing.T, box msgbox.Box, before []string) msgbox.Message {
	t.Helper()
	var fresh []string
	for _, id := range listIDs(t, box) {
		if !slices.Contains(before, id) {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) != 1 {
		t.Fatalf("%d messages stored, want 1", len(fresh))
	}
	m, err := box.Message(context.Background(), fresh[0])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// remoteView is the answer as the sender sees it, status, header fields
// and body, less what differs in every answer: the response's and the
// MDN's Date, the MDN's Message-ID and its multipart boundary.
func remoteView(t *testing.T, resp *http.Response, body []byte) []byte {
	t.Helper()
	h := resp.Header.Clone()
	h.Del("Date")
	h.Del("Message-ID")
	var out bytes.Buffer
	fmt.Fprintf(&out, "%s\r\n", resp.Status)
	if err := h.Write(&out); err != nil {
		t.Fatal(err)
	}
	out.WriteString("\r\n")
	out.Write(body)
	view := out.Bytes()
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && params["boundary"] != "" {
		view = bytes.ReplaceAll(view, []byte(params["boundary"]), []byte("BOUNDARY"))
	}
	if _, err := as2.ParseMDN(as2.JoinEntity(resp.Header, body), as2.VerifyOptions{Unverified: true}); err != nil {
		t.Errorf("the answer is no MDN (%v):\n%s", err, view)
	}
	return view
}

// cbcTamper returns a copy of der, an EnvelopedData written by openssl cms
// -outform DER, whose AES-CBC ciphertext ends it, with the last octet of
// the last plaintext block, pad (the padding's length), made to, and its
// first octet changed: CBC XORs a decrypted block with the ciphertext block
// before it, whose octets are changed, which garbles the plaintext block
// before (also when to is pad).
func cbcTamper(t *testing.T, der []byte, pad, to byte) []byte {
	t.Helper()
	// ContentInfo → [0] → EnvelopedData → EncryptedContentInfo → [0]
	// IMPLICIT OCTET STRING: each the last element of the one before,
	// ending where der ends.
	el := der
	for depth := 0; depth < 5; depth++ {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(el, &v)
		if err != nil || len(rest) != 0 {
			t.Fatalf("depth %d: not one definite-length element (%v)", depth, err)
		}
		if depth == 4 {
			if v.Class != asn1.ClassContextSpecific || v.Tag != 0 || v.IsCompound || len(v.Bytes) < 32 || len(v.Bytes)%16 != 0 {
				t.Fatalf("the encrypted content is not a primitive [0] of whole blocks: %+v", v.FullBytes[:min(8, len(v.FullBytes))])
			}
			break
		}
		if depth == 0 || depth == 2 || depth == 3 {
			// A SEQUENCE: its last element.
			for b := v.Bytes; len(b) > 0; {
				var e asn1.RawValue
				if b, err = asn1.Unmarshal(b, &e); err != nil {
					t.Fatal(err)
				}
				el = e.FullBytes
			}
		} else {
			el = v.Bytes // [0] EXPLICIT
		}
	}
	out := bytes.Clone(der)
	out[len(out)-16-1] ^= pad ^ to
	out[len(out)-32] ^= 0x80
	return out
}
