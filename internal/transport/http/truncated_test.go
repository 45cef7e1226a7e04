package http

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestHTTPTruncatedUpload: a client that declares a length and hangs up
// before sending all of it (a dropped connection, a killed client) leaves
// nothing in the box — not a message with part of a body — whether the
// part sent fits in what the receiver spools or already streamed into the
// box; and the location goes on receiving.
func TestHTTPTruncatedUpload(t *testing.T) {
	for _, sent := range []int{100, 3 << 20} {
		t.Run(strconv.Itoa(sent), func(t *testing.T) {
			box := transporttest.NewBox(t)
			o := httpOpts()
			o.MaxBody = 64 << 20
			h, base, _ := startHTTP(t, o, transporttest.BoxSink{Box: box})
			conn, err := net.Dial("tcp", h.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n", sent+1000)
			if _, err := conn.Write(bytes.Repeat([]byte("x"), sent)); err != nil {
				t.Fatal(err)
			}
			conn.(*net.TCPConn).CloseWrite()
			// Whatever the answer, if any, nothing may be stored.
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, conn)
			conn.Close()
			resp, _ := post(t, base+"/orders", "application/xml", bytes.NewReader([]byte("<order/>")), nil)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("a whole POST after the truncated one: %s", resp.Status)
			}
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 || msgs[0].Size != int64(len("<order/>")) {
				t.Fatalf("box holds %d messages (%+v), want only the whole one", len(msgs), msgs)
			}
		})
	}
}
