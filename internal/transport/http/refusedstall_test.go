package http

import (
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestHTTPRefusedStalledBody: a request refused before its body is read
// (another path, a malformed Content-Type or Idempotency-Key) whose
// client then sends no byte of its body is answered at once, not held
// until request_timeout while net/http waits to discard the body.
func TestHTTPRefusedStalledBody(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		want       int
	}{
		{"another path", "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 404},
		{"another method", "PUT /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 405},
		{"malformed Content-Type", "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: garbage\r\nContent-Length: 100\r\n\r\n", 400},
		{"malformed Idempotency-Key", "POST /orders HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\r\nIdempotency-Key: b\r\nContent-Length: 100\r\n\r\n", 400},
		{"chunked, another path", "POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := httpOpts()
			o.BodyIdleTimeout = 500 * time.Millisecond
			o.RequestTimeout = 20 * time.Second
			h, _, _ := startHTTP(t, o, transporttest.NewRecorder())
			c := rawConn(t, h.Addr().String(), []byte(tc.head))
			start := time.Now()
			code, err := readStatus(c)
			took := time.Since(start)
			if err != nil || code != tc.want {
				t.Fatalf("answer %d, %v; want %d", code, err, tc.want)
			}
			if took > 5*time.Second {
				t.Errorf("answered after %v: held until request_timeout, not the body idle timeout", took.Round(time.Second))
			}
		})
	}
}
