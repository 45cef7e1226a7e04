package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
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

// TestServingHTTP2Windows: over TLS, HTTP/2 is served with windows of
// h2Window, for each request (SETTINGS_INITIAL_WINDOW_SIZE) and for the
// connection (its initial 65,535 bytes and the WINDOW_UPDATEs that follow
// the server's SETTINGS): HTTP/2 reads bodies ahead of the handler up to
// them, outside the Budget. A body many windows long still arrives whole.
func TestServingHTTP2Windows(t *testing.T) {
	certFile, keyFile, pool := tlsFiles(t)
	var s Serving
	if _, err := s.Start(context.Background(), ServeOptions{Location: "in", Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%s %d %v", r.Proto, n, err)
		})}); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	addr := s.Addr().String()

	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// The preface, empty SETTINGS, and a PING: the server answers it
	// after what it sends first.
	const (
		frameSettings     = 0x4
		framePing         = 0x6
		frameWindowUpdate = 0x8
		flagAck           = 0x1
		settingWindow     = 0x4
		initialWindow     = 65535
	)
	frame := func(typ, flags byte, payload []byte) []byte {
		return append([]byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}, payload...)
	}
	hello := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(frameSettings, 0, nil)...)
	hello = append(hello, frame(framePing, 0, make([]byte, 8))...)
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	var streamWindow int64 = -1
	connWindow := int64(initialWindow)
	for {
		var h [9]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, int(h[0])<<16|int(h[1])<<8|int(h[2]))
		if _, err := io.ReadFull(c, payload); err != nil {
			t.Fatal(err)
		}
		typ, flags, stream := h[3], h[4], binary.BigEndian.Uint32(h[5:])&(1<<31-1)
		switch {
		case typ == frameSettings && flags&flagAck == 0:
			for p := payload; len(p) >= 6; p = p[6:] {
				if binary.BigEndian.Uint16(p) == settingWindow {
					streamWindow = int64(binary.BigEndian.Uint32(p[2:]))
				}
			}
		case typ == frameWindowUpdate && stream == 0:
			connWindow += int64(binary.BigEndian.Uint32(payload) & (1<<31 - 1))
		}
		if typ == framePing && flags&flagAck != 0 {
			break
		}
	}
	if streamWindow < 0 || streamWindow > h2Window {
		t.Errorf("SETTINGS_INITIAL_WINDOW_SIZE %d (-1: not sent), want at most %d", streamWindow, h2Window)
	}
	if connWindow > h2Window {
		t.Errorf("connection window %d, want at most %d", connWindow, h2Window)
	}

	// Go's client over those windows.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	const size = 40 * h2Window
	resp, err := client.Post("https://"+addr+"/", "application/octet-stream", bytes.NewReader(make([]byte, size)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("HTTP/2.0 %d <nil>", size); string(b) != want {
		t.Errorf("answered %q, want %q", b, want)
	}
}
