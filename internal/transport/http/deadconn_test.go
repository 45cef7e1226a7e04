package http

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// blackhole relays TCP connections to target until silence is called:
// from then on the connections it relays carry nothing more, in either
// direction, and stay open, as when a firewall or a NAT on the way forgets
// a connection and drops its packets. Connections opened later are relayed
// as usual.
type blackhole struct {
	ln     net.Listener
	mu     sync.Mutex
	silent chan struct{} // closed by silence
	conns  []net.Conn
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, silent: make(chan struct{})}
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			b.mu.Lock()
			b.conns = append(b.conns, in, out)
			silent := b.silent
			b.mu.Unlock()
			go relay(out, in, silent)
			go relay(in, out, silent)
		}
	}()
	return b
}

// relay copies src to dst until silent is closed; what it reads then is
// dropped.
func relay(dst, src net.Conn, silent <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		select {
		case <-silent:
			_, _ = io.Copy(io.Discard, src)
			return
		default:
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// silence makes the connections open now carry nothing more.
func (b *blackhole) silence() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.silent)
	b.silent = make(chan struct{})
}

// TestHTTPDeadConnectionAbandoned: a pooled connection that goes silent
// (the partner or a firewall on the way drops its packets without a
// reset) costs the delivery that meets it, and then is abandoned, over
// HTTP/2 as over HTTP/1.1: later deliveries open a new connection and are
// delivered. Over HTTP/2 net/http would otherwise keep sending every
// request of the port to it, each waiting for its timeout.
func TestHTTPDeadConnectionAbandoned(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		rec := &recorder{}
		srv := httptest.NewUnstartedServer(rec)
		srv.EnableHTTP2 = h2
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // connections cut by the test
		srv.StartTLS()
		defer srv.Close()
		hole := newBlackhole(t, srv.Listener.Addr().String())
		ca := testpki.WriteFile(t, t.TempDir(), "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
		h := newHTTPTransport(t, ClientOptions{CAFile: ca, Timeout: time.Second})
		url := "https://" + hole.ln.Addr().String() + "/in"
		send := func() error {
			return h.Send(context.Background(), httpDelivery(url, nil), transport.Payload{Body: []byte("x")})
		}
		if err := send(); err != nil {
			t.Fatalf("h2 %v: first delivery: %v", h2, err)
		}
		hole.silence()
		// The first delivery after the silence may meet the dead
		// connection, and fail; within a bounded number of attempts one
		// must be delivered over a new one.
		const attempts = 20
		var err error
		for i := 0; i < attempts; i++ {
			if err = send(); err == nil {
				break
			}
		}
		if err != nil {
			t.Errorf("h2 %v: %d deliveries after the connection went silent all failed, the last with %v", h2, attempts, err)
		}
	}
}
