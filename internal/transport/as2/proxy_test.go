package as2

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/message/messagetest"
)

// proxyChildEnv marks the process TestAS2ProxyFromEnvironment starts:
// net/http reads the proxy variables once per process, so they are set
// for a process of their own.
const proxyChildEnv = "BIZPIPE_TEST_AS2_PROXY_CHILD"

// TestAS2ProxyFromEnvironment: as documented, an as2 send port reaches its
// partner through the proxy HTTP_PROXY names (with its credentials), as
// transport "http" does, and a loopback partner directly.
func TestAS2ProxyFromEnvironment(t *testing.T) {
	if os.Getenv(proxyChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAS2ProxyFromEnvironment$", "-test.count=1")
		cmd.Env = append(os.Environ(), proxyChildEnv+"=1")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
			t.Fatalf("%v\n%s", err, out)
		}
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
	for _, name := range []string{"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		t.Setenv(name, "")
	}
	t.Setenv("HTTP_PROXY", strings.Replace(proxy.URL, "http://", "http://user:pw@", 1))

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
