package http

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestClientHTTP2Windows: over HTTP/2 a partner may send only 64 KiB of an
// answer ahead of what a delivery reads, per stream and per connection,
// not Go's default 4 MiB a stream (and 1 GiB a connection): the answer to
// a delivery is read up to an excerpt, and a partner must not fill the
// memory of every delivery in flight. The test is the partner: it reads
// the client's SETTINGS and its first WINDOW_UPDATE by hand.
func TestClientHTTP2Windows(t *testing.T) {
	certFile, keyFile, _ := tlsFiles(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := NewClient(ClientOptions{CAFile: certFile, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "https://"+ln.Addr().String()+"/", nil)
		req.Host = "localhost"
		if resp, err := c.client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	preface := make([]byte, len("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	if _, err := io.ReadFull(br, preface); err != nil {
		t.Fatalf("reading the preface: %v (negotiated %q)", err, conn.(*tls.Conn).ConnectionState().NegotiatedProtocol)
	}
	const (
		frameSettings     = 0x4
		frameWindowUpdate = 0x8
		settingWindow     = 0x4
		defaultWindow     = 65535
	)
	streamWindow, connWindow := uint32(defaultWindow), uint32(defaultWindow)
	// The client's SETTINGS come first; a WINDOW_UPDATE on the connection
	// may follow, before its request's HEADERS.
	for seen := 0; seen < 3; seen++ {
		var head [9]byte
		if _, err := io.ReadFull(br, head[:]); err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, int(head[0])<<16|int(head[1])<<8|int(head[2]))
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		switch head[3] {
		case frameSettings:
			for i := 0; i+6 <= len(payload); i += 6 {
				if binary.BigEndian.Uint16(payload[i:]) == settingWindow {
					streamWindow = binary.BigEndian.Uint32(payload[i+2:])
				}
			}
		case frameWindowUpdate:
			if binary.BigEndian.Uint32(head[5:])&0x7fffffff == 0 {
				connWindow += binary.BigEndian.Uint32(payload) & 0x7fffffff
			}
		default:
			seen = 3 // the request: the settings are all said
		}
	}
	// Go grants the connection its limit beyond the initial window
	// every connection starts with.
	const limit = 64 << 10
	if streamWindow > limit || connWindow > defaultWindow+limit {
		t.Errorf("the client lets a partner send %d bytes a stream and %d a connection ahead, want at most %d and %d",
			streamWindow, connWindow, limit, defaultWindow+limit)
	}
}
