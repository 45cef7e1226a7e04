package runner_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/as2/as2test"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// as2RecvConfig receives AS2 from fabrikam on 127.0.0.1: the host decrypts
// with the group's certificate (one certificate for the partner to encrypt
// for and to verify our MDNs with: {{.Decrypt}} is the signer's), and the
// pipeline requires fabrikam's signature.
const as2RecvConfig = as2Parties + `party "northwind" {
  as2_id               = "NORTHWIND"
  signing_certificates = ["{{.Northwind}}"]
}
` + decodePipeline + `
receive_location "as2in" {
  host         = host.h
  pipeline     = pipeline.decode
  content_type = "application/pkcs7-mime"
  transport "as2" {
    listen = "127.0.0.1:{{.Port}}"
    path   = "/as2"
  }
}
send_port "orders" {
  host   = host.h
  filter = message.party == "fabrikam"
  transport "file" {
    path      = "out"
    file_name = "${message.id}"
  }
}
`

// TestAS2ReceiveFromLibas2: the independent libas2 partner sends signed and
// encrypted messages (AES-256-CBC and 3DES) to transport "as2": each is
// stored decoded with its party and answered with a signed, processed MDN
// whose Received-Content-MIC libas2 accepts. A stranger's AS2-From and a
// wrong AS2-To are answered 403 with nothing stored. A message encrypted
// for another certificate is stored suspended and answered
// processed/error: decryption-failed. Our MDN verifies with OpenSSL and
// carries the MIC of the signed entity.
func TestAS2ReceiveFromLibas2(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	files := t.TempDir()
	cert, key := as2test.PEMFiles(t, files, "fabrikam", p.partner.CertPEM(), p.partner.KeyPEM())
	ourCert, _ := as2test.PEMFiles(t, files, "contoso", p.signer.CertPEM(), nil)
	northwind := p.ca.Issue(t, testpki.Options{CommonName: "Northwind", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 4)})
	dir := setup(t, p, as2RecvConfig, map[string]string{"Port": freePort(t), "Northwind": northwind.SHA1(), "Decrypt": p.signer.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "northwind.pem", northwind.CertPEM())
	url := "http://127.0.0.1:" + portOf(t, dir) + "/as2"

	r, box := start(t, dir)
	defer runInBackground(t, r)()
	waitListening(t, url)
	count := func() []msgbox.Message {
		t.Helper()
		msgs, err := box.List(context.Background(), msgbox.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}
	// newest returns the one message stored since before was counted.
	newest := func(before []msgbox.Message) msgbox.Message {
		t.Helper()
		seen := map[string]bool{}
		for _, m := range before {
			seen[m.ID] = true
		}
		var fresh []msgbox.Message
		for _, m := range count() {
			if !seen[m.ID] {
				fresh = append(fresh, m)
			}
		}
		if len(fresh) != 1 {
			t.Fatalf("%d messages stored, want 1", len(fresh))
		}
		m, err := box.Message(context.Background(), fresh[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	// No trailing CRLF: libas2 signs a part without the CRLF ending it.
	payload := []byte("ISA*00*          *00*          *ZZ*FABRIKAM~\r\nGS*PO*FABRIKAM*CONTOSO~")
	content := testpki.WriteFile(t, files, "order.edi", payload)
	for _, tc := range []struct{ name, encryption, micalg string }{
		{"aes256-cbc", "aes256-CBC", "sha-256"},
		{"des3 sha384", "des-EDE3-CBC", "sha-384"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := count()
			got := as2test.Run(t, as2test.Config{Mode: "send", ID: "FABRIKAM", PartnerID: "CONTOSO", Cert: cert, Key: key, PartnerCert: ourCert,
				URL: url, Content: content, Sign: tc.micalg, Encryption: tc.encryption, MDNSigning: tc.micalg}, time.Minute)
			if got.Event != "sent" || got.Status != http.StatusOK || got.Chunked {
				t.Fatalf("libas2: %+v", got)
			}
			if got.MDNError != "" || got.Reading == nil {
				t.Fatalf("libas2 could not read our MDN: %q", got.MDNError)
			}
			mdn := got.Reading
			if !mdn.Signed || !mdn.Verified || mdn.Disposition == nil || !mdn.Disposition.Processed || mdn.Disposition.Description != nil {
				t.Errorf("libas2's reading of our MDN: %+v, disposition %v", mdn, mdn.Disposition)
			}
			if !got.SelfVerified || mdn.MIC != got.ExpectedMIC || mdn.OriginalMessageID != got.MessageID {
				t.Errorf("MDN MIC %q for %s, libas2 expects %q for %s", mdn.MIC, mdn.OriginalMessageID, got.ExpectedMIC, got.MessageID)
			}
			if alg, err := as2.ParseAlg(mdn.MICAlgorithm); err != nil || alg.String() != tc.micalg {
				t.Errorf("MDN MIC algorithm %q, want %s", mdn.MICAlgorithm, tc.micalg)
			}
			m := newest(before)
			if m.Party != "fabrikam" || m.Decoding != msgbox.Decoded || m.Status == msgbox.StatusSuspended {
				t.Errorf("stored: party %q, decoding %q, status %s %s", m.Party, m.Decoding, m.Status, m.Reason)
			}
			if b := body(t, box, m.ID); !bytes.Equal(b, payload) {
				t.Errorf("stored body %q, want %q", b, payload)
			}
		})
	}

	t.Run("403", func(t *testing.T) {
		before := count()
		for _, ids := range [][2]string{{"STRANGER", "CONTOSO"}, {"FABRIKAM", "SOMEONE"}} {
			got := as2test.Run(t, as2test.Config{Mode: "send", ID: ids[0], PartnerID: ids[1], Cert: cert, Key: key, PartnerCert: ourCert,
				URL: url, Content: content, Encryption: "aes256-CBC"}, time.Minute)
			if got.Status != http.StatusForbidden || got.Reading != nil {
				t.Errorf("AS2-From %s, AS2-To %s: status %d, MDN %+v; want 403 without MDN", ids[0], ids[1], got.Status, got.Reading)
			}
		}
		if n := len(count()); n != len(before) {
			t.Errorf("%d messages stored after refusals, want %d", n, len(before))
		}
	})

	// OpenSSL-made messages posted directly, to check our MDN's bytes.
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(ossl, args...).Output()
		if err != nil {
			t.Fatalf("openssl %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	entity := append([]byte("Content-Type: application/edi-x12\r\n\r\n"), payload...)
	signed := file("signed.eml", run("cms", "-sign", "-binary", "-nodetach", "-in", file("entity.mime", entity),
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM())))
	request := func(t *testing.T, recipient []byte, from string) *http.Request {
		t.Helper()
		der := run("cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", signed, file("r.pem", recipient))
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(der))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`)
		req.Header.Set("AS2-Version", "1.2")
		req.Header.Set("AS2-From", from)
		req.Header.Set("AS2-To", "CONTOSO")
		req.Header.Set("Message-ID", "<m1@fabrikam.example>")
		req.Header.Set("Disposition-Notification-To", "as2@fabrikam.example")
		req.Header.Set("Disposition-Notification-Options", "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, sha-256")
		return req
	}
	post := func(t *testing.T, recipient []byte, from string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.DefaultClient.Do(request(t, recipient, from))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(b)) {
			t.Fatalf("POST: %s, Content-Length %d for %d bytes", resp.Status, resp.ContentLength, len(b))
		}
		mdnFile := file("mdn.eml", as2.JoinEntity(resp.Header, b))
		if _, err := exec.Command(ossl, "cms", "-verify", "-in", mdnFile, "-CAfile", file("ca.pem", p.ca.CertPEM())).Output(); err != nil {
			t.Fatalf("openssl cms -verify rejects our MDN: %v", err)
		}
		return resp, b
	}
	parse := func(t *testing.T, resp *http.Response, b []byte) *as2.MDN {
		t.Helper()
		rc, err := as2.ParseMDN(as2.JoinEntity(resp.Header, b), as2.VerifyOptions{Trusted: []*x509.Certificate{p.signer.Cert}})
		if err != nil {
			t.Fatal(err)
		}
		if !rc.Signed {
			t.Error("our MDN is not signed")
		}
		return &rc.MDN
	}

	t.Run("openssl", func(t *testing.T) {
		before := count()
		resp, b := post(t, p.signer.CertPEM(), "FABRIKAM")
		mdn := parse(t, resp, b)
		sum := sha256.Sum256(entity)
		want := base64.StdEncoding.EncodeToString(sum[:]) + ", sha-256"
		if !mdn.Disposition.Positive() || mdn.MIC == nil || mdn.MIC.String() != want || mdn.OriginalMessageID != "<m1@fabrikam.example>" {
			t.Errorf("MDN %+v (MIC %v), want processed with MIC %s", mdn, mdn.MIC, want)
		}
		if m := newest(before); m.Party != "fabrikam" {
			t.Errorf("stored party %q", m.Party)
		}
	})

	t.Run("encrypted for another certificate", func(t *testing.T) {
		before := count()
		resp, b := post(t, p.partner.CertPEM(), "FABRIKAM")
		mdn := parse(t, resp, b)
		if mdn.Disposition.String() != "automatic-action/MDN-sent-automatically; processed/error: decryption-failed" || mdn.MIC != nil {
			t.Errorf("MDN disposition %q, MIC %v; want processed/error: decryption-failed", mdn.Disposition, mdn.MIC)
		}
		m := newest(before)
		if m.Status != msgbox.StatusSuspended || m.Decoding != msgbox.DecodingFailed || m.Party != "" {
			t.Errorf("stored: status %s, decoding %q, party %q; want suspended, failed", m.Status, m.Decoding, m.Party)
		}
	})

	t.Run("signed by another party than AS2-From", func(t *testing.T) {
		before := count()
		resp, b := post(t, p.signer.CertPEM(), "NORTHWIND")
		mdn := parse(t, resp, b)
		if mdn.Disposition.Description != "authentication-failed" || mdn.Disposition.Positive() {
			t.Errorf("MDN disposition %q, want processed/error: authentication-failed", mdn.Disposition)
		}
		m := newest(before)
		if m.Status != msgbox.StatusSuspended || m.Decoding != msgbox.DecodingFailed || !strings.Contains(m.Reason, `signed by party "fabrikam"`) {
			t.Errorf("stored: status %s, decoding %q, reason %q; want suspended, failed", m.Status, m.Decoding, m.Reason)
		}
	})

	t.Run("async MDN refused", func(t *testing.T) {
		before := count()
		req := request(t, p.signer.CertPEM(), "FABRIKAM")
		req.Header.Set("Receipt-Delivery-Option", "http://127.0.0.1:1/mdn")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("async MDN request: %s, want 400", resp.Status)
		}
		if n := len(count()); n != len(before) {
			t.Errorf("%d messages stored, want %d", n, len(before))
		}
	})
}

// waitListening waits until something answers at url.
func waitListening(t *testing.T, url string) {
	t.Helper()
	for range 200 {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens at %s", url)
}
