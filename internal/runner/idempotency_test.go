package runner_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
)

// TestHTTPIdempotencyKeyComparedWithTheBox: through the runner's sink, a
// repeated Idempotency-Key with the same body is replayed, and one with
// another body of the same length is refused 422 and stores nothing.
func TestHTTPIdempotencyKeyComparedWithTheBox(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+allToFiles+`
receive_location "web" {
  host         = host.h
  content_type = "application/xml"
  transport "http" {
    listen = "127.0.0.1:{{.Port}}"
    path   = "/orders"
  }
}
`, map[string]string{"Port": freePort(t)})
	r, box := start(t, dir)
	defer runInBackground(t, r)()
	url := "http://127.0.0.1:" + portOf(t, dir) + "/orders"
	waitListening(t, url)
	send := func(body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Idempotency-Key", "order-1")
		resp, _ := testhttp.Do(t, http.DefaultClient, req)
		return resp
	}
	first := send("<order>1</order>")
	same := send("<order>1</order>")
	other := send("<order>2</order>")
	if first.StatusCode != http.StatusAccepted || same.StatusCode != http.StatusAccepted || same.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("first %s, same body again %s (replayed %q); want 202, 202 replayed", first.Status, same.Status, same.Header.Get("Idempotent-Replayed"))
	}
	if other.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("another body under the key: %s, want 422", other.Status)
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 {
		t.Errorf("%d messages (%v), want 1", len(msgs), err)
	}
}
