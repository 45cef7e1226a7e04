package http

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// TestHTTPProxyFromEnvironment: as documented, a send port reaches its
// partner through the proxy HTTP_PROXY names (with its credentials), and a
// loopback partner directly.
func TestHTTPProxyFromEnvironment(t *testing.T) {
	if !testhttp.InChild(t, "BIZPIPE_TEST_PROXY_CHILD", "TestHTTPProxyFromEnvironment") {
		return
	}
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.String()+" "+r.Header.Get("Proxy-Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer proxy.Close()
	direct := &recorder{}
	partner := httptest.NewServer(direct)
	defer partner.Close()
	testhttp.ViaProxy(t, proxy.URL)

	h := newHTTPTransport(t, ClientOptions{})
	for _, url := range []string{"http://partner.invalid/in?x=1", partner.URL + "/in"} {
		if err := h.Send(context.Background(), httpDelivery(url, nil), transport.Payload{Body: []byte("x")}); err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// "user:pw" in Basic authentication.
	if want := []string{"POST http://partner.invalid/in?x=1 Basic dXNlcjpwdw=="}; strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("the proxy saw %q, want %q", seen, want)
	}
	if n := len(direct.all()); n != 1 {
		t.Errorf("the loopback partner saw %d requests, want 1 (directly)", n)
	}
}
