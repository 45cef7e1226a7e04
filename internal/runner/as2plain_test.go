package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
)

// TestAS2PlainStoredAsReceived: an as2 receive location without a pipeline
// stores the body as it arrived (language §10: "none = the body is stored
// as received"), byte for byte: messages body writes it and a file port
// delivers it, the content type in message.content_type. The header
// section the transport writes in front of the body for a decoding
// pipeline (the request's Content-Type, Content-Transfer-Encoding and
// Content-Disposition) never arrived as bytes, and is no part of the
// payload: stored with it, every file delivered began with
// "Content-Type: ". The MDN's MIC is over that body, as received.
func TestAS2PlainStoredAsReceived(t *testing.T) {
	p := newPKI(t)
	cfg := as2Parties + `
receive_location "as2in" {
  host = host.h
  transport "as2" {
    listen = "127.0.0.1:{{.Port}}"
    path   = "/as2"
  }
}
send_port "orders" {
  host   = host.h
  filter = message.content_type == "application/edifact"
  transport "file" {
    path      = "out"
    file_name = "${message.id}"
  }
}
`
	dir := setup(t, p, cfg, map[string]string{"Port": freePort(t)})
	url, box := serveAS2(t, dir, nil)

	seen := map[string]bool{} // the messages looked at
	for i, tc := range []struct {
		name    string
		payload []byte
		fields  map[string]string
	}{
		{"bare", []byte("UNA:+.? '\r\nUNB+UNOC:3+FABRIKAM+CONTOSO'"), nil},
		{"with transfer encoding and disposition", []byte("VU5CK1VOT0M6MytGQUJSSUtBTStDT05UT1NPJw=="),
			map[string]string{"Content-Transfer-Encoding": "base64", "Content-Disposition": `attachment; filename="order.edi"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := as2Request(t, url, "FABRIKAM", fmt.Sprintf("<plain%d@fabrikam.example>", i), "application/edifact", tc.payload)
			for k, v := range tc.fields {
				req.Header.Set(k, v)
			}
			resp, b := testhttp.Do(t, nil, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST: %s %q", resp.Status, b)
			}
			// The MIC of an unsigned, unencrypted message is over its body
			// as received (RFC 4130 §7.3.1), not over a header section.
			rc, err := as2.ParseMDN(as2.JoinEntity(resp.Header, b), as2.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if want := as2.ComputeMIC(as2.SHA256, tc.payload); !rc.MDN.Disposition.Positive() || rc.MDN.MIC == nil || !rc.MDN.MIC.Equal(want) {
				t.Errorf("MDN %q, MIC %v; want processed with %v", rc.MDN.Disposition, rc.MDN.MIC, want)
			}
			var m msgbox.Message
			waitFor(t, "the message to be delivered", func() bool {
				msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				for _, got := range msgs {
					if got.Status == msgbox.StatusDelivered && !seen[got.ID] {
						m = got
						return true
					}
				}
				return false
			})
			seen[m.ID] = true
			if b := body(t, box, m.ID); !bytes.Equal(b, tc.payload) {
				t.Errorf("messages body: %q, want %q", b, tc.payload)
			}
			if m.ContentType != "application/edifact" {
				t.Errorf("content type %q", m.ContentType)
			}
			out, err := os.ReadFile(filepath.Join(dir, "out", m.ID))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, tc.payload) {
				t.Errorf("delivered %q, want %q", out, tc.payload)
			}
		})
	}
}
