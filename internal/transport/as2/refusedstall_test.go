package as2

import (
	"net/http"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/testhttp"
)

// TestReceiveRefusedStalledBody: a POST refused on its header alone (a
// stranger's AS2-From, malformed AS2 headers) whose client then sends no
// byte of its body is answered at once, and its connection freed within
// the body idle timeout: net/http, which reads what is left of a small
// unread body before it answers, must not wait for it until
// request_timeout. Anyone who can reach the listener could otherwise hold
// each of its max_connections, and their answers, for an hour.
func TestReceiveRefusedStalledBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"stranger", map[string]string{"AS2-From": "MALLORY"}, http.StatusForbidden},
		{"not to us", map[string]string{"AS2-To": "SOMEONE"}, http.StatusForbidden},
		{"malformed Message-ID", map[string]string{"Message-ID": "no-brackets-no-at"}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newTimeoutRig(t, 300*time.Millisecond, 20*time.Second, nil)
			c := g.rawPost(t, tc.header, 1000, "")
			start := time.Now()
			resp, text := testhttp.Answer(t, c)
			if resp.StatusCode != tc.want {
				t.Fatalf("answered %s %q; want %d", resp.Status, text, tc.want)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("answered after %v: held until request_timeout, not the body idle timeout", took.Round(time.Second))
			}
			if n := len(g.stored(t)); n != 0 {
				t.Errorf("%d messages stored, want none", n)
			}
		})
	}
}
