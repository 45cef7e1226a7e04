package http

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestServingHTTP2StreamsPerConnection: over TLS, one HTTP/2 connection
// carries at most h2MaxStreams requests at once. max_connections bounds
// what a flood of clients holds (each request its handler, its header of
// up to 64 KiB, its upload waiting for the Budget): with Go's default of
// 250 streams a connection, each of the max_connections would hold 250
// requests, and a header list HPACK decodes to 64 KiB costs a client a
// few bytes.
func TestServingHTTP2StreamsPerConnection(t *testing.T) {
	certFile, keyFile, pool := tlsFiles(t)
	var running, peak atomic.Int64
	release := make(chan struct{})
	var s Serving
	if _, err := s.Start(context.Background(), ServeOptions{Location: "in", Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile,
		MaxConnections: 1,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			<-release
			running.Add(-1)
		})}); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	const clients = 40
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post("https://"+s.Addr().String()+"/", "text/plain", http.NoBody)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	time.Sleep(2 * time.Second) // the requests arrive, as many as the server takes
	got := peak.Load()
	close(release)
	wg.Wait()
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Shutdown(ctx)
	if got > h2MaxStreams {
		t.Errorf("%d requests served at once with max_connections 1; want at most %d (one HTTP/2 connection's streams)", got, h2MaxStreams)
	}
}
