package as2

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// recordingSink stores nothing: it keeps what it was given, the MIME
// entity a decoding pipeline would read (DecodeRequest.Head, then the
// body), without decoding it (no MIC, no party).
type recordingSink struct {
	mu     sync.Mutex
	entity []byte
	req    component.DecodeRequest
}

func (s *recordingSink) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	p, err := s.PublishOutcome(ctx, in, body, component.DecodeRequest{})
	return p.Message, p.Dup, err
}

func (s *recordingSink) PublishOutcome(_ context.Context, _ msgbox.Incoming, body io.Reader, req component.DecodeRequest) (component.Published, error) {
	b, err := io.ReadAll(io.MultiReader(strings.NewReader(req.Head), body))
	if err != nil {
		return component.Published{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entity, s.req = b, req
	return component.Published{Message: msgbox.Message{ID: "m1"}}, nil
}

// startReceiver builds cfg's receiver for env and starts it, stopped when
// the test ends; it returns the address it listens on.
func startReceiver(t *testing.T, cfg *ReceiveConfig, env *component.ReceiveEnv) string {
	t.Helper()
	return startReceiverWith(t, cfg, env, nil).serving.Addr().String()
}

// startReceiverWith is startReceiver that returns the receiver, changed
// by tune (when not nil) before it starts.
func startReceiverWith(t *testing.T, cfg *ReceiveConfig, env *component.ReceiveEnv, tune func(*receiver)) *receiver {
	t.Helper()
	r, err := cfg.NewReceiver(env)
	if err != nil {
		t.Fatal(err)
	}
	rc := r.(*receiver)
	if tune != nil {
		tune(rc)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	return rc
}

// TestReceiveTLSPlain: over HTTPS (the tls block), a plain AS2 message to a
// location without a decoding pipeline reaches the sink as a whole MIME
// entity (the HTTP content header fields in front of the body), and the
// signed MDN carries the MIC of the body as received, RFC 4130 §7.3.1's
// rule for an unsigned, unencrypted message, in the requested sha-384.
func TestReceiveTLSPlain(t *testing.T) {
	ca := testpki.NewCA(t, "Test CA")
	signer := ca.Issue(t, testpki.Options{CommonName: "Contoso Signing"})
	certFile, keyFile, srv := testpki.ServerTLS(t)
	srvCert := srv.Cert
	sink := &recordingSink{}
	cfg := &ReceiveConfig{
		Listen: value.Value[string]{V: "127.0.0.1:0"}, Path: value.Value[string]{V: "/as2"},
		CertFile: value.Value[string]{V: certFile}, KeyFile: value.Value[string]{V: keyFile},
	}
	addr := startReceiver(t, cfg, &component.ReceiveEnv{
		Location: "in", ContentType: "application/octet-stream", Sink: sink,
		AS2ID: "CONTOSO", PartyAS2IDs: map[string]string{"fabrikam": "FABRIKAM"},
		Keys: component.Keys{Signer: &component.Identity{Cert: signer.Cert, Key: signer.Key}},
	})
	pool := x509.NewCertPool()
	pool.AddCert(srvCert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	payload := []byte("UNA:+.? '\r\nUNB+UNOC:3+FABRIKAM+CONTOSO'")
	req, err := http.NewRequest(http.MethodPost, "https://"+addr+"/as2", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/edifact")
	req.Header.Set("AS2-Version", "1.2")
	req.Header.Set("AS2-From", "FABRIKAM")
	req.Header.Set("AS2-To", "CONTOSO")
	req.Header.Set("Message-ID", "<p1@fabrikam.example>")
	req.Header.Set("Disposition-Notification-To", "as2@fabrikam.example")
	req.Header.Set("Disposition-Notification-Options", "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, sha-384")
	resp, b := testhttp.Do(t, client, req)
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(b)) {
		t.Fatalf("POST: %s, Content-Length %d for %d bytes", resp.Status, resp.ContentLength, len(b))
	}
	mdn, err := as2.ParseMDN(as2.JoinEntity(resp.Header, b), as2.VerifyOptions{Trusted: []*x509.Certificate{signer.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	want := as2.ComputeMIC(as2.SHA384, payload)
	if !mdn.Signed || !mdn.Disposition.Positive() || mdn.MIC == nil || !mdn.MIC.Equal(want) {
		t.Errorf("MDN signed %v, disposition %q, MIC %v; want signed, processed, %v", mdn.Signed, mdn.Disposition, mdn.MIC, want)
	}
	if got, wantEntity := sink.entity, append([]byte("Content-Type: application/edifact\r\n\r\n"), payload...); !bytes.Equal(got, wantEntity) {
		t.Errorf("sink got %q, want %q", got, wantEntity)
	}
	if sink.req.Party != "fabrikam" || sink.req.MICHash != crypto.SHA384 {
		t.Errorf("decode request %+v, want party fabrikam and SHA-384", sink.req)
	}
}

// TestReceiveMDNRollover: a running receiver signs each MDN with the
// identity its rollover clock chooses when the MDN is built: the group
// signing certificate before the signing_rollover's at, the rollover
// certificate from at on (language §12), without being rebuilt.
func TestReceiveMDNRollover(t *testing.T) {
	openssl := testpki.OpenSSL(t)
	ca := testpki.NewCA(t, "Test CA")
	caFile := testpki.WriteFile(t, t.TempDir(), "ca.pem", ca.CertPEM())
	old := ca.Issue(t, testpki.Options{CommonName: "Contoso Signing"})
	next := ca.Issue(t, testpki.Options{CommonName: "Contoso Signing 2027"})
	at := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := at.Add(-time.Second)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cfg := &ReceiveConfig{Listen: value.Value[string]{V: "127.0.0.1:0"}, Path: value.Value[string]{V: "/as2"}}
	url := "http://" + startReceiver(t, cfg, &component.ReceiveEnv{
		Location: "in", ContentType: "application/octet-stream", Sink: &recordingSink{},
		AS2ID: "CONTOSO", PartyAS2IDs: map[string]string{"fabrikam": "FABRIKAM"},
		Keys: component.Keys{
			Signer:   &component.Identity{Cert: old.Cert, Key: old.Key},
			Rollover: &component.Rollover{At: at, Signer: &component.Identity{Cert: next.Cert, Key: next.Key}, Now: clock},
		},
	}) + "/as2"
	mdnSigner := func(id string) *x509.Certificate {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte("UNB+UNOC:3+FABRIKAM+CONTOSO'")))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/edifact")
		req.Header.Set("AS2-Version", "1.2")
		req.Header.Set("AS2-From", "FABRIKAM")
		req.Header.Set("AS2-To", "CONTOSO")
		req.Header.Set("Message-ID", "<"+id+"@fabrikam.example>")
		req.Header.Set("Disposition-Notification-To", "as2@fabrikam.example")
		req.Header.Set("Disposition-Notification-Options", "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, sha-256")
		resp, b := testhttp.Do(t, nil, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s", id, resp.Status)
		}
		entity := as2.JoinEntity(resp.Header, b)
		mdn, err := as2.ParseMDN(entity, as2.VerifyOptions{Trusted: []*x509.Certificate{old.Cert, next.Cert}})
		if err != nil {
			t.Fatal(err)
		}
		if !mdn.Signed {
			t.Fatalf("%s: MDN not signed", id)
		}
		// OpenSSL, independently, verifies it against the CA and names
		// the same signer.
		tmp := t.TempDir()
		in := testpki.WriteFile(t, tmp, "mdn.eml", entity)
		signer := filepath.Join(tmp, "signer.pem")
		cmd := exec.Command(openssl, "cms", "-verify", "-CAfile", caFile, "-in", in, "-signer", signer, "-out", os.DevNull)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: openssl cms -verify: %v\n%s", id, err, out)
		}
		pemSigner, err := os.ReadFile(signer)
		if err != nil {
			t.Fatal(err)
		}
		if blk, _ := pem.Decode(pemSigner); blk == nil || !bytes.Equal(blk.Bytes, mdn.Signer.Raw) {
			t.Errorf("%s: OpenSSL names another signer than our parser", id)
		}
		return mdn.Signer
	}
	if got := mdnSigner("before"); !got.Equal(old.Cert) {
		t.Errorf("MDN before at signed by %q, want %q", got.Subject, old.Cert.Subject)
	}
	mu.Lock()
	now = at
	mu.Unlock()
	if got := mdnSigner("after"); !got.Equal(next.Cert) {
		t.Errorf("MDN from at on signed by %q, want %q", got.Subject, next.Cert.Subject)
	}
}

// TestReceiveStopTwice: the location's listening lifecycle is the http
// transport's (httptransport.Serving): Stop before Start does nothing, a
// second Stop returns at once, and the address is free again afterwards.
func TestReceiveStopTwice(t *testing.T) {
	signer := testpki.NewCA(t, "Test CA").Issue(t, testpki.Options{CommonName: "Contoso Signing"})
	cfg := &ReceiveConfig{Listen: value.Value[string]{V: "127.0.0.1:0"}, Path: value.Value[string]{V: "/as2"}}
	r, err := cfg.NewReceiver(&component.ReceiveEnv{
		Location: "in", ContentType: "application/octet-stream", Sink: &recordingSink{},
		AS2ID: "CONTOSO", PartyAS2IDs: map[string]string{"fabrikam": "FABRIKAM"},
		Keys: component.Keys{Signer: &component.Identity{Cert: signer.Cert, Key: signer.Key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Stop(context.Background())
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := r.(*receiver).serving.Addr().String()
	if err := r.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("second Start: %v", err)
	}
	stopped := make(chan struct{})
	go func() {
		r.Stop(context.Background())
		r.Stop(context.Background())
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("a second Stop does not return")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the address is still taken after Stop: %v", err)
	}
	ln.Close()
}

// TestReceiveMalformedContentType: an AS2 request whose Content-Type is not
// type/subtype ("garbage", which mime.ParseMediaType accepts) is answered
// 400 and nothing reaches the sink, as over HTTP.
func TestReceiveMalformedContentType(t *testing.T) {
	signer := testpki.NewCA(t, "Test CA").Issue(t, testpki.Options{CommonName: "Contoso Signing"})
	sink := &recordingSink{}
	cfg := &ReceiveConfig{Listen: value.Value[string]{V: "127.0.0.1:0"}, Path: value.Value[string]{V: "/as2"}}
	url := "http://" + startReceiver(t, cfg, &component.ReceiveEnv{
		Location: "in", ContentType: "application/octet-stream", Sink: sink,
		AS2ID: "CONTOSO", PartyAS2IDs: map[string]string{"fabrikam": "FABRIKAM"},
		Keys: component.Keys{Signer: &component.Identity{Cert: signer.Cert, Key: signer.Key}},
	}) + "/as2"
	for i, ct := range []string{"garbage", "application/", "application/edifact; charset"} {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("UNB+UNOC:3+FABRIKAM+CONTOSO'"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		req.Header.Set("AS2-Version", "1.2")
		req.Header.Set("AS2-From", "FABRIKAM")
		req.Header.Set("AS2-To", "CONTOSO")
		req.Header.Set("Message-ID", fmt.Sprintf("<ct%d@fabrikam.example>", i))
		resp, b := testhttp.Do(t, nil, req)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "malformed Content-Type") {
			t.Errorf("Content-Type %q: %s %q, want 400 malformed Content-Type", ct, resp.Status, b)
		}
	}
	if sink.entity != nil {
		t.Errorf("the sink got %q", sink.entity)
	}
}
