package as2

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/message/messagetest"
	"github.com/bizpipe/bizpipe/internal/testhttp"
)

// TestAS2ProxyFromEnvironment: as documented, an as2 send port reaches its
// partner through the proxy HTTP_PROXY names (with its credentials), as
// transport "http" does, and a loopback partner directly.
func TestAS2ProxyFromEnvironment(t *testing.T) {
	if !testhttp.InChild(t, "BIZPIPE_TEST_AS2_PROXY_CHILD", "TestAS2ProxyFromEnvironment") {
		return
	}
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.String()+" "+r.Header.Get("AS2-To")+" "+r.Header.Get("Proxy-Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer proxy.Close()
	var direct int
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		direct++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer partner.Close()
	testhttp.ViaProxy(t, proxy.URL)

	for _, url := range []string{"http://partner.invalid/as2", partner.URL + "/as2"} {
		err := sendOnce(t, map[string]any{"url": value.Known[message.Template](messagetest.Text(url), hcl.Range{}),
			"mdn": value.Known("none", hcl.Range{})})
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// "user:pw" in Basic authentication.
	if want := []string{"POST http://partner.invalid/as2 FABRIKAM Basic dXNlcjpwdw=="}; strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("the proxy saw %q, want %q", seen, want)
	}
	if direct != 1 {
		t.Errorf("the loopback partner saw %d requests, want 1 (directly)", direct)
	}
}
