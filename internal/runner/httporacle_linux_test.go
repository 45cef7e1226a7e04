package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestHTTPCBCPaddingOracle: an http receive location that decodes answers
// 202 with the message's id whatever its decoders decide, so a CBC message
// with a bad padding and one with a valid padding and a garbled tail get
// the same answer, but for the id; their stored reasons differ.
func TestHTTPCBCPaddingOracle(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p, decrypt, dir := setupDecode(t, httpDecodeConfig(), map[string]string{"Port": freePort(t)})
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	signed := run("cms", "-sign", "-binary", "-nodetach", "-in", file("entity.mime", []byte("Content-Type: application/edi-x12\r\n\r\nISA*00~")),
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM()))
	der := run("cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", file("signed", signed), file("d.pem", decrypt.CertPEM()))
	pad := byte(16 - len(signed)%16)

	r, box := start(t, dir)
	t.Cleanup(runInBackground(t, r))
	url := "http://127.0.0.1:" + portOf(t, dir) + "/as"
	waitListening(t, url)
	post := func(der []byte) (remote []byte, reason string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(der))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`)
		resp, b := testhttp.Do(t, nil, req)
		id := resp.Header.Get("Bizpipe-Message-Id")
		m, err := box.Message(context.Background(), id)
		if err != nil {
			t.Fatalf("message %q: %v", id, err)
		}
		if m.Status != msgbox.StatusSuspended || m.Decoding != msgbox.DecodingFailed {
			t.Errorf("stored: status %s, decoding %q; want suspended, failed", m.Status, m.Decoding)
		}
		h := resp.Header.Clone()
		h.Del("Date")
		var out bytes.Buffer
		fmt.Fprintf(&out, "%s\r\n", resp.Status)
		if err := h.Write(&out); err != nil {
			t.Fatal(err)
		}
		out.WriteString("\r\n")
		out.Write(b)
		return bytes.ReplaceAll(out.Bytes(), []byte(id), []byte("ID")), m.Reason
	}
	bad, badReason := post(cbcTamper(t, der, pad, 0))
	valid, validReason := post(cbcTamper(t, der, pad, 1))
	if !bytes.Equal(bad, valid) || !bytes.HasPrefix(bad, []byte("202 ")) {
		t.Errorf("valid padding answered\n%s\nbad padding\n%s\nwant the same 202", valid, bad)
	}
	if badReason == validReason || !strings.Contains(badReason, "decryption failed") {
		t.Errorf("stored reasons: bad padding %q, valid padding %q; want the cause of each", badReason, validReason)
	}
}
