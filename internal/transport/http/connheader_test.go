package http

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// TestHTTPConnectionHeaders: a configured header that belongs to the
// connection is refused the same way whether the partner speaks HTTP/1.1
// (where net/http would drop it or send it) or HTTP/2 (where net/http
// refuses the request with an error quoting the value, a sensitive one
// too, at every attempt): before anything is sent, naming the header and
// never its value, as a failure every attempt would repeat. Connection:
// close and keep-alive, which both take, are still sent.
func TestHTTPConnectionHeaders(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		rec := &recorder{}
		var wrong atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if (r.ProtoMajor == 2) != h2 {
				wrong.Add(1)
			}
			rec.ServeHTTP(w, r)
		}))
		srv.EnableHTTP2 = h2
		srv.StartTLS()
		defer srv.Close()
		ca := testpki.WriteFile(t, t.TempDir(), "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
		h := newHTTPTransport(t, ClientOptions{CAFile: ca})
		proto := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
		for _, tt := range []struct {
			name, value string
			ok          bool
		}{
			{"Connection", "SECRETVALUE", false},
			{"connection", "Upgrade, SECRETVALUE", false},
			{"Upgrade", "SECRETVALUE", false},
			{"Transfer-Encoding", "SECRETVALUE", false},
			{"Transfer-Encoding", "chunked", false},
			{"Connection", "close", true},
			{"Connection", "Keep-Alive", true},
		} {
			d := httpDelivery(srv.URL+"/in", map[string]string{tt.name: tt.value})
			d.HeadersSensitive = true
			before := len(rec.all())
			err := h.Send(context.Background(), d, transport.Payload{Body: []byte("x")})
			sent := len(rec.all()) - before
			if tt.ok {
				if err != nil || sent != 1 {
					t.Errorf("%s: %s: %s: Send = %v with %d requests, want it delivered", proto, tt.name, tt.value, err, sent)
				}
				continue
			}
			if err == nil || sent != 0 {
				t.Errorf("%s: %s: %s: Send = %v with %d requests, want it refused before sending", proto, tt.name, tt.value, err, sent)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, `"`+tt.name+`"`) || strings.Contains(msg, "SECRETVALUE") {
				t.Errorf("%s: %s: error %q does not name the header, or quotes its value", proto, tt.name, msg)
			}
			if !transport.Permanent(err) {
				t.Errorf("%s: %s: error %q is not permanent: every attempt would fail the same", proto, tt.name, err)
			}
		}
		if wrong.Load() != 0 {
			t.Errorf("%d requests did not arrive over %s", wrong.Load(), proto)
		}
	}
}
