package runner_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
)

// TestMaxBodyDefaultsToMaxMessageSize: an http or as2 receive location
// without max_body refuses (413, nothing stored) a body above the group's
// max_message_size, as the group's reference says its transports default
// to it, rather than answering 202 or an MDN for a message that is then
// suspended as too large; a max_body written wins.
func TestMaxBodyDefaultsToMaxMessageSize(t *testing.T) {
	p := newPKI(t)
	ports := map[string]string{"Web": freePort(t), "Bounded": freePort(t), "AS2": freePort(t)}
	dir := setup(t, p, `
group "g" {
  signing_certificate = "{{.Sign}}"
  as2_id              = "CONTOSO"
  max_message_size    = "1KiB"
}
`+serverAndHost+`party "fabrikam" {
  as2_id               = "FABRIKAM"
  signing_certificates = ["{{.Partner}}"]
}
receive_location "web" {
  host = host.h
  transport "http" {
    listen = "127.0.0.1:{{.Web}}"
    path   = "/in"
  }
}
receive_location "bounded" {
  host = host.h
  transport "http" {
    listen   = "127.0.0.1:{{.Bounded}}"
    path     = "/in"
    max_body = "4KiB"
  }
}
receive_location "as2in" {
  host = host.h
  transport "as2" {
    listen = "127.0.0.1:{{.AS2}}"
    path   = "/as2"
  }
}
`+allToFiles, ports)
	r, box := start(t, dir)
	defer runInBackground(t, r)()
	large := bytes.Repeat([]byte("x"), 2048)
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"http, max_body left out", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+ports["Web"]+"/in", bytes.NewReader(large))
			return req
		}, http.StatusRequestEntityTooLarge},
		{"http, max_body written", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+ports["Bounded"]+"/in", bytes.NewReader(large))
			return req
		}, http.StatusAccepted},
		{"as2, max_body left out", func() *http.Request {
			return as2Request(t, "http://127.0.0.1:"+ports["AS2"]+"/as2", "FABRIKAM", "<big@fabrikam>", "application/edi-x12", large)
		}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			waitListening(t, tc.req().URL.String())
			resp, body := testhttp.Do(t, http.DefaultClient, tc.req())
			if resp.StatusCode != tc.want {
				t.Errorf("POST of %d bytes: %s %s, want %d", len(large), resp.Status, strings.TrimSpace(string(body)), tc.want)
			}
		})
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 || msgs[0].ReceiveLocation != "bounded" {
		t.Errorf("stored %+v (%v), want the one message of location bounded", msgs, err)
	}
}
