package file

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestDecodeReceivePatternAsPollerJudgesIt: validate refuses exactly the
// patterns the poller refuses when run starts it, so that a configuration
// that validates does not then fail to start (a pattern with a path
// separator validated, and run exited 1).
func TestDecodeReceivePatternAsPollerJudgesIt(t *testing.T) {
	for _, pattern := range []string{"*", "*.xml", "order-??.edi", "[a-c]*", "[", "sub/*.xml", `sub\*.xml`, "/abs", "*/"} {
		var diags []*hcl.Diagnostic
		b := component.NewBody(`transport "file" of receive_location "r"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
		b.Set("path", value.Known("in", hcl.Range{}))
		b.Set("pattern", value.Known(pattern, hcl.Range{}))
		b.Set("poll_interval", value.Defaulted(time.Second, hcl.Range{}))
		cfg := ReceiveSpec.Decode(b).(*ReceiveConfig)
		o := fileOpts(t.TempDir())
		o.Pattern = cfg.Pattern.V
		_, err := NewPoller(o, transporttest.NewRecorder(), nil)
		if refused := err != nil; refused != (len(diags) > 0) {
			t.Errorf("pattern %q: validate's diagnostics %v, but the poller's error %v", pattern, diags, err)
		}
		if len(diags) > 0 && !strings.Contains(diags[0].Detail, `receive_location "r"`) {
			t.Errorf("pattern %q: %q does not name the location", pattern, diags[0].Detail)
		}
	}
}
