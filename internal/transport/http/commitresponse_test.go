package http

import (
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
// is the commit's and which reads the body; any other answer is a
// *StatusError without calling it. The body is sent with its length.
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
	for _, tc := range []struct {
		path      string
		handleErr error
		called    bool
		wantErr   string
	}{
		{"/ok", nil, true, ""},
		{"/ok", bad, true, "receipt refused"},
		{"/fail", nil, false, "HTTP 500"},
	} {
		t.Run(tc.path+"/"+tc.wantErr, func(t *testing.T) {
			p, err := c.Begin(context.Background(), transport.Delivery{Port: testPort, URL: srv.URL + tc.path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Write([]byte("order 1")); err != nil {
				t.Fatal(err)
			}
			var got string
			called := false
			err = p.CommitResponse(context.Background(), func(resp *http.Response) error {
				called = true
				b, _ := io.ReadAll(resp.Body)
				got = string(b)
				return tc.handleErr
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
			if tc.handleErr != nil && !errors.Is(err, tc.handleErr) {
				t.Errorf("CommitResponse: %v does not wrap the handler's error", err)
			}
			if err := p.CommitResponse(context.Background(), nil); err == nil {
				t.Error("a second commit succeeded")
			}
		})
	}
}
