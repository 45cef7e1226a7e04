package http

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/testhttp"

	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// rawPartner is a testhttp.RawPartner answering every request with
// answer; it returns the URL to POST to.
func rawPartner(t *testing.T, answer string) string {
	t.Helper()
	addr, _ := testhttp.RawPartner(t, answer)
	return "http://" + addr + "/inbox"
}

// A partner that answers a POST 101 Switching Protocols hands the client
// the bare connection as the response's body, which the request's timeout
// no longer covers: the attempt fails at once, without waiting for the
// partner to say more, instead of hanging its worker for good.
func TestHTTPSwitchingProtocolsFailsAtOnce(t *testing.T) {
	url := rawPartner(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	h := newHTTPTransport(t, ClientOptions{})
	done := make(chan error, 1)
	go func() {
		done <- h.Send(context.Background(), httpDelivery(url, nil), transport.Payload{Body: []byte("x")})
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second): // a liveness check: the attempt never waits for the partner
		t.Fatal("Send still waits for a partner that answered 101 and went silent")
	}
	var serr *StatusError
	if !errors.As(err, &serr) || serr.StatusCode != 101 {
		t.Fatalf("Send: %v, want a *StatusError for HTTP 101", err)
	}
	if !strings.Contains(err.Error(), "HTTP 101 Switching Protocols") {
		t.Errorf("error %q does not name the status", err)
	}
}

// The status line and Location of a partner's answer are its own text,
// up to the bound on a response's header: the error, which
// the box keeps with every attempt and the log repeats, quotes at most
// 200 printable bytes of each, as it does of the body.
func TestHTTPAnswerQuotedBounded(t *testing.T) {
	long := strings.Repeat("R", maxResponseHeader/2) // under the bound on a header
	tests := []struct {
		name, answer string
		want         string
	}{
		{"reason", "HTTP/1.1 500 " + long + "\r\nContent-Length: 0\r\n\r\n", "HTTP 500 RRRR"},
		{"reason with escapes", "HTTP/1.1 500 Bad\x1b]0;pwned\a\x1b[31m gateway\r\nContent-Length: 0\r\n\r\n", "HTTP 500 Bad?]0;pwned??[31m gateway"},
		{"location", "HTTP/1.1 302 Found\r\nLocation: /" + long + "\r\nContent-Length: 0\r\n\r\n", "Location: http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHTTPTransport(t, ClientOptions{})
			err := h.Send(context.Background(), httpDelivery(rawPartner(t, tt.answer), nil), transport.Payload{Body: []byte("x")})
			var serr *StatusError
			if !errors.As(err, &serr) {
				t.Fatalf("Send: %v, want a *StatusError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %.300q does not contain %q", err, tt.want)
			}
			if len(serr.Status) > maxExcerpt+3 || len(serr.Location) > maxExcerpt+3 {
				t.Errorf("Status has %d bytes and Location %d, want at most %d each", len(serr.Status), len(serr.Location), maxExcerpt+3)
			}
			if n := len(err.Error()); n > 600 {
				t.Errorf("error has %d bytes: %.300q", n, err)
			}
			for _, r := range err.Error() {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("error %q holds control character %q", err, r)
				}
			}
		})
	}
}

// A malformed answer fails the attempt with net/http's error, which quotes
// the partner's bytes (%q) with no bound but the header's: the error keeps
// its start and its end, not a header's worth the box would keep with
// every attempt.
func TestHTTPMalformedAnswerErrorBounded(t *testing.T) {
	long := strings.Repeat("G", maxResponseHeader/2) // under the bound on a header
	tests := []struct {
		name, answer string
		want         string
	}{
		{"status line", "HELLO " + long + "\r\n\r\n", "malformed HTTP status code"},
		{"header line", "HTTP/1.1 500 Oops\r\nContent-Length: 5\r\nBad Header " + long + "\r\n\r\n", "malformed MIME header"},
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5x" + long + "\r\n\r\n", "bad Content-Length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHTTPTransport(t, ClientOptions{})
			err := h.Send(context.Background(), httpDelivery(rawPartner(t, tt.answer), nil), transport.Payload{Body: []byte("x")})
			if err == nil {
				t.Fatal("Send of a malformed answer succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, testPort) {
				t.Errorf("error %.300q does not name the port and %q", msg, tt.want)
			}
			if len(msg) > 1200 {
				t.Errorf("error has %d bytes: %.300q", len(msg), msg)
			}
		})
	}
}

// A partner's answer may not make the client hold megabytes of header
// (net/http's default allows 10 MiB, some 70 MiB of allocations to parse):
// over HTTP/1.1 and HTTP/2 alike, a header above maxResponseHeader fails
// the attempt.
func TestHTTPAnswerHeaderBounded(t *testing.T) {
	big := strings.Repeat("H", 1<<20)
	t.Run("HTTP/1.1", func(t *testing.T) {
		h := newHTTPTransport(t, ClientOptions{})
		url := rawPartner(t, "HTTP/1.1 202 Accepted\r\nX-Big: "+big+"\r\nContent-Length: 0\r\n\r\n")
		err := h.Send(context.Background(), httpDelivery(url, nil), transport.Payload{Body: []byte("x")})
		if err == nil || !strings.Contains(err.Error(), "exceeded") {
			t.Fatalf("Send: %v, want the header refused", err)
		}
	})
	t.Run("HTTP/2", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor != 2 {
				http.Error(w, "not HTTP/2", http.StatusHTTPVersionNotSupported)
				return
			}
			w.Header().Set("X-Big", big)
			w.WriteHeader(http.StatusAccepted)
		}))
		srv.EnableHTTP2 = true
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		caFile := testpki.WriteFile(t, t.TempDir(), "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
		h := newHTTPTransport(t, ClientOptions{CAFile: caFile})
		err := h.Send(context.Background(), httpDelivery(srv.URL, nil), transport.Payload{Body: []byte("x")})
		if err == nil || strings.Contains(err.Error(), "not HTTP/2") {
			t.Fatalf("Send: %v, want the header refused", err)
		}
	})
}
