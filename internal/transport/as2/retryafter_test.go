package as2

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/message/messagetest"
)

// TestRetryAfter: a partner that answers an AS2 message 429 or 503 with
// Retry-After fails the attempt (retried, not suspended) asking for that
// wait, which the runner honours (component.RetryAfter) as for transport
// "http", whatever MDN was asked for, also when the answer's Content-Type
// is an MDN's but its body answers no message of ours. Another status's
// Retry-After asks for nothing. The reference says so.
func TestRetryAfter(t *testing.T) {
	if want := "429 or 503 with Retry-After"; !strings.Contains(strings.Join(strings.Fields(SendSpec.Doc), " "), want) {
		t.Errorf("the as2 send transport's Doc does not say %q", want)
	}
	const reportType = "multipart/report; report-type=disposition-notification; boundary=b"
	for _, tc := range []struct {
		name, mdn   string
		status      int
		retryAfter  string
		contentType string
		want        time.Duration // 0: no wait asked for
	}{
		{"429, sync MDN", "sync", http.StatusTooManyRequests, "120", "", 2 * time.Minute},
		{"503, sync MDN", "sync", http.StatusServiceUnavailable, "3600", "", time.Hour},
		{"503, async MDN", "async", http.StatusServiceUnavailable, "60", "", time.Minute},
		{"503, no MDN", "none", http.StatusServiceUnavailable, "60", "", time.Minute},
		{"503 with a report that is no MDN", "sync", http.StatusServiceUnavailable, "60", reportType, time.Minute},
		{"503 asking for more than a day", "sync", http.StatusServiceUnavailable, "999999999", "", 24 * time.Hour},
		{"500 with Retry-After", "sync", http.StatusInternalServerError, "60", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.retryAfter)
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(tc.status)
				if tc.contentType != "" {
					_, _ = w.Write([]byte("--b\r\nContent-Type: text/plain\r\n\r\nbusy\r\n--b--\r\n"))
				}
			}))
			defer srv.Close()
			attrs := map[string]any{"url": value.Known[message.Template](messagetest.Text(srv.URL), hcl.Range{}),
				"mdn": value.Known(tc.mdn, hcl.Range{}), "signed_mdn": value.Known(false, hcl.Range{})}
			if tc.mdn == "async" {
				attrs["async_mdn_url"] = value.Known("https://us.example/as2", hcl.Range{})
			}
			res, err := commitOnce(t, attrs)
			if err == nil || component.IsPermanent(err) || res.Pending != nil {
				t.Fatalf("Commit: %+v, %v; want a failed attempt, retried", res, err)
			}
			got, ok := component.RetryAfter(err)
			if tc.want == 0 {
				if ok {
					t.Errorf("Commit: %v; asks for a wait of %v, want none", err, got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Errorf("Commit: %v; asks for a wait of %v (%v), want %v", err, got, ok, tc.want)
			}
		})
	}
}
