package http

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestHTTPStampsSensitiveProperties: an HTTP location hands the box, with
// each message, which of its properties are sensitive (a request cannot
// set them), and never the caller's slice.
func TestHTTPStampsSensitiveProperties(t *testing.T) {
	rec := transporttest.NewRecorder()
	o := httpOpts()
	o.Properties = map[string]string{"partner": "fabrikam", "token": "s3cr3t"}
	names := []string{"token"}
	o.SensitiveProperties = names
	_, base, _ := startHTTP(t, o, rec)
	names[0] = "partner" // the caller changes its slice afterwards
	for range 2 {
		if resp, text := post(t, base+"/orders", "text/plain", strings.NewReader("x"), nil); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status %d %s", resp.StatusCode, text)
		}
	}
	got := rec.All()
	got[0].In.SensitiveProperties[0] = "changed by the sink"
	if s := got[1].In.SensitiveProperties; !slices.Equal(s, []string{"token"}) {
		t.Errorf("SensitiveProperties = %q, want [token], each message its own", s)
	}
}
