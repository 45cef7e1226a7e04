package http

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestHTTPIdempotencyKey: with the real message box as the sink, a POST
// repeated with the same Idempotency-Key stores one message and answers
// both with its id; without a key every POST is a new message; a malformed
// key is refused and stores nothing.
func TestHTTPIdempotencyKey(t *testing.T) {
	box := transporttest.NewBox(t)
	_, base, _ := startHTTP(t, httpOpts(), boxSink{box})
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
		msgs, err := msgbox.Collect(t.Context(), box, msgbox.Filter{})
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
	again := send("<order>1</order>", key("3f2a-order-1"))
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

// boxSink is the runner's sink in small: Publish stores in box, and Body
// opens a stored body (transport.BodySink).
type boxSink struct{ box *sqlitebox.Box }

func (s boxSink) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	return s.box.ReceiveRouted(ctx, in, body, nil)
}

func (s boxSink) AsReceived(ctx context.Context, id string) (io.ReadCloser, error) {
	return s.box.AsReceived(ctx, id)
}

var _ transport.BodySink = boxSink{}

// TestHTTPIdempotencyKeyOtherBody: a repeat of a key with the same body is
// a replay; with another body - longer, or of the same length, or larger
// than the receiver spools, sent chunked so that its length is not
// declared - it is answered 422 naming the key, nothing new is stored and
// the first message is unchanged.
func TestHTTPIdempotencyKeyOtherBody(t *testing.T) {
	box := transporttest.NewBox(t)
	o := httpOpts()
	o.MaxBody = 8 << 20
	_, base, lr := startHTTP(t, o, boxSink{box})
	send := func(body []byte, key string, chunked bool) (*http.Response, string) {
		t.Helper()
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = io.MultiReader(r) // no length known: sent chunked
		}
		req, err := http.NewRequest(http.MethodPost, base+"/orders", r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(IdempotencyKeyHeader, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), (spoolBytes+100<<10)/16)
	bigOther := bytes.Clone(big)
	bigOther[len(bigOther)-1] = 'X' // past the spooled start
	for _, tc := range []struct {
		name         string
		first, other []byte
		chunked      bool
	}{
		{"longer", []byte("<order>1</order>"), []byte("<order>1 (resent)</order>"), false},
		{"same length", []byte("<order>1</order>"), []byte("<order>2</order>"), false},
		{"same length, chunked", []byte("<order>1</order>"), []byte("<order>2</order>"), true},
		{"large, chunked", big, bigOther, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "key-" + strings.ReplaceAll(tc.name, " ", "-")
			first, _ := send(tc.first, key, tc.chunked)
			id := first.Header.Get(MessageIDHeader)
			if first.StatusCode != http.StatusAccepted || id == "" {
				t.Fatalf("first POST: %s", first.Status)
			}
			same, _ := send(tc.first, key, tc.chunked)
			if same.StatusCode != http.StatusAccepted || same.Header.Get(MessageIDHeader) != id || same.Header.Get(ReplayedHeader) != "true" {
				t.Errorf("same body again: %s, id %q, replayed %q; want 202, %s, true", same.Status, same.Header.Get(MessageIDHeader), same.Header.Get(ReplayedHeader), id)
			}
			other, text := send(tc.other, key, tc.chunked)
			if other.StatusCode != http.StatusUnprocessableEntity || other.Header.Get(MessageIDHeader) != "" ||
				!strings.Contains(text, key) || !strings.Contains(text, "differs") {
				t.Errorf("other body: %s %s; want 422 naming the key, saying the body differs", other.Status, text)
			}
			rc, err := box.Body(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(stored, tc.first) {
				t.Errorf("stored body changed (%d bytes), want the first request's (%d)", len(stored), len(tc.first))
			}
		})
	}
	msgs, err := msgbox.Collect(t.Context(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 4 {
		t.Errorf("%d messages stored (%v), want 4: one per key", len(msgs), err)
	}
	if n := lr.Count(slog.LevelWarn, "Idempotency-Key reused with another body"); n != 4 {
		t.Errorf("%d log lines about a reused key, want 4", n)
	}
}
