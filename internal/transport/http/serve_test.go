package http

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// tlsFiles writes a TLS server certificate for 127.0.0.1 and its key
// (testpki.ServerTLS), and returns their paths and a pool trusting it.
func tlsFiles(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certFile, keyFile, c := testpki.ServerTLS(t)
	pool = x509.NewCertPool()
	pool.AddCert(c.Cert)
	return certFile, keyFile, pool
}

type ctxKey struct{}

// TestServing: the lifecycle both receive transports over HTTP share.
// Plain or TLS as asked, with the receive limits; requests see the
// values of Start's context but not its cancellation; the base context
// Start returns ends with Shutdown; a second Shutdown answers as the
// first; errors name the location and address.
func TestServing(t *testing.T) {
	certFile, keyFile, pool := tlsFiles(t)
	for _, tc := range []struct {
		name   string
		tls    bool
		scheme string
	}{
		{"plain", false, "http"},
		{"tls", true, "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What the request's context was while it ran.
			type seenCtx struct {
				value any
				err   error
			}
			seen := make(chan seenCtx, 4)
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- seenCtx{r.Context().Value(ctxKey{}), r.Context().Err()}
				_, _ = io.WriteString(w, "ok")
			})
			o := ServeOptions{Location: "in", Listen: "127.0.0.1:0", Handler: handler, Name: "test"}
			if tc.tls {
				o.CertFile, o.KeyFile = certFile, keyFile
			}
			var s Serving
			if s.Addr() != nil {
				t.Fatal("an address before Start")
			}
			ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
			base, err := s.Start(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Start(ctx, o); err == nil || !strings.Contains(err.Error(), `receive location "in": already started`) {
				t.Errorf("second Start: %v", err)
			}
			if s.srv.ReadHeaderTimeout != readHeaderTimeout || s.srv.ReadTimeout != DefaultRequestTimeout || s.srv.WriteTimeout != DefaultRequestTimeout+writeMargin ||
				s.srv.IdleTimeout != idleTimeout || s.srv.MaxHeaderBytes != maxHeaderBytes {
				t.Errorf("server limits %+v", s.srv)
			}
			cancel() // a stopping runner: requests go on
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			defer client.CloseIdleConnections()
			resp, err := client.Get(tc.scheme + "://" + s.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(b) != "ok" {
				t.Fatalf("GET: %s %q", resp.Status, b)
			}
			if rctx := <-seen; rctx.value != "v" || rctx.err != nil {
				t.Errorf("request context: value %v, err %v", rctx.value, rctx.err)
			}
			// The other scheme is not served.
			other := map[string]string{"http": "https", "https": "http"}[tc.scheme]
			if resp, err := client.Get(other + "://" + s.Addr().String() + "/"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Errorf("%s served on a %s location", other, tc.scheme)
				}
			}
			if base.Err() != nil {
				t.Fatal("base context ended before Shutdown")
			}
			for i := range 2 {
				if err := s.Shutdown(context.Background()); err != nil {
					t.Fatalf("Shutdown %d: %v", i+1, err)
				}
			}
			if base.Err() == nil {
				t.Error("base context still live after Shutdown")
			}
		})
	}
}

// TestServingErrors: an address in use, or a TLS certificate or key that
// cannot be loaded, is a Start error naming the location and the address
// or files, and nothing is left to shut down; serving that fails after
// the start (its listener gone) is logged under the transport's name and
// reported by every Shutdown.
func TestServingErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var s Serving
	if _, err := s.Start(context.Background(), ServeOptions{Location: "in", Listen: busy.Addr().String(), Handler: http.NotFoundHandler()}); err == nil ||
		!strings.Contains(err.Error(), `receive location "in": listening on `+busy.Addr().String()) {
		t.Errorf("Start on a busy address: %v", err)
	}
	if s.Addr() != nil || s.Shutdown(context.Background()) != nil {
		t.Error("a failed Start left something to shut down")
	}

	log, lr := transporttest.NewLog()
	var broken Serving
	if _, err := broken.Start(context.Background(), ServeOptions{Location: "in", Listen: "127.0.0.1:0",
		Handler: http.NotFoundHandler(), Log: log, Name: "as2"}); err != nil {
		t.Fatal(err)
	}
	broken.ln.Close() // serving ends with an accept error
	for deadline := time.Now().Add(10 * time.Second); lr.Count(slog.LevelError, "as2 receive location stopped serving") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the serving failure was not logged")
		}
	}
	for i := range 2 {
		if err := broken.Shutdown(context.Background()); err == nil || !strings.Contains(err.Error(), `receive location "in": serving: `) {
			t.Errorf("Shutdown %d after serving failed: %v", i+1, err)
		}
	}

	// A TLS certificate or key that cannot be loaded fails Start, naming
	// the location and the files, and nothing listens: a port left open
	// unanswered would hang the partners' connections.
	certFile, keyFile, _ := tlsFiles(t)
	garbage := filepath.Join(t.TempDir(), "garbage.key")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, cert, key string }{
		{"missing key", certFile, filepath.Join(t.TempDir(), "missing.key")},
		{"garbage key", certFile, garbage},
		{"key as certificate", keyFile, keyFile},
	} {
		probe, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := probe.Addr().String()
		probe.Close()
		var bad Serving
		_, err = bad.Start(context.Background(), ServeOptions{Location: "in", Listen: addr, Handler: http.NotFoundHandler(),
			Name: "as2", CertFile: tc.cert, KeyFile: tc.key})
		if err == nil || !strings.Contains(err.Error(), `receive location "in": loading the TLS certificate `+tc.cert) ||
			!strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: Start = %v; want an error naming the location and the files", tc.name, err)
		}
		if bad.Addr() != nil || bad.Shutdown(context.Background()) != nil {
			t.Errorf("%s: a failed Start left something to shut down", tc.name)
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s: %s accepts connections after the failed Start", tc.name, addr)
		}
	}
}

// TestServingShutdownDeadline: a request still running when Shutdown's
// context ends is aborted (its context cancelled), and the error wraps
// that context's.
func TestServingShutdownDeadline(t *testing.T) {
	started, aborted := make(chan struct{}), make(chan struct{})
	var s Serving
	if _, err := s.Start(context.Background(), ServeOptions{Location: "in", Listen: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-r.Context().Done()
			close(aborted)
		})}); err != nil {
		t.Fatal(err)
	}
	go func() {
		if resp, err := http.Get("http://" + s.Addr().String() + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "requests in flight") {
		t.Errorf("Shutdown = %v, want the deadline, with requests in flight", err)
	}
	select {
	case <-aborted:
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight was not aborted")
	}
}
