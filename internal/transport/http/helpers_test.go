package http

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// rawConn opens a connection to addr and writes req on it: a client that
// sends what it likes and then, perhaps, nothing more. It is closed when
// the test ends.
func rawConn(t *testing.T, addr string, req ...[]byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, b := range req {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// readStatus reads the answer on c. The deadline only turns a server that
// never answers into a failure instead of a hung test.
func readStatus(c net.Conn) (int, error) {
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// header is a POST request's head; length < 0 means chunked.
func header(length int) []byte {
	if length < 0 {
		return []byte("POST /orders HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
	}
	return fmt.Appendf(nil, "POST /orders HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", length)
}

// chunk is one chunk of a chunked body.
func chunk(data []byte) []byte {
	return append(fmt.Appendf(nil, "%x\r\n", len(data)), append(data, "\r\n"...)...)
}
