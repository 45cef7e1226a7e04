package http

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestDecodeReceivePathAsListenerJudgesIt: validate refuses exactly the
// paths the listener refuses when run starts it, so that a configuration
// that validates does not then fail to start (a path without its leading
// /, or the health-check path, validated, and run exited 1).
func TestDecodeReceivePathAsListenerJudgesIt(t *testing.T) {
	for _, path := range []string{"/", "/orders", "/a/b/", "/healthz/x", "/Healthz", "orders", "orders/", " /orders", HealthPath} {
		var diags []*hcl.Diagnostic
		b := component.NewBody(`transport "http" of receive_location "r"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
		b.Set("listen", value.Known("127.0.0.1:0", hcl.Range{}))
		b.Set("path", value.Known(path, hcl.Range{}))
		b.Set("max_body", value.Defaulted(int64(1<<30), hcl.Range{}))
		b.Set("request_content_type", value.Defaulted("use", hcl.Range{}))
		b.Set("request_timeout", value.Defaulted(DefaultRequestTimeout, hcl.Range{}))
		b.Set("max_connections", value.Defaulted(DefaultMaxConnections, hcl.Range{}))
		cfg := ReceiveSpec.Decode(b).(*ReceiveConfig)
		o := httpOpts()
		o.Path = cfg.Path.V
		_, err := NewListener(o, transporttest.NewRecorder(), nil)
		if refused := err != nil; refused != (len(diags) > 0) {
			t.Errorf("path %q: validate's diagnostics %v, but the listener's error %v", path, diags, err)
		}
		if len(diags) > 0 && !strings.Contains(diags[0].Detail, `receive_location "r"`) {
			t.Errorf("path %q: %q does not name the location", path, diags[0].Detail)
		}
	}
}
