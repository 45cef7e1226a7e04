package http

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/transport"
)

// TestCommitResponse: a 2xx answer is handed to the handler, whose error
// is the commit's and which reads the body; any other answer is offered
// to Unexpected (its body read whole when Offered says so), whose error
// is the commit's when it takes it, and is otherwise a *StatusError
// quoting the body, the handler never called. The body is sent with its
// length.
func TestCommitResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.ContentLength != int64(len(b)) || len(r.TransferEncoding) != 0 {
			http.Error(w, "not sent with its length", http.StatusLengthRequired)
			return
		}
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("receipt for " + string(b)))
	}))
	defer srv.Close()
	c, err := NewClient(ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bad := errors.New("receipt refused")
	negative := errors.New("negative receipt")
	for _, tc := range []struct {
		name      string
		path      string
		handleErr error
		called    bool
		offered   bool // Unexpected.Offered's answer
		take      bool // Unexpected.Take's
		wantErr   string
		wantTaken string // the body Take is given; "" when not called
		limit     int64  // Unexpected.Limit; 100 when 0
	}{
		{"delivered", "/ok", nil, true, true, true, "", "", 0},
		{"refused", "/ok", bad, true, true, true, "receipt refused", "", 0},
		{"not offered", "/fail", nil, false, false, true, "HTTP 500 Internal Server Error: response: \"no\"", "", 0},
		{"declined", "/fail", nil, false, true, false, "HTTP 500 Internal Server Error: response: \"no\"", "no\n", 0},
		{"taken", "/fail", nil, false, true, true, "negative receipt", "no\n", 0},
		{"longer than its limit", "/fail", nil, false, true, true, "HTTP 500 Internal Server Error: response: \"no\"", "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.Begin(context.Background(), transport.Delivery{Port: testPort, URL: srv.URL + tc.path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Write([]byte("order 1")); err != nil {
				t.Fatal(err)
			}
			var got, taken string
			called := false
			err = p.CommitResponse(context.Background(), func(resp *http.Response) error {
				called = true
				b, _ := io.ReadAll(resp.Body)
				got = string(b)
				return tc.handleErr
			}, &Unexpected{
				Offered: func(resp *http.Response) bool { return resp.StatusCode == http.StatusInternalServerError && tc.offered },
				Limit:   cmp.Or(tc.limit, 100),
				Take: func(_ *http.Response, body []byte) (bool, error) {
					taken = string(body)
					return tc.take, negative
				},
			})
			if called != tc.called {
				t.Errorf("handler called: %v, want %v", called, tc.called)
			}
			if called && got != "receipt for order 1" {
				t.Errorf("handler read %q", got)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("CommitResponse: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("CommitResponse: %v, want %q", err, tc.wantErr)
			}
			if taken != tc.wantTaken {
				t.Errorf("Unexpected.Take given %q, want %q", taken, tc.wantTaken)
			}
			if tc.handleErr != nil && !errors.Is(err, tc.handleErr) {
				t.Errorf("CommitResponse: %v does not wrap the handler's error", err)
			}
			if err := p.CommitResponse(context.Background(), nil, nil); err == nil {
				t.Error("a second commit succeeded")
			}
		})
	}
}
