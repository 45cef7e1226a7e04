package http

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/message/messagetest"
	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestDecodeSendURLAsDeliveryJudgesIt: validate refuses exactly the
// constant urls every delivery would refuse (and suspend its message for),
// as the as2 transport's decode does, where such a url validated; the
// reason never quotes a sensitive url.
func TestDecodeSendURLAsDeliveryJudgesIt(t *testing.T) {
	for _, tc := range []struct {
		url       string
		sensitive bool
	}{
		{"https://partner.example/orders", false},
		{"http://127.0.0.1:8080/in?x=1", false},
		{"https://partner.example/orders", true},
		{"partner.example/orders", false},
		{"ftp://partner.example/orders", false},
		{"https:///orders", false},
		{"https://partner.example/a b", false},
		{"https://partner.example/#frag", false},
		{"", false},
		{"ftp://user:hunter22secret@partner.example/", true},
		{"https://partner.example/?token=hunter22 secret", true},
	} {
		var diags []*hcl.Diagnostic
		b := component.NewBody(`transport "http" of send_port "p"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
		u := messagetest.Constant{Value: tc.url, Sensitive: tc.sensitive}
		b.Set("url", value.Known[message.Template](u, hcl.Range{}))
		b.Set("headers", value.Value[map[string]message.Template]{})
		b.Set("timeout", value.Defaulted(DefaultTimeout, hcl.Range{}))
		SendSpec.Decode(b)
		_, err := parseHTTPURL(tc.url, transport.Origin{Sensitive: tc.sensitive})
		var hidden []string
		if tc.sensitive {
			hidden = []string{"hunter22", "ftp"}
		}
		transporttest.CheckJudgedAlike(t, fmt.Sprintf("url %q", tc.url), diags, err, "invalid URL: ", hidden...)
	}
}

// TestDecodeSendURLPrefixAsDeliveryJudgesIt: validate refuses a url that
// reads the message when its literal text before the message gives a
// scheme every delivery refuses ("ftp://partner.example/${message.id}"
// validated, and suspended every message), and only then.
func TestDecodeSendURLPrefixAsDeliveryJudgesIt(t *testing.T) {
	for _, tc := range []struct {
		prefix  string
		refused bool
	}{
		{"", false},
		{"https://partner.example/in?id=", false},
		{"HTTP://partner.example/", false},
		{"https", false}, // "https${...}": not known
		{"partner.example/", false},
		{"ftp://partner.example/", true},
		{"FTP:", true},
		{"localhost:8080/in/", true},
		{"mailto:orders@", true},
	} {
		var diags []*hcl.Diagnostic
		b := component.NewBody(`transport "http" of send_port "p"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
		b.Set("url", value.Known[message.Template](messagetest.Prefixed(tc.prefix), hcl.Range{}))
		b.Set("headers", value.Value[map[string]message.Template]{})
		b.Set("timeout", value.Defaulted(DefaultTimeout, hcl.Range{}))
		SendSpec.Decode(b)
		if refused := len(diags) > 0; refused != tc.refused {
			t.Errorf("url %q + message: refused %v, want %v (%v)", tc.prefix, refused, tc.refused, diags)
			continue
		}
		if tc.refused {
			// Every url it makes is refused: this one, for one.
			if _, err := parseHTTPURL(tc.prefix+"01j0000000000000000000000", transport.Origin{}); err == nil {
				t.Errorf("url %q + message: refused, but a delivery sends it", tc.prefix)
			}
			if d := diags[0].Detail; !strings.Contains(d, `send_port "p"`) {
				t.Errorf("url %q + message: detail %q does not name the port", tc.prefix, d)
			}
		}
	}
}
