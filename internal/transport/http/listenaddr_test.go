package http

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// listenAddresses are listen values validate and the listener must judge
// alike: those refused on every machine, and good ones (each on 127.0.0.1,
// a free port) that must still validate. The as2 transport's test has
// the same list.
var listenAddresses = []string{
	"127.0.0.1:0", "127.0.0.1:", "127.0.0.1:+0", "127.0.0.1:-0", "[127.0.0.1]:0", "localhost:0",
	"localhost", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:4294967296",
	"::1:8080", "[::1:8080", "127.0.0.1]:0", "[127.0.0.1]x:0", "",
}

// TestDecodeReceiveListenAsListenerJudgesIt: validate refuses exactly the
// listen addresses the listener cannot listen on, on any machine, when run
// starts it (listen = "localhost", without a port, or a port above 65535
// validated, and run exited 1).
func TestDecodeReceiveListenAsListenerJudgesIt(t *testing.T) {
	for _, listen := range listenAddresses {
		var diags []*hcl.Diagnostic
		b := component.NewBody(`transport "http" of receive_location "r"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
		b.Set("listen", value.Known(listen, hcl.Range{}))
		b.Set("path", value.Defaulted("/", hcl.Range{}))
		b.Set("max_body", value.Defaulted(int64(1<<30), hcl.Range{}))
		b.Set("request_content_type", value.Defaulted("use", hcl.Range{}))
		b.Set("request_timeout", value.Defaulted(DefaultRequestTimeout, hcl.Range{}))
		b.Set("max_connections", value.Defaulted(DefaultMaxConnections, hcl.Range{}))
		cfg := ReceiveSpec.Decode(b).(*ReceiveConfig)
		o := httpOpts()
		o.Listen = cfg.Listen.V
		h, err := NewListener(o, transporttest.NewRecorder(), nil)
		if err == nil {
			if err = h.Start(context.Background()); err == nil {
				_ = h.Shutdown(context.Background())
			}
		}
		if refused := err != nil; refused != (len(diags) > 0) {
			t.Errorf("listen %q: validate's diagnostics %v, but the listener's error %v", listen, diags, err)
		}
		if len(diags) > 0 && (!strings.Contains(diags[0].Detail, `receive_location "r"`) || !strings.Contains(diags[0].Summary, "listen")) {
			t.Errorf("listen %q: %q does not name the location and listen", listen, diags[0].Summary+": "+diags[0].Detail)
		}
	}
}

// A sensitive listen address is not shown in the diagnostic.
func TestDecodeReceiveListenSensitive(t *testing.T) {
	var diags []*hcl.Diagnostic
	b := component.NewBody(`transport "http" of receive_location "r"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
	v := value.Known("10.9.8.7:123456", hcl.Range{})
	v.Sensitive = true
	b.Set("listen", v)
	b.Set("path", value.Defaulted("/", hcl.Range{}))
	b.Set("max_body", value.Defaulted(int64(1<<30), hcl.Range{}))
	b.Set("request_content_type", value.Defaulted("use", hcl.Range{}))
	b.Set("request_timeout", value.Defaulted(DefaultRequestTimeout, hcl.Range{}))
	b.Set("max_connections", value.Defaulted(DefaultMaxConnections, hcl.Range{}))
	ReceiveSpec.Decode(b)
	if len(diags) != 1 || strings.Contains(diags[0].Detail, "123456") || strings.Contains(diags[0].Detail, "10.9.8.7") {
		t.Errorf("diagnostics %v: want one, without the sensitive value", diags)
	}
}
