//go:build linux

package runner_test

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestAS2RefusedKeptAsReceived: an AS2 message the pipeline refuses (here
// clear-signed by the party but not encrypted, where the pipeline
// requires encryption) is stored suspended, and both messages body and
// messages body --as-received write the MIME entity as it arrived: the
// request's Content-Type, whose boundary the body cannot be read
// without, in front of the body, byte for byte. OpenSSL, independently,
// verifies the party's signature over what is written, so an operator can
// examine the message as the partner sent it.
func TestAS2RefusedKeptAsReceived(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	url, box := startAS2Receiver(t, p)
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }

	entity := []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*~\r\nGS*PO~\r\n")
	signed := mustRun(t, ossl, "cms", "-sign", "-crlfeol", "-in", file("entity.mime", entity),
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM()), "-md", "sha256")
	// openssl writes a whole entity: its Content-Type goes in the HTTP
	// header, the rest is the request's body, as AS2 senders post it.
	sep := []byte("\r\n\r\n")
	i := bytes.Index(signed, sep)
	if i < 0 {
		t.Fatalf("openssl cms -sign wrote no header section:\n%s", signed)
	}
	var ct string
	for _, line := range bytes.Split(signed[:i], []byte("\r\n")) {
		if name, value, ok := bytes.Cut(line, []byte(":")); ok && string(bytes.ToLower(name)) == "content-type" {
			ct = string(bytes.TrimSpace(value))
		}
	}
	if ct == "" {
		t.Fatalf("openssl cms -sign wrote no Content-Type:\n%s", signed[:i])
	}
	payload := signed[i+len(sep):]

	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("AS2-Version", "1.2")
	req.Header.Set("AS2-From", "FABRIKAM")
	req.Header.Set("AS2-To", "CONTOSO")
	req.Header.Set("Message-ID", "<refused-bytes@fabrikam.example>")
	if resp, b := testhttp.Do(t, nil, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %s %q", resp.Status, b)
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Status != msgbox.StatusSuspended || m.Decoding != msgbox.DecodingFailed || m.Party != "" ||
		!strings.Contains(m.Reason, `receive location "as2in"`) || !strings.Contains(m.Reason, "not encrypted") {
		t.Fatalf("stored: status %s, decoding %q, party %q, reason %q; want suspended, failed, no party, the location and why", m.Status, m.Decoding, m.Party, m.Reason)
	}
	want := append([]byte("Content-Type: "+ct+"\r\n\r\n"), payload...)
	if got := body(t, box, m.ID); !bytes.Equal(got, want) {
		t.Errorf("messages body:\n%q\nwant\n%q", got, want)
	}
	got := asReceived(t, box, m.ID)
	if !bytes.Equal(got, want) {
		t.Errorf("messages body --as-received:\n%q\nwant\n%q", got, want)
	}
	cmd := exec.Command(ossl, "cms", "-verify", "-in", file("kept.eml", got), "-CAfile", file("ca.pem", p.ca.CertPEM()))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("openssl cms -verify of the bytes kept: %v\n%s", err, out)
	}
}
