package runner_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/as2/as2test"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/testhttp"
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
// startAS2Receiver runs, until the test ends, a server with the as2
// receive location of as2RecvConfig (fabrikam and northwind as parties),
// and returns its URL, listening, and its box.
func startAS2Receiver(t *testing.T, p *pki) (string, msgbox.Box) {
	t.Helper()
	return startAS2ReceiverWith(t, p, nil)
}

// startAS2ReceiverWith is startAS2Receiver with the runner's options
// changed by tune (when not nil).
func startAS2ReceiverWith(t *testing.T, p *pki, tune func(*runner.Options)) (string, msgbox.Box) {
	t.Helper()
	northwind := p.ca.Issue(t, testpki.Options{CommonName: "Northwind", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 4)})
	dir := setup(t, p, as2RecvConfig, map[string]string{"Port": freePort(t), "Northwind": northwind.SHA1(), "Decrypt": p.signer.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "northwind.pem", northwind.CertPEM())
	return serveAS2(t, dir, tune)
}

// serveAS2 runs, until the test ends, a server over dir, whose
// configuration receives AS2 at path /as2 on {{.Port}}, with the runner's
// options changed by tune (when not nil), and returns its URL, listening,
// and its box.
func serveAS2(t *testing.T, dir string, tune func(*runner.Options)) (string, msgbox.Box) {
	t.Helper()
	url := "http://127.0.0.1:" + portOf(t, dir) + "/as2"
	r, box := startWith(t, dir, tune)
	t.Cleanup(runInBackground(t, r))
	waitListening(t, url)
	return url, box
}

// as2Request is the AS2 request, to CONTOSO, of a message from the AS2
// identity from, with the given Message-ID, content type and body, asking
// for a synchronous MDN.
func as2Request(t *testing.T, url, from, messageID, contentType string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("AS2-Version", "1.2")
	req.Header.Set("AS2-From", from)
	req.Header.Set("AS2-To", "CONTOSO")
	req.Header.Set("Message-ID", messageID)
	req.Header.Set("Disposition-Notification-To", "as2@fabrikam.example")
	return req
}

func TestAS2ReceiveFromLibas2(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	files := t.TempDir()
	cert, key := as2test.PEMFiles(t, files, "fabrikam", p.partner.CertPEM(), p.partner.KeyPEM())
	ourCert, _ := as2test.PEMFiles(t, files, "contoso", p.signer.CertPEM(), nil)
	url, box := startAS2Receiver(t, p)
	count := func() []msgbox.Message {
		t.Helper()
		msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
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
	for _, tc := range []struct {
		name, encryption, micalg string
		async, unsigned          bool
	}{
		{name: "aes256-cbc", encryption: "aes256-CBC", micalg: "sha-256"},
		{name: "des3 sha384", encryption: "des-EDE3-CBC", micalg: "sha-384"},
		{name: "async signed MDN", encryption: "aes256-CBC", micalg: "sha-256", async: true},
		{name: "async unsigned MDN", encryption: "des-EDE3-CBC", micalg: "sha-256", async: true, unsigned: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := count()
			cfg := as2test.Config{Mode: "send", ID: "FABRIKAM", PartnerID: "CONTOSO", Cert: cert, Key: key, PartnerCert: ourCert,
				URL: url, Content: content, Sign: tc.micalg, Encryption: tc.encryption, MDNSigning: tc.micalg, UnsignedMDN: tc.unsigned}
			if tc.async {
				port, err := strconv.Atoi(freePort(t))
				if err != nil {
					t.Fatal(err)
				}
				cfg.AsyncPort = port
			}
			got := as2test.Run(t, cfg, time.Minute)
			if got.Event != "sent" || got.Status != http.StatusOK || got.Chunked {
				t.Fatalf("libas2: %+v", got)
			}
			if got.MDNError != "" || got.Reading == nil {
				t.Fatalf("libas2 could not read our MDN: %q", got.MDNError)
			}
			mdn := got.Reading
			if mdn.Signed != !tc.unsigned || mdn.Verified != !tc.unsigned || mdn.Disposition == nil || !mdn.Disposition.Processed || mdn.Disposition.Description != nil {
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
	run := func(args ...string) []byte { t.Helper(); return mustRun(t, ossl, args...) }
	entity := append([]byte("Content-Type: application/edi-x12\r\n\r\n"), payload...)
	signed := file("signed.eml", run("cms", "-sign", "-binary", "-nodetach", "-in", file("entity.mime", entity),
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM())))
	var sent int // each request its own Message-ID: a repeat is answered with the first MDN
	request := func(t *testing.T, recipient []byte, from string) *http.Request {
		t.Helper()
		sent++
		der := run("cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", signed, file("r.pem", recipient))
		req := as2Request(t, url, from, fmt.Sprintf("<m%d@fabrikam.example>", sent),
			`application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`, der)
		req.Header.Set("Disposition-Notification-Options", "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, sha-256")
		return req
	}
	post := func(t *testing.T, recipient []byte, from string) (*http.Response, []byte) {
		t.Helper()
		resp, b := testhttp.Do(t, nil, request(t, recipient, from))
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
		if !mdn.Disposition.Positive() || mdn.MIC == nil || mdn.MIC.String() != want || mdn.OriginalMessageID != "<m1@fabrikam.example>" || mdn.Disposition.String() != "automatic-action/MDN-sent-automatically; processed" {
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
		// Its signature verified, but as no party's it may claim: it has
		// none (language §10), fabrikam's no more than northwind's.
		if m.Status != msgbox.StatusSuspended || m.Decoding != msgbox.DecodingFailed || !strings.Contains(m.Reason, `signed by party "fabrikam"`) || m.Party != "" {
			t.Errorf("stored: status %s, decoding %q, party %q, reason %q; want suspended, failed, no party", m.Status, m.Decoding, m.Party, m.Reason)
		}
	})

	// A repeated Message-ID is stored once and answered with the first
	// MDN, byte for byte, even after a restart.
	t.Run("repeat", func(t *testing.T) {
		before := count()
		req := request(t, p.signer.CertPEM(), "FABRIKAM")
		again := func() []byte {
			t.Helper()
			r2 := req.Clone(context.Background())
			r2.Body = io.NopCloser(bytes.NewReader(mustRead(t, req)))
			resp, b := testhttp.Do(t, nil, r2)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST: %s", resp.Status)
			}
			// The response's own time, net/http's, not the MDN's: two
			// requests a second apart differ in it.
			resp.Header.Del("Date")
			return as2.JoinEntity(resp.Header, b)
		}
		first := again()
		second := again()
		if !bytes.Equal(first, second) {
			t.Errorf("the repeat was answered with another MDN:\n%s\nfirst:\n%s", second, first)
		}
		newest(before)
	})

	// An async MDN: 200 at once, then the MDN POSTed to the URL given,
	// verified by OpenSSL, processed with the MIC; a repeat gets the same
	// MDN at its own URL, and nothing more is stored.
	t.Run("async", func(t *testing.T) {
		mdns := make(chan []byte, 4)
		catch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if r.ContentLength != int64(len(b)) || r.Method != http.MethodPost {
				t.Errorf("async MDN: %s with Content-Length %d for %d bytes", r.Method, r.ContentLength, len(b))
			}
			mdns <- as2.JoinEntity(r.Header, b)
		}))
		defer catch.Close()
		before := count()
		req := request(t, p.signer.CertPEM(), "FABRIKAM")
		body := mustRead(t, req)
		var got [][]byte
		for _, path := range []string{"/first", "/repeat"} {
			r2 := req.Clone(context.Background())
			r2.Body = io.NopCloser(bytes.NewReader(body))
			r2.Header.Set("Receipt-Delivery-Option", catch.URL+path)
			resp, b := testhttp.Do(t, nil, r2)
			if resp.StatusCode != http.StatusOK || len(b) != 0 {
				t.Fatalf("async request: %s %q, want 200 without body", resp.Status, b)
			}
			select {
			case m := <-mdns:
				got = append(got, m)
			case <-time.After(time.Minute):
				t.Fatal("no async MDN within a minute")
			}
		}
		if _, err := exec.Command(ossl, "cms", "-verify", "-in", file("async.eml", got[0]), "-CAfile", file("ca.pem", p.ca.CertPEM())).Output(); err != nil {
			t.Fatalf("openssl cms -verify rejects our async MDN: %v", err)
		}
		rc, err := as2.ParseMDN(got[0], as2.VerifyOptions{Trusted: []*x509.Certificate{p.signer.Cert}})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(entity)
		if !rc.Signed || !rc.Disposition.Positive() || rc.MIC == nil || rc.MIC.String() != base64.StdEncoding.EncodeToString(sum[:])+", sha-256" ||
			rc.OriginalMessageID != req.Header.Get("Message-ID") {
			t.Errorf("async MDN %+v (MIC %v)", rc.MDN, rc.MIC)
		}
		if !bytes.Equal(got[0], got[1]) {
			t.Errorf("the repeat's async MDN differs from the first")
		}
		newest(before)
	})

	t.Run("async URL not http", func(t *testing.T) {
		before := count()
		for _, u := range []string{"file:///etc/passwd", "gopher://127.0.0.1:1/", "http:///nohost"} {
			req := request(t, p.signer.CertPEM(), "FABRIKAM")
			req.Header.Set("Receipt-Delivery-Option", u)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("Receipt-Delivery-Option %s: %s, want 400", u, resp.Status)
			}
		}
		if n := len(count()); n != len(before) {
			t.Errorf("%d messages stored, want %d", n, len(before))
		}
	})
}

// mustRead reads a request's body (and gives it back, for a later Do).
func mustRead(t *testing.T, req *http.Request) []byte {
	t.Helper()
	if req.GetBody == nil {
		t.Fatal("request without GetBody")
	}
	rc, err := req.GetBody()
	return readAndClose(t, rc, err)
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

// TestAS2AsyncMDNDurable: an asynchronous MDN is kept in the box as work:
// POSTs that fail are retried async_mdn_interval apart, a restart of the
// engine resumes them, and after async_mdn_attempts failures it is given
// up (state failed, with the reason) while the message stays stored.
func TestAS2AsyncMDNDurable(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	northwind := p.ca.Issue(t, testpki.Options{CommonName: "Northwind", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 4)})
	cfg := strings.Replace(as2RecvConfig, `    path   = "/as2"`, `    path   = "/as2"
    async_mdn_attempts = 4
    async_mdn_interval = "200ms"`, 1)
	dir := setup(t, p, cfg, map[string]string{"Port": freePort(t), "Northwind": northwind.SHA1(), "Decrypt": p.signer.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "northwind.pem", northwind.CertPEM())
	url := "http://127.0.0.1:" + portOf(t, dir) + "/as2"

	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	entity := []byte("Content-Type: application/edi-x12\r\n\r\nISA*00~")
	signed, err := exec.Command(ossl, "cms", "-sign", "-binary", "-nodetach", "-in", file("entity.mime", entity),
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM())).Output()
	if err != nil {
		t.Fatal(err)
	}
	der, err := exec.Command(ossl, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", file("signed.eml", signed),
		file("r.pem", p.signer.CertPEM())).Output()
	if err != nil {
		t.Fatal(err)
	}
	// The same entity signed by northwind: another party's signature on
	// a message from FABRIKAM, refused (authentication-failed).
	signedByOther, err := exec.Command(ossl, "cms", "-sign", "-binary", "-nodetach", "-in", file("entity.mime", entity),
		"-signer", file("n.pem", northwind.CertPEM()), "-inkey", file("n.key", northwind.KeyPEM())).Output()
	if err != nil {
		t.Fatal(err)
	}
	derByOther, err := exec.Command(ossl, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", file("signed-other.eml", signedByOther),
		file("r.pem", p.signer.CertPEM())).Output()
	if err != nil {
		t.Fatal(err)
	}
	sendBody := func(t *testing.T, der []byte, messageID, mdnURL string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(der))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{
			"Content-Type": `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`,
			"AS2-Version":  "1.2", "AS2-From": "FABRIKAM", "AS2-To": "CONTOSO", "Message-ID": messageID,
			"Disposition-Notification-To":      "as2@fabrikam.example",
			"Disposition-Notification-Options": "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, sha-256",
			"Receipt-Delivery-Option":          mdnURL,
		} {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST: %s", resp.Status)
		}
	}
	send := func(t *testing.T, messageID, mdnURL string) {
		t.Helper()
		sendBody(t, der, messageID, mdnURL)
	}
	// waitMDN waits until the MDN of the one message received with
	// messageID satisfies ok.
	waitMDN := func(t *testing.T, box msgbox.Box, ok func(msgbox.SentMDN) bool) msgbox.SentMDN {
		t.Helper()
		ob := box.(msgbox.MDNOutbox)
		var last msgbox.SentMDN
		for range 600 {
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if sm, err := ob.SentMDN(context.Background(), m.ID); err == nil && ok(sm) {
					return sm
				}
				last, _ = ob.SentMDN(context.Background(), m.ID)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("the MDN never got there; last seen %+v", last)
		return msgbox.SentMDN{}
	}

	// The partner's MDN URL answers 503 until it is "up".
	var mu sync.Mutex
	up := false
	got := make(chan []byte, 8)
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !up || r.URL.Path != "/mdn" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got <- as2.JoinEntity(r.Header, b)
	}))
	defer partner.Close()

	r1, box1 := start(t, dir)
	stop1 := runInBackground(t, r1)
	waitListening(t, url)
	send(t, "<durable@fabrikam.example>", partner.URL+"/mdn")
	failed := waitMDN(t, box1, func(m msgbox.SentMDN) bool { return m.LastError != "" })
	stop1()
	box1.Close()
	if failed.State != msgbox.MDNPending || !strings.Contains(failed.LastError, "503") {
		t.Errorf("after a failed POST: %+v, want pending with the 503", failed)
	}
	// The partner's signature verified: its MDN is POSTed among the
	// authenticated, which requests anyone can make cannot crowd out.
	if !failed.Authenticated {
		t.Errorf("the MDN of a message the partner signed is not kept as authenticated: %+v", failed)
	}

	mu.Lock()
	up = true
	mu.Unlock()
	r2, box2 := start(t, dir)
	defer runInBackground(t, r2)()
	var mdn []byte
	select {
	case mdn = <-got:
	case <-time.After(time.Minute):
		t.Fatal("the MDN was not sent after the restart")
	}
	rc, err := as2.ParseMDN(mdn, as2.VerifyOptions{Trusted: []*x509.Certificate{p.signer.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	if rc.OriginalMessageID != "<durable@fabrikam.example>" || !rc.Disposition.Positive() {
		t.Errorf("MDN sent after the restart: %+v", rc.MDN)
	}
	waitMDN(t, box2, func(m msgbox.SentMDN) bool { return m.State == msgbox.MDNSent })

	// Given up after async_mdn_attempts, the reason kept.
	send(t, "<never@fabrikam.example>", partner.URL+"/gone")
	gaveUp := waitMDN(t, box2, func(m msgbox.SentMDN) bool { return m.State == msgbox.MDNFailed })
	if gaveUp.Attempts != 4 || !strings.Contains(gaveUp.LastError, "503") {
		t.Errorf("given up: %+v, want 4 attempts and the 503", gaveUp)
	}
	if msgs, err := msgbox.Collect(context.Background(), box2, msgbox.Filter{}); err != nil || len(msgs) != 2 {
		t.Errorf("%d messages stored (%v), want 2", len(msgs), err)
	}

	// Signed by another party: refused, and its MDN, negative, is POSTed
	// among the unauthenticated.
	sendBody(t, derByOther, "<other@fabrikam.example>", partner.URL+"/mdn")
	refused := waitMDN(t, box2, func(m msgbox.SentMDN) bool {
		return m.State == msgbox.MDNSent && bytes.Contains(m.Data, []byte("authentication-failed"))
	})
	if refused.Authenticated {
		t.Errorf("the MDN of a message signed by another party is kept as authenticated: %+v", refused)
	}
}
