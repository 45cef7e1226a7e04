package runner_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestMetricsFromStart: right after the runner is provisioned, before it
// has received or delivered anything, the metrics page has a zero series
// for each receive location and send port it serves (and the receipts of
// its AS2 port by outcome), so that an alert on them has something to
// evaluate from the start.
func TestMetricsFromStart(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, as2LoopConfig, map[string]string{"Port": freePort(t), "Decrypt": p.signer.SHA1(), "MDN": "sync"})
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "self.pem", p.signer.CertPEM())
	m := metrics.New()
	startWith(t, dir, func(o *runner.Options) { o.Metrics = m })
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	want := []string{
		`bizpipe_messages_received_total{receive_location="in"} 0`,
		`bizpipe_messages_received_total{receive_location="as2in"} 0`,
		`bizpipe_messages_suspended_total{send_port=""} 0`,
	}
	for _, port := range []string{"out", "files"} {
		want = append(want,
			`bizpipe_messages_delivered_total{send_port="`+port+`"} 0`,
			`bizpipe_messages_retried_total{send_port="`+port+`"} 0`,
			`bizpipe_messages_suspended_total{send_port="`+port+`"} 0`,
			`bizpipe_pipeline_duration_seconds_count{send_port="`+port+`"} 0`,
			`bizpipe_delivery_duration_seconds_count{send_port="`+port+`"} 0`)
	}
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("the first scrape lacks %q", w)
		}
	}
	// The receipts series are exactly these: spelled out, not taken from
	// metrics.ReceiptOutcomes, so that an outcome dropped or renamed
	// there (which alerts and dashboards name) fails here; and none for
	// the file port, which gets no receipts.
	wantReceipts := []string{
		`bizpipe_receipts_total{outcome="negative",send_port="out"} 0`,
		`bizpipe_receipts_total{outcome="positive",send_port="out"} 0`,
		`bizpipe_receipts_total{outcome="rejected",send_port="out"} 0`,
	}
	var receipts []string
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "bizpipe_receipts_total{") {
			receipts = append(receipts, strings.TrimSuffix(line, "\n"))
		}
	}
	slices.Sort(receipts)
	if !slices.Equal(receipts, wantReceipts) {
		t.Errorf("the first scrape's receipts series are\n%s\nwant\n%s", strings.Join(receipts, "\n"), strings.Join(wantReceipts, "\n"))
	}
}
