package as2

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	httptransport "github.com/bizpipe/bizpipe/internal/transport/http"
)

// TestDecodeReceiveListenAsServingJudgesIt: validate refuses exactly the
// listen addresses an as2 location cannot listen on, on any machine, when
// run starts it (httptransport.Serving, which the receiver starts), as
// for transport "http" (its TestDecodeReceiveListenAsListenerJudgesIt has
// the same list). "" was valid here, and listened on every address on a
// port the system chose, which no partner could be told.
func TestDecodeReceiveListenAsServingJudgesIt(t *testing.T) {
	for _, listen := range []string{
		"127.0.0.1:0", "127.0.0.1:", "127.0.0.1:+0", "127.0.0.1:-0", "[127.0.0.1]:0", "localhost:0",
		"localhost", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:4294967296",
		"::1:8080", "[::1:8080", "127.0.0.1]:0", "[127.0.0.1]x:0", "",
	} {
		var diags []*hcl.Diagnostic
		b := component.NewBody(`transport "as2" of receive_location "r"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
		b.Set("listen", value.Known(listen, hcl.Range{}))
		b.Set("path", value.Defaulted("/", hcl.Range{}))
		b.Set("max_body", value.Defaulted(int64(1<<30), hcl.Range{}))
		b.Set("async_mdn_attempts", value.Defaulted(DefaultAsyncMDNAttempts, hcl.Range{}))
		b.Set("async_mdn_interval", value.Defaulted(DefaultAsyncMDNInterval, hcl.Range{}))
		b.Set("request_timeout", value.Defaulted(httptransport.DefaultRequestTimeout, hcl.Range{}))
		b.Set("max_connections", value.Defaulted(httptransport.DefaultMaxConnections, hcl.Range{}))
		cfg := ReceiveSpec.Decode(b).(*ReceiveConfig)
		var s httptransport.Serving
		_, err := s.Start(context.Background(), httptransport.ServeOptions{Location: "r", Listen: cfg.Listen.V, Handler: nil, Name: "as2"})
		if err == nil {
			_ = s.Shutdown(context.Background())
		}
		if refused := err != nil; refused != (len(diags) > 0) {
			t.Errorf("listen %q: validate's diagnostics %v, but listening's error %v", listen, diags, err)
		}
		if len(diags) > 0 && !strings.Contains(diags[0].Detail, `receive_location "r"`) {
			t.Errorf("listen %q: %q does not name the location", listen, diags[0].Detail)
		}
	}
}
