//go:build linux

package runner_test

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestInboundHTTPRefusedHoldsNoIdempotencyKey: on an HTTP location whose
// pipeline verifies, a message the decoders refuse does not hold its
// Idempotency-Key, as an AS2 Message-ID is not held (SourceKeyIfDecoded):
// junk a stranger posts first under a partner's key does not make the
// partner's authentic message a 422; and a refused message the partner
// sends again with its key once the operator fixed the cause (its new
// certificate added), as the docs say to, is decoded and delivered,
// rather than answered 202 Idempotent-Replayed with the refused one's id
// and dropped.
func TestInboundHTTPRefusedHoldsNoIdempotencyKey(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p, decrypt, dir := setupDecode(t, httpDecodeConfig(), map[string]string{"Port": freePort(t)})
	newcomer := p.ca.Issue(t, testpki.Options{CommonName: "Fabrikam New", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 5)})
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	payload := []byte("ISA*00*http-refused~")
	entity := file("entity.mime", append([]byte("Content-Type: application/edi-x12\r\n\r\n"), payload...))
	encrypt := func(in string) []byte {
		return mustRun(t, ossl, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", in, file("d.pem", decrypt.CertPEM()))
	}
	byNewcomer := encrypt(file("n.eml", mustRun(t, ossl, "cms", "-sign", "-binary", "-in", entity,
		"-signer", file("n.pem", newcomer.CertPEM()), "-inkey", file("n.key", newcomer.KeyPEM()))))
	authentic := encrypt(file("p.eml", mustRun(t, ossl, "cms", "-sign", "-binary", "-in", entity,
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM()))))
	junk := encrypt(entity) // not signed: anyone can make it

	url := "http://127.0.0.1:" + portOf(t, dir) + "/as"
	post := func(key string, body []byte) (status int, id string, replayed bool) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/pkcs7-mime; smime-type=enveloped-data")
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Bizpipe-Message-Id"), resp.Header.Get("Idempotent-Replayed") == "true"
	}
	waitStatus := func(box msgbox.Box, id string, want msgbox.Status) msgbox.Message {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			m, err := box.Message(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if m.Status == want || time.Now().After(deadline) {
				if m.Status != want {
					t.Errorf("message %s: %s %q; want %s", id, m.Status, m.Reason, want)
				}
				return m
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	r, box := start(t, dir)
	stop := runInBackground(t, r)
	waitListening(t, url)
	_, refused, _ := post("order-1", byNewcomer)
	waitStatus(box, refused, msgbox.StatusSuspended)
	_, junkID, _ := post("order-2", junk)
	waitStatus(box, junkID, msgbox.StatusSuspended)
	status, id, replayed := post("order-2", authentic)
	if status != http.StatusAccepted || replayed || id == junkID {
		t.Errorf("the authentic message after junk under its key: %d, id %s (junk %s), replayed %v; want 202, a new message", status, id, junkID, replayed)
	} else {
		waitStatus(box, id, msgbox.StatusDelivered)
	}
	stop()
	box.Close()

	// The fix: the newcomer's certificate added to fabrikam.
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "newcomer.pem", newcomer.CertPEM())
	old := readAll(t, filepath.Join(dir, "bizpipe.hcl"))
	fixed := bytes.Replace(old, []byte(`signing_certificates = ["`+p.partner.SHA1()+`"]`),
		[]byte(`signing_certificates = ["`+p.partner.SHA1()+`", "`+newcomer.SHA1()+`"]`), 1)
	testpki.WriteFile(t, dir, "bizpipe.hcl", fixed)
	r, box = start(t, dir)
	defer runInBackground(t, r)()
	waitListening(t, url)
	status, id, replayed = post("order-1", byNewcomer)
	if status != http.StatusAccepted || replayed || id == refused {
		t.Fatalf("sent again after the fix: %d, id %s (refused %s), replayed %v; want 202, a new message", status, id, refused, replayed)
	}
	waitStatus(box, id, msgbox.StatusDelivered)
	if m, err := box.Message(context.Background(), refused); err != nil || m.Status != msgbox.StatusSuspended {
		t.Errorf("the refused message: %+v, %v; want it still suspended", m, err)
	}
}
