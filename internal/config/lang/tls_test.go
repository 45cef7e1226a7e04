package lang

import (
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestTLSOnPlainHTTP: a tls block on an http:// url is a warning (BP1010)
// at the block's header, naming the transport and its port, and never
// quoting a url from a sensitive value. Which ports get one is
// testdata/invalid-files/tls-plain-http.hcl's.
func TestTLSOnPlainHTTP(t *testing.T) {
	const file = "testdata/invalid-files/tls-plain-http.hcl"
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, diags := Load([]string{file}, Options{LookupEnv: noEnv})
	want := map[string]bool{`"http_constant"`: true, `"as2_upper_case"`: true, `"http_reads_message"`: true, `"http_sensitive"`: true}
	for _, d := range diags {
		if diag.CodeOf(d) != diag.CodeTLSUnused {
			t.Errorf("unexpected %s: %s", diag.CodeOf(d), d.Error())
			continue
		}
		if d.Severity != hcl.DiagWarning {
			t.Errorf("%s: severity %v, want a warning", d.Error(), d.Severity)
		}
		if text := string(src[d.Subject.Start.Byte:d.Subject.End.Byte]); !strings.HasPrefix(text, "tls") {
			t.Errorf("%s: range %q, want the tls block's header", d.Error(), text)
		}
		if strings.Contains(d.Detail, "partner.example/secret") {
			t.Errorf("the sensitive url is quoted: %s", d.Detail)
		}
		found := false
		for port := range want {
			if strings.Contains(d.Detail, "send_port "+port) {
				delete(want, port)
				found = true
			}
		}
		if !found {
			t.Errorf("the detail names no expected send port: %s", d.Detail)
		}
	}
	for port := range want {
		t.Errorf("no BP1010 for send_port %s", port)
	}
}
