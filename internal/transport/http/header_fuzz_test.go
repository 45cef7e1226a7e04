package http

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/transport"
)

// FuzzCheckHeader: a header checkHeader accepts (a payload's field, a
// configured header, one evaluated from a message's properties) is one
// net/http sends as it is: setHeaders applies it and the request goes out
// with it; were net/http to refuse it instead, the delivery would fail on
// every attempt with net/http's vaguer error. What it accepts never carries a
// line break or NUL (header injection); what it refuses is
// ErrInvalidHeader.
func FuzzCheckHeader(f *testing.F) {
	for _, s := range [][2]string{
		{"X-Partner", "fabrikam"}, {"Host", "example.com:8443"}, {"Host", "bücher.example"}, {"Host", "a b"},
		{"X-A", "v\r\nX-Injected: 1"}, {"X-A", "\t tab\xff"}, {"Bad Name", "x"}, {"X-A", "\x7f"},
	} {
		f.Add(s[0], s[1])
	}
	// One connection per request, over a pipe: the far end reads the
	// request's header and answers 204.
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		c, s := net.Pipe()
		go func() {
			defer s.Close()
			br := bufio.NewReader(s)
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == "\r\n" {
					break
				}
			}
			_, _ = s.Write([]byte("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"))
		}()
		return c, nil
	}}
	defer tr.CloseIdleConnections()
	f.Fuzz(func(t *testing.T, name, value string) {
		if len(name) > 256 || len(value) > 1024 {
			return
		}
		err := checkHeader(name, value)
		if err != nil {
			if !errors.Is(err, transport.ErrInvalidHeader) {
				t.Fatalf("checkHeader(%q, %q): %v, not ErrInvalidHeader", name, value, err)
			}
			return
		}
		if strings.ContainsAny(name+value, "\r\n\x00") {
			t.Fatalf("checkHeader accepts %q: %q", name, value)
		}
		req, rerr := http.NewRequest(http.MethodGet, "http://partner.invalid/inbox", nil)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if serr := setHeaders(req, nil, map[string]string{name: value}); serr != nil {
			t.Fatalf("setHeaders(%q: %q): %v", name, value, serr)
		}
		resp, rerr := tr.RoundTrip(req)
		if rerr != nil {
			t.Fatalf("checkHeader accepts %q: %q, which net/http refuses: %v", name, value, rerr)
		}
		resp.Body.Close()
	})
}
