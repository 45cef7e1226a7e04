package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// recorded is what a test server saw of one request.
// testPort names the port of the deliveries the tests make.
const testPort = "fabrikam"

type recorded struct {
	method, path, query, host string
	header                    http.Header
	body                      []byte
}

// recorder is a handler that records requests and answers with a status.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
	status   int
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec.mu.Lock()
	rec.requests = append(rec.requests, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Clone(), body})
	status := rec.status
	rec.mu.Unlock()
	if status == 0 {
		status = http.StatusAccepted
	}
	w.WriteHeader(status)
}

func (rec *recorder) all() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.requests...)
}

func newHTTPTransport(t *testing.T, o ClientOptions) *Client {
	t.Helper()
	h, err := NewClient(o)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

func httpDelivery(url string, headers map[string]string) transport.Delivery {
	return transport.Delivery{ID: 1, MessageID: "msg-1", Port: testPort, URL: url, Headers: headers}
}

func TestHTTPSendsHeadersAndBodyExactly(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	h := newHTTPTransport(t, ClientOptions{})

	body := []byte("MIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n\x00\xff binary tail")
	p := transport.Payload{
		Data: append([]byte("ignored by HTTP\r\n\r\n"), body...),
		Header: []transport.Field{
			{Name: "MIME-Version", Value: "1.0"},
			{Name: "Content-Type", Value: `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`},
			{Name: "Content-Transfer-Encoding", Value: "base64"},
			{Name: "Content-Disposition", Value: `attachment; filename="smime.p7m"`},
		},
		Body: body,
	}
	d := httpDelivery(srv.URL+"/orders/in?partner=fabrikam&x=1", map[string]string{
		"X-Partner":     "fabrikam",
		"Authorization": "Bearer s3cr3t",
	})
	if err := h.Send(context.Background(), d, p); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.method != http.MethodPost || got.path != "/orders/in" || got.query != "partner=fabrikam&x=1" {
		t.Errorf("request %s %s?%s", got.method, got.path, got.query)
	}
	if !bytes.Equal(got.body, body) {
		t.Errorf("body = %q, want %q", got.body, body)
	}
	for name, want := range map[string]string{
		"Mime-Version":              "1.0",
		"Content-Type":              `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`,
		"Content-Transfer-Encoding": "base64",
		"Content-Disposition":       `attachment; filename="smime.p7m"`,
		"X-Partner":                 "fabrikam",
		"Authorization":             "Bearer s3cr3t",
		"User-Agent":                "bizpipe",
	} {
		if v := got.header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("header %s = %q, want [%q]", name, v, want)
		}
	}
}

func TestHTTPConfiguredHeadersWin(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	h := newHTTPTransport(t, ClientOptions{})
	p := transport.Payload{
		Header: []transport.Field{{Name: "Content-Type", Value: "application/xml"}, {Name: "User-Agent", Value: "from-payload"}},
		Body:   []byte("<a/>"),
	}
	d := httpDelivery(srv.URL, map[string]string{"content-type": "application/edi-x12", "Host": "partner.example"})
	if err := h.Send(context.Background(), d, p); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rec.all()[0]
	if v := got.header.Values("Content-Type"); len(v) != 1 || v[0] != "application/edi-x12" {
		t.Errorf("Content-Type = %q, want the configured value only", v)
	}
	if v := got.header.Values("User-Agent"); len(v) != 1 || v[0] != "from-payload" {
		t.Errorf("User-Agent = %q, want the payload's", v)
	}
	if got.host != "partner.example" {
		t.Errorf("Host = %q, want the configured one", got.host)
	}
}

func TestHTTPRejectsHeaderInjection(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	h := newHTTPTransport(t, ClientOptions{})
	tests := []struct {
		name    string
		fields  []transport.Field
		headers map[string]string
		want    string
	}{
		{"configured value with CRLF", nil, map[string]string{"X-Order": "1\r\nX-Injected: SECRETVALUE"}, `"X-Order"`},
		{"payload value with LF", []transport.Field{{Name: "Content-Type", Value: "text/plain\nX-Injected: SECRETVALUE"}}, nil, `"Content-Type"`},
		{"name with colon", nil, map[string]string{"X-A: b": "SECRETVALUE"}, "not a valid token"},
		{"empty name", []transport.Field{{Name: "", Value: "SECRETVALUE"}}, nil, "empty header name"},
		// net/http would send an empty Host instead: the partner's
		// default virtual host, not the one configured.
		{"configured Host with a space", nil, map[string]string{"Host": "partner.example SECRETVALUE"}, `"Host"`},
		{"configured host with a slash", nil, map[string]string{"host": "partner.example/SECRETVALUE"}, `"host"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Send(context.Background(), httpDelivery(srv.URL, tt.headers), transport.Payload{Header: tt.fields, Body: []byte("x")})
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), testPort) {
				t.Errorf("error %q does not mention %q and the port", err, tt.want)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("error %q quotes a header value", err)
			}
			if !transport.Permanent(err) {
				t.Errorf("error %q is not permanent: every attempt would fail the same", err)
			}
		})
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("server saw %d requests, want none", n)
	}
}

func TestHTTPStatus(t *testing.T) {
	var redirectTargetHits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ok/{code}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("code") {
		case "200":
			w.Write([]byte("fine"))
		case "201":
			w.WriteHeader(http.StatusCreated)
		case "204":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("/fail500", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("database\x1b[31m down\r\n\tretry\u202elater\x00"))
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere?token=SECRET", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		redirectTargetHits.Add(1)
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write(bytes.Repeat([]byte("x"), 10000))
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	// Retry-After means something with 429 and 503 only (RFC 6585, RFC
	// 9110): with another failure the port's interval stands.
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "86400")
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "86400")
		http.Redirect(w, r, "/elsewhere", http.StatusMovedPermanently)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	h := newHTTPTransport(t, ClientOptions{})

	tests := []struct {
		path     string
		wantCode int // 0: success
		want     []string
		notWant  []string
	}{
		{path: "/ok/200"},
		{path: "/ok/201"},
		{path: "/ok/204"},
		{
			path:     "/fail500",
			wantCode: 500,
			want:     []string{"HTTP 500 Internal Server Error", `"database?[31m down retry?later?"`},
			notWant:  []string{"\x1b", "\u202e", "\x00", "\n"},
		},
		{path: "/missing", wantCode: 404, want: []string{"HTTP 404 Not Found", "404 page not found"}},
		{
			path:     "/moved",
			wantCode: 302,
			want:     []string{"HTTP 302 Found", "redirects are not followed", srv.URL + "/elsewhere?[query omitted]"},
			notWant:  []string{"SECRET"},
		},
		{path: "/long", wantCode: 400, want: []string{strings.Repeat("x", 200) + "..."}, notWant: []string{strings.Repeat("x", 201)}},
		{path: "/busy", wantCode: 429, want: []string{"HTTP 429 Too Many Requests", "(asks to retry after 2m0s)"}},
		{path: "/unavailable", wantCode: 503, want: []string{"HTTP 503 Service Unavailable", "(asks to retry after 1m0s)"}},
		{path: "/broken", wantCode: 500, want: []string{"HTTP 500 Internal Server Error"}, notWant: []string{"asks to retry"}},
		{path: "/gone", wantCode: 301, want: []string{"HTTP 301 Moved Permanently"}, notWant: []string{"asks to retry"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			err := h.Send(context.Background(), httpDelivery(srv.URL+tt.path, nil), transport.Payload{Body: []byte("REQUESTBODY")})
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			var serr *StatusError
			if !errors.As(err, &serr) {
				t.Fatalf("Send: %v, want a *StatusError", err)
			}
			if serr.StatusCode != tt.wantCode {
				t.Errorf("StatusCode = %d, want %d", serr.StatusCode, tt.wantCode)
			}
			msg := err.Error()
			for _, want := range append(tt.want, testPort, srv.URL+tt.path) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			for _, bad := range append(tt.notWant, "REQUESTBODY") {
				if strings.Contains(msg, bad) {
					t.Errorf("error %q contains %q", msg, bad)
				}
			}
		})
	}
	if n := redirectTargetHits.Load(); n != 0 {
		t.Errorf("redirect was followed %d times", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"Fri, 27 Nov 2026 09:30:00 GMT", 90 * time.Minute},
		{"Fri, 27 Nov 2026 07:00:00 GMT", 0}, // already past
		{"999999999", maxRetryAfter},
		{"99999999999999999999999", maxRetryAfter}, // beyond a uint64: still a long wait
		{"18446744073709551616", maxRetryAfter},
		{"Sat, 27 Nov 2027 08:00:00 GMT", maxRetryAfter},
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxRetryAfter},
		{"-99999999999999999999999", 0},
		{"+5", 0},
		{"5s", 0},
		{"-5", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.value, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
	if d, ok := component.RetryAfter(fmt.Errorf("wrapped: %w", &StatusError{StatusCode: 503, RetryAfter: time.Minute})); !ok || d != time.Minute {
		t.Errorf("RetryAfter of a wrapped 503 = %v, %v; want 1m, true", d, ok)
	}
	if _, ok := component.RetryAfter(&StatusError{StatusCode: 500}); ok {
		t.Error("RetryAfter of a status error without the header reports a wait")
	}
	if _, ok := component.RetryAfter(errors.New("connection refused")); ok {
		t.Error("RetryAfter of a network error reports a wait")
	}
}

func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hold the request until the client gives up (or the test ends):
		// no sleep, so the test does not depend on timing beyond the
		// transport's own timeout.
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	h := newHTTPTransport(t, ClientOptions{Timeout: 100 * time.Millisecond})
	err := h.Send(context.Background(), httpDelivery(srv.URL, nil), transport.Payload{Body: []byte("x")})
	if err == nil {
		t.Fatal("Send to a server that never answers succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no response within 100ms") {
		t.Fatalf("error %q is not a timeout naming the limit", err)
	}
}

func TestHTTPCallerCancellation(t *testing.T) {
	h := newHTTPTransport(t, ClientOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := h.Send(ctx, httpDelivery("http://127.0.0.1:1/x", nil), transport.Payload{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send: %v, want context.Canceled", err)
	}
}

func TestHTTPNetworkErrorHidesQuery(t *testing.T) {
	// A port nothing listens on: bind, note it, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	h := newHTTPTransport(t, ClientOptions{})
	err = h.Send(context.Background(), httpDelivery("http://user:PASSWORD@"+addr+"/api?code=APIKEY", nil), transport.Payload{Body: []byte("x")})
	if err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, addr) || !strings.Contains(msg, testPort) {
		t.Errorf("error %q does not name the address and port", msg)
	}
	for _, secret := range []string{"APIKEY", "PASSWORD"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q leaks %s", msg, secret)
		}
	}
}

func TestHTTPRejectsBadURLs(t *testing.T) {
	h := newHTTPTransport(t, ClientOptions{})
	for _, u := range []string{"ftp://127.0.0.1/x", "file:///etc/passwd", "127.0.0.1:8080/x", "http:///nohost", "", "http://[::1/x"} {
		err := h.Send(context.Background(), httpDelivery(u, nil), transport.Payload{})
		if err == nil || !strings.Contains(err.Error(), testPort) {
			t.Errorf("Send(%q) = %v, want an error naming the port", u, err)
		}
	}
}

func TestHTTPReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("ack "), 1000)) // a body the client must drain to reuse the connection
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	h := newHTTPTransport(t, ClientOptions{})
	for range 5 {
		if err := h.Send(context.Background(), httpDelivery(srv.URL, nil), transport.Payload{Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("5 sequential deliveries used %d connections, want 1", n)
	}
}

// tlsFixture is an HTTPS server that requires a client certificate issued
// by clientCA, and the files a port needs to talk to it.
type tlsFixture struct {
	srv                       *httptest.Server
	rec                       *recorder
	caFile, certFile, keyFile string
	otherCAFile               string
	client                    *testpki.Cert
}

func newTLSFixture(t *testing.T) *tlsFixture {
	t.Helper()
	clientCA := testpki.NewCA(t, "bizpipe test client CA")
	client := clientCA.Issue(t, testpki.Options{
		CommonName:  "bizpipe sender",
		KeyType:     testpki.ECDSAP256,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)

	rec := &recorder{}
	srv := httptest.NewUnstartedServer(rec)
	// httptest's own server certificate covers 127.0.0.1; it is self-signed,
	// so it is also the CA file the port trusts.
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected here
	srv.StartTLS()
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	serverCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return &tlsFixture{
		srv:         srv,
		rec:         rec,
		caFile:      testpki.WriteFile(t, dir, "server-ca.pem", serverCA),
		certFile:    testpki.WriteFile(t, dir, "client.pem", client.CertPEM()),
		keyFile:     testpki.WriteFile(t, dir, "client.key", client.KeyPEM()),
		otherCAFile: testpki.WriteFile(t, dir, "other-ca.pem", testpki.NewCA(t, "unrelated CA").CertPEM()),
		client:      client,
	}
}

func TestHTTPMutualTLS(t *testing.T) {
	fx := newTLSFixture(t)
	h := newHTTPTransport(t, ClientOptions{CAFile: fx.caFile, CertFile: fx.certFile, KeyFile: fx.keyFile})
	if err := h.Send(context.Background(), httpDelivery(fx.srv.URL+"/as2", nil), transport.Payload{Body: []byte("signed")}); err != nil {
		t.Fatalf("Send over mutual TLS: %v", err)
	}
	reqs := fx.rec.all()
	if len(reqs) != 1 || string(reqs[0].body) != "signed" {
		t.Fatalf("server saw %+v", reqs)
	}
}

func TestHTTPTLSFailures(t *testing.T) {
	fx := newTLSFixture(t)
	tests := []struct {
		name string
		opts ClientOptions
		want string
	}{
		{"server not signed by the CA file", ClientOptions{CAFile: fx.otherCAFile, CertFile: fx.certFile, KeyFile: fx.keyFile}, "unknown authority"},
		// The CA file replaces the system roots rather than adding to
		// them; without it the self-signed server is untrusted too.
		{"no CA file", ClientOptions{CertFile: fx.certFile, KeyFile: fx.keyFile}, "unknown authority"},
		{"no client certificate", ClientOptions{CAFile: fx.caFile}, "certificate required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHTTPTransport(t, tt.opts)
			// Under TLS 1.3 the server refuses a missing client
			// certificate after the client's handshake has ended: the
			// client may write the request into the closed connection
			// (broken pipe) before it reads the alert. That race is the
			// network's; the alert must come through when it is read.
			var errs []string
			for range 5 {
				err := h.Send(context.Background(), httpDelivery(fx.srv.URL, nil), transport.Payload{Body: []byte("x")})
				if err == nil {
					t.Fatal("Send succeeded")
				}
				if !strings.Contains(err.Error(), testPort) {
					t.Fatalf("error %q does not name the port", err)
				}
				if strings.Contains(err.Error(), tt.want) {
					return
				}
				errs = append(errs, err.Error())
			}
			t.Errorf("no error of 5 mentions %q: %q", tt.want, errs)
		})
	}
	if n := len(fx.rec.all()); n != 0 {
		t.Fatalf("server handled %d requests, want none", n)
	}
}

func TestNewHTTPConstructorErrors(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	c := ca.Issue(t, testpki.Options{CommonName: "client", KeyType: testpki.ECDSAP256})
	other := ca.Issue(t, testpki.Options{CommonName: "other", KeyType: testpki.ECDSAP256})
	dir := t.TempDir()
	certFile := testpki.WriteFile(t, dir, "client.pem", c.CertPEM())
	keyPEM := c.KeyPEM()
	keyFile := testpki.WriteFile(t, dir, "client.key", keyPEM)
	otherKey := testpki.WriteFile(t, dir, "other.key", other.KeyPEM())
	keyAsCert := testpki.WriteFile(t, dir, "swapped.pem", keyPEM)
	garbage := testpki.WriteFile(t, dir, "garbage.pem", []byte("not PEM at all\n"))
	badDER := testpki.WriteFile(t, dir, "bad-der.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}))
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name     string
		opts     ClientOptions
		wantFile string
	}{
		{"key in the cert file", ClientOptions{CertFile: keyAsCert, KeyFile: keyFile}, keyAsCert},
		{"garbage cert file", ClientOptions{CertFile: garbage, KeyFile: keyFile}, garbage},
		{"unparsable certificate", ClientOptions{CertFile: badDER, KeyFile: keyFile}, badDER},
		{"missing cert file", ClientOptions{CertFile: missing, KeyFile: keyFile}, missing},
		{"missing key file", ClientOptions{CertFile: certFile, KeyFile: missing}, missing},
		{"garbage key file", ClientOptions{CertFile: certFile, KeyFile: garbage}, garbage},
		{"cert in the key file", ClientOptions{CertFile: certFile, KeyFile: certFile}, certFile},
		{"key of another certificate", ClientOptions{CertFile: certFile, KeyFile: otherKey}, otherKey},
		{"cert without key", ClientOptions{CertFile: certFile}, certFile},
		{"key without cert", ClientOptions{KeyFile: keyFile}, keyFile},
		{"missing CA file", ClientOptions{CAFile: missing}, missing},
		{"CA file without certificates", ClientOptions{CAFile: keyFile}, keyFile},
		{"negative timeout", ClientOptions{Timeout: -time.Second}, "negative timeout"},
	}
	keyLines := strings.Split(strings.TrimSpace(string(keyPEM)), "\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewClient(tt.opts)
			if err == nil {
				h.Close()
				t.Fatal("NewClient succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantFile) {
				t.Errorf("error %q does not name %s", msg, tt.wantFile)
			}
			if strings.Contains(msg, "-----") {
				t.Errorf("error %q quotes PEM", msg)
			}
			for _, line := range keyLines[1 : len(keyLines)-1] {
				if strings.Contains(msg, line) {
					t.Errorf("error %q contains key material", msg)
				}
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		in   string
		more bool
		want string
	}{
		{"plain", false, "plain"},
		{"  a \r\n\t b  ", false, "a b"},
		{"esc\x1b[0m", false, "esc?[0m"},
		{"bidi\u202eevil", false, "bidi?evil"},
		{"bad utf8 \xff!", false, "bad utf8 ?!"},
		{"héllo wörld", false, "héllo wörld"},
		{strings.Repeat("é", 150), false, strings.Repeat("é", 100) + "..."},
		{"cut rune \xc3", true, "cut rune..."},
		{"short but more follows", true, "short but more follows..."},
	}
	for _, tt := range tests {
		if got := sanitize([]byte(tt.in), 200, tt.more); got != tt.want {
			t.Errorf("sanitize(%q, more=%v) = %q, want %q", tt.in, tt.more, got, tt.want)
		}
	}
}

// TestHTTPFence: the request is sent only when the delivery's fence
// passes, asked right before sending: one that fails sends nothing and
// fails the attempt with its error. The time the fence takes (a renewal of
// the lease) is not the partner's: a fence slower than the request's
// timeout still lets the request go.
func TestHTTPFence(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	h := newHTTPTransport(t, ClientOptions{Timeout: time.Second})
	lapsed := errors.New("lease lapsed")
	for _, tc := range []struct {
		fence    error
		requests int
	}{{lapsed, 0}, {nil, 1}} {
		d := httpDelivery(srv.URL+"/in", nil)
		asked := 0
		d.Fence = func(context.Context) error {
			asked++
			time.Sleep(1200 * time.Millisecond)
			return tc.fence
		}
		err := h.Send(context.Background(), d, transport.Payload{Body: []byte("x")})
		if !errors.Is(err, tc.fence) || asked != 1 {
			t.Errorf("fence %v: Send = %v after asking it %d times, want its error after asking once", tc.fence, err, asked)
		}
		if got := len(rec.all()); got != tc.requests {
			t.Errorf("fence %v: %d requests sent, want %d", tc.fence, got, tc.requests)
		}
	}
}
