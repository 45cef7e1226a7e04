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
				req := replayed(t, url, der)
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

// TestAS2CBCEpilogueOracle: blocks appended to a CBC message's ciphertext
// decrypt to garbage after the original plaintext, its padding become
// data, and to a last block whose padding an attacker probes. In a
// clear-signed (multipart/signed) message they are the epilogue, after
// the close delimiter, which MIME ignores: were it ignored there, a valid
// padding would be answered processed (the signature verifies) and a bad
// one decryption-failed, a padding oracle even for a location that
// verifies. The epilogue of content decrypted from CBC must be blank: the
// appended blocks are refused as a bad padding is, the same MDN, the
// stored reason saying what failed. The message as sent is processed.
func TestAS2CBCEpilogueOracle(t *testing.T) {
	p := newPKI(t)
	signed, der := opensslSignedCBC(t, p, []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*          *00*          *ZZ*FABRIKAM~\r\nGS*PO*FABRIKAM*CONTOSO~"))
	pad := byte(16 - len(signed)%16)

	url, box := startAS2Decoder(t, p, true)
	post := func(t *testing.T, der []byte) (remote []byte, m msgbox.Message) {
		t.Helper()
		before := listIDs(t, box)
		resp, b := testhttp.Do(t, nil, replayed(t, url, der))
		return remoteView(t, resp, b), newMessage(t, box, before)
	}

	badPadding, bm := post(t, cbcAppend(t, der, pad, 0))
	if !bytes.Contains(badPadding, []byte("processed/error: decryption-failed")) || !strings.Contains(bm.Reason, "decryption failed") {
		t.Errorf("bad padding: reason %q, answered\n%s\nwant processed/error: decryption-failed", bm.Reason, badPadding)
	}
	validPadding, vm := post(t, cbcAppend(t, der, pad, pad))
	if !bytes.Equal(validPadding, badPadding) {
		t.Errorf("valid padding: answered\n%s\nwhile bad padding is answered\n%s", validPadding, badPadding)
	}
	if vm.Status != msgbox.StatusSuspended || vm.Decoding != msgbox.DecodingFailed || !strings.Contains(vm.Reason, "epilogue") {
		t.Errorf("valid padding: stored %s, decoding %q, reason %q; want suspended, failed for its epilogue", vm.Status, vm.Decoding, vm.Reason)
	}
	// The message as sent, its epilogue OpenSSL's blank line.
	sent, m := post(t, der)
	if !bytes.Contains(sent, []byte("; processed\r\n")) || m.Decoding != msgbox.Decoded || m.Party != "fabrikam" {
		t.Errorf("the message as sent: stored decoding %q, party %q, reason %q, answered\n%s\nwant processed", m.Decoding, m.Party, m.Reason, sent)
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
	return serveAS2(t, dir, nil)
}

// listIDs returns the ids of the messages in box.
func listIDs(t *testing.T, box msgbox.Box) []string {
	t.Helper()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
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
// -outform DER, with the last octet of the last plaintext block, pad (the
// padding's length), made to, and its first octet changed: CBC XORs a
// decrypted block with the ciphertext block before it, whose octets are
// changed, which garbles the plaintext block before (also when to is pad).
func cbcTamper(t *testing.T, der []byte, pad, to byte) []byte {
	t.Helper()
	return cbcRewrite(t, der, func(c []byte) []byte {
		c = bytes.Clone(c)
		c[len(c)-16-1] ^= pad ^ to
		c[len(c)-32] ^= 0x80
		return c
	})
}

// cbcAppend returns der, an EnvelopedData as cbcTamper's, with two
// ciphertext blocks appended: the second last one, its last octet XORed
// with pad^to, and the last one. The plaintext gains a garbled block and
// the last plaintext block again, its last octet, pad, made to; the
// original padding is no longer the end of the plaintext, but data.
func cbcAppend(t *testing.T, der []byte, pad, to byte) []byte {
	t.Helper()
	return cbcRewrite(t, der, func(c []byte) []byte {
		n := len(c)
		prev := bytes.Clone(c[n-32 : n-16])
		prev[15] ^= pad ^ to
		return slices.Concat(c, prev, c[n-16:])
	})
}

// cbcRewrite returns der, an EnvelopedData written by openssl cms -outform
// DER, with its encrypted content replaced by f's: ContentInfo → [0] →
// EnvelopedData → EncryptedContentInfo → [0] IMPLICIT OCTET STRING, each
// the last element of the one before, encoded again with their new
// lengths.
func cbcRewrite(t *testing.T, der []byte, f func([]byte) []byte) []byte {
	t.Helper()
	var rewrite func(el []byte, depth int) []byte
	rewrite = func(el []byte, depth int) []byte {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(el, &v)
		if err != nil || len(rest) != 0 {
			t.Fatalf("depth %d: not one definite-length element (%v)", depth, err)
		}
		switch depth {
		case 4:
			if v.Class != asn1.ClassContextSpecific || v.Tag != 0 || v.IsCompound || len(v.Bytes) < 32 || len(v.Bytes)%16 != 0 {
				t.Fatalf("the encrypted content is not a primitive [0] of whole blocks: % x", v.FullBytes[:min(8, len(v.FullBytes))])
			}
			v.Bytes = f(v.Bytes)
		case 1: // [0] EXPLICIT
			v.Bytes = rewrite(v.Bytes, depth+1)
		default: // a SEQUENCE: its last element
			var last []byte
			for b := v.Bytes; len(b) > 0; {
				var e asn1.RawValue
				if b, err = asn1.Unmarshal(b, &e); err != nil {
					t.Fatal(err)
				}
				last = e.FullBytes
			}
			head := v.Bytes[:len(v.Bytes)-len(last)]
			v.Bytes = slices.Concat(head, rewrite(last, depth+1))
		}
		v.FullBytes = nil
		out, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return rewrite(der, 0)
}

// opensslSignedCBC is entity as the partner sends it: clear-signed by
// OpenSSL with p's partner key (signed, a multipart/signed), then
// encrypted for p's signer with AES-256-CBC (der).
func opensslSignedCBC(t *testing.T, p *pki, entity []byte) (signed, der []byte) {
	t.Helper()
	ossl := testpki.OpenSSL(t)
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	signed = mustRun(t, ossl, "cms", "-sign", "-binary", "-in", file("entity.mime", entity),
		"-signer", file("s.pem", p.partner.CertPEM()), "-inkey", file("s.key", p.partner.KeyPEM()))
	if !bytes.Contains(signed, []byte("multipart/signed")) {
		t.Fatalf("openssl cms -sign wrote no multipart/signed:\n%s", signed)
	}
	der = mustRun(t, ossl, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-cbc", "-in", file("plain", signed), file("r.pem", p.signer.CertPEM()))
	return signed, der
}

// replayed is the AS2 request of an attacker replaying a captured
// encrypted message, der, altered, to url, asking for a synchronous MDN:
// always the one Message-ID, which a refused message does not hold.
func replayed(t *testing.T, url string, der []byte) *http.Request {
	t.Helper()
	return as2Request(t, url, "FABRIKAM", "<captured@fabrikam.example>", `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`, der)
}

// TestAS2CBCSpliceOracle: a signature covers the first part of a
// multipart/signed, not the header section of the entity a CBC envelope
// holds, whose field values take any octet but a line feed. Copying two
// ciphertext blocks of a captured message (C[k-1] xor delta, C[k]) after
// its first block, then that first block again (which restores the
// plaintext after), puts P[k] xor delta between two random blocks in the
// value of its first header field (OpenSSL's MIME-Version, whose value
// begins in the first block). Were that message processed, its signature
// and party intact, while a delta that makes a line feed there is refused,
// the MDN would say whether P[k] xor delta holds a line feed: a format
// oracle that decrypts the message byte by byte. Every such message is
// answered as a bad padding is; the message as sent is processed.
func TestAS2CBCSpliceOracle(t *testing.T) {
	p := newPKI(t)
	signed, der := opensslSignedCBC(t, p, []byte("Content-Type: application/edi-x12\r\n\r\n"+strings.Repeat("ISA*00*confidential order line, price 4711.00*~", 8)))
	if !bytes.HasPrefix(signed, []byte("MIME-Version: 1.")) {
		t.Fatalf("openssl's signed entity does not start with MIME-Version:\n%s", signed)
	}
	pad := byte(16 - len(signed)%16)

	url, box := startAS2Decoder(t, p, true)
	post := func(t *testing.T, req *http.Request) []byte {
		t.Helper()
		resp, b := testhttp.Do(t, nil, req)
		return remoteView(t, resp, b)
	}
	before := listIDs(t, box)
	sent := post(t, as2Request(t, url, "FABRIKAM", "<sent@fabrikam.example>", `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`, der))
	if m := newMessage(t, box, before); !bytes.Contains(sent, []byte("; processed\r\n")) || m.Decoding != msgbox.Decoded || m.Party != "fabrikam" {
		t.Fatalf("the message as sent: stored decoding %q, party %q, reason %q, answered\n%s\nwant processed", m.Decoding, m.Party, m.Reason, sent)
	}
	badPadding := post(t, replayed(t, url, cbcTamper(t, der, pad, 0)))
	if !bytes.Contains(badPadding, []byte("processed/error: decryption-failed")) {
		t.Fatalf("bad padding answered\n%s\nwant processed/error: decryption-failed", badPadding)
	}
	const bs = 16
	first := bytes.Index(signed, []byte("confidential"))/bs + 1
	for k := first; k < first+6; k++ {
		for _, delta := range []byte{0, signed[k*bs] ^ '\n'} {
			spliced := cbcRewrite(t, der, func(c []byte) []byte {
				prev := bytes.Clone(c[(k-1)*bs : k*bs])
				prev[0] ^= delta
				return slices.Concat(c[:bs], prev, c[k*bs:(k+1)*bs], c[:bs], c[bs:])
			})
			if got := post(t, replayed(t, url, spliced)); !bytes.Equal(got, badPadding) {
				t.Errorf("block %d, delta %#x (plaintext there %q): answered\n%s\nwhile bad padding is answered\n%s", k, delta, signed[k*bs:(k+1)*bs], got, badPadding)
			}
		}
	}
}
