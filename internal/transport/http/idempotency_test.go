package http

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// TestHTTPIdempotencyKey: with the real message box as the sink, a POST
// repeated with the same Idempotency-Key stores one message and answers
// both with its id; without a key every POST is a new message; a malformed
// key is refused and stores nothing.
func TestHTTPIdempotencyKey(t *testing.T) {
	box, err := sqlitebox.Open(filepath.Join(t.TempDir(), "box.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	_, base, _ := startHTTP(t, httpOpts(), transport.SinkFunc(func(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
		return box.ReceiveRouted(ctx, in, body, nil)
	}))
	url := base + "/orders"
	send := func(body string, hdr http.Header) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = hdr
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	key := func(k ...string) http.Header { return http.Header{IdempotencyKeyHeader: k} }
	count := func() int {
		t.Helper()
		msgs, err := box.List(t.Context(), msgbox.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	}

	first := send("<order>1</order>", key("3f2a-order-1"))
	id := first.Header.Get(MessageIDHeader)
	if first.StatusCode != http.StatusAccepted || id == "" || first.Header.Get(ReplayedHeader) != "" {
		t.Fatalf("first POST: %s, id %q, %s %q; want 202 with an id, not replayed", first.Status, id, ReplayedHeader, first.Header.Get(ReplayedHeader))
	}
	// The client did not get the answer and sends again: same message.
	again := send("<order>1 (resent)</order>", key("3f2a-order-1"))
	if again.StatusCode != http.StatusAccepted || again.Header.Get(MessageIDHeader) != id || again.Header.Get(ReplayedHeader) != "true" {
		t.Fatalf("repeat: %s, id %q, %s %q; want 202, id %s, replayed", again.Status, again.Header.Get(MessageIDHeader),
			ReplayedHeader, again.Header.Get(ReplayedHeader), id)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d messages stored after a repeated key, want 1", n)
	}
	rc, err := box.Body(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	if string(stored) != "<order>1</order>" {
		t.Errorf("stored body %q, want the first request's", stored)
	}

	// Another key, and no key (twice): new messages each.
	if other := send("<order>2</order>", key("3f2a-order-2")); other.Header.Get(MessageIDHeader) == id {
		t.Errorf("another key answered with the first message's id")
	}
	send("<order>3</order>", http.Header{})
	send("<order>3</order>", http.Header{})
	if n := count(); n != 4 {
		t.Errorf("%d messages stored, want 4", n)
	}

	for name, hdr := range map[string]http.Header{
		"empty":     key(""),
		"space":     key("order 1"),
		"non-ASCII": key("ordér-1"),
		"too long":  key(strings.Repeat("k", maxIdempotencyKey+1)),
		"two":       key("a", "b"),
	} {
		if resp := send("<order/>", hdr); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s key: %s, want 400", name, resp.Status)
		}
	}
	if n := count(); n != 4 {
		t.Errorf("%d messages stored after malformed keys, want still 4", n)
	}
	// The longest key allowed is accepted.
	if resp := send("<order/>", key(strings.Repeat("k", maxIdempotencyKey))); resp.StatusCode != http.StatusAccepted {
		t.Errorf("a %d-byte key: %s, want 202", maxIdempotencyKey, resp.Status)
	}
}
