package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/transport"
)

// TestHTTPTimeoutDuringUpload: a partner that takes the request's header
// and then reads its body too slowly for the timeout fails the attempt
// with an error that says the body was still being sent, and how much of
// it was, rather than that no response came, which sends an operator
// looking at the partner's processing instead of the upload's speed. One
// that never completes the TLS handshake has none of the body sent, and is
// not said to be slow to read it.
func TestHTTPTimeoutDuringUpload(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// A small receive window: the body cannot hide in the kernel's
		// buffers.
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		if _, err := http.ReadRequest(bufio.NewReaderSize(c, 4<<10)); err != nil {
			return
		}
		<-stop // the body is never read
	}()
	const size = 32 << 20
	h := newHTTPTransport(t, ClientOptions{Timeout: time.Second, SpoolDir: t.TempDir()})
	w, err := h.Begin(context.Background(), httpDelivery("http://"+ln.Addr().String()+"/in", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range size / len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	err = w.Commit(context.Background())
	if err == nil {
		t.Fatal("a POST whose body the partner never read succeeded")
	}
	msg := err.Error()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(msg, "the body was not sent within 1s") ||
		!strings.Contains(msg, fmt.Sprintf("of %d bytes sent", size)) || strings.Contains(msg, "no response") {
		t.Fatalf("error %q does not say that the upload did not end within the timeout", msg)
	}

	// The same listener, which accepts and then says nothing, for TLS.
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			<-stop
		}
	}()
	err = h.Send(context.Background(), httpDelivery("https://"+ln.Addr().String()+"/in", nil), transport.Payload{Body: chunk})
	if msg := fmt.Sprint(err); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(msg, "no response within 1s") {
		t.Fatalf("error %q to a partner that never completes the handshake is not a timeout waiting for it", msg)
	}
}
