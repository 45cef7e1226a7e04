package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// scrape fetches the metrics page from a real listener on 127.0.0.1.
func scrape(t *testing.T, m *Metrics) (int, string) {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestBacklog(t *testing.T) {
	tests := []struct {
		name   string
		count  func(context.Context) (map[msgbox.Status]int, error)
		want   []string
		absent []string
	}{
		{
			name: "counts",
			count: func(context.Context) (map[msgbox.Status]int, error) {
				return map[msgbox.Status]int{"received": 0, "routed": 5, "retrying": 2, "suspended": 3}, nil
			},
			want: []string{
				`bizpipe_messages{status="received"} 0`, `bizpipe_messages{status="routed"} 5`,
				`bizpipe_messages{status="retrying"} 2`, `bizpipe_messages{status="suspended"} 3`,
				`bizpipe_messages_delivered_total{send_port="p"} 1`,
			},
		},
		{
			// The box is unreachable: the gauge is missing, the rest
			// is still served.
			name:   "box unreachable",
			count:  func(context.Context) (map[msgbox.Status]int, error) { return nil, errors.New("connection refused") },
			want:   []string{`bizpipe_messages_delivered_total{send_port="p"} 1`},
			absent: []string{`bizpipe_messages{`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			m.Delivered.WithLabelValues("p").Inc()
			calls := 0
			m.RegisterBacklog(func(ctx context.Context) (map[msgbox.Status]int, error) {
				calls++
				if _, ok := ctx.Deadline(); !ok {
					t.Error("the backlog query has no deadline")
				}
				return tt.count(ctx)
			})
			code, body := scrape(t, m)
			if code != http.StatusOK {
				t.Errorf("status %d, want 200", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w+"\n") {
					t.Errorf("scrape lacks %q", w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(body, a) {
					t.Errorf("scrape has %q", a)
				}
			}
			// Read at each scrape, not cached.
			scrape(t, m)
			if calls != 2 {
				t.Errorf("backlog queried %d times for 2 scrapes", calls)
			}
		})
	}
}

// TestCertificateExpiry: one series per certificate and use, the value
// notAfter in Unix seconds, served on a real listener; listed again at
// each scrape; a duplicate is one series, not a failed scrape.
func TestCertificateExpiry(t *testing.T) {
	m := New()
	notAfter := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	signing := CertificateExpiry{Thumbprint: "4E077EB5555B50DCBCBF3D7261281954D2A1999D", Use: "signing", Subject: `CN=Contoso "Signing",O=demo`, NotAfter: notAfter}
	list := []CertificateExpiry{
		signing, signing,
		{Thumbprint: "CCFE302DA296CC18B316BA3063F069169382D9FC", Use: "encryption", Subject: "CN=Fabrikam", NotAfter: notAfter.Add(time.Second)},
	}
	m.RegisterCertificateExpiry(func() []CertificateExpiry { return list })
	code, body := scrape(t, m)
	if code != http.StatusOK {
		t.Errorf("status %d", code)
	}
	signingSeries := `bizpipe_certificate_expiry_timestamp_seconds{subject="CN=Contoso \"Signing\",O=demo",thumbprint="4E077EB5555B50DCBCBF3D7261281954D2A1999D",use="signing"} 1.7999712e+09`
	for _, w := range []string{
		`# TYPE bizpipe_certificate_expiry_timestamp_seconds gauge`,
		signingSeries,
		`bizpipe_certificate_expiry_timestamp_seconds{subject="CN=Fabrikam",thumbprint="CCFE302DA296CC18B316BA3063F069169382D9FC",use="encryption"} 1.799971201e+09`,
	} {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("scrape lacks %q:\n%s", w, body)
		}
	}
	if notAfter.Unix() != 1799971200 {
		t.Fatalf("fixture: %d", notAfter.Unix())
	}
	list = list[2:]
	if _, body := scrape(t, m); strings.Contains(body, signingSeries) || !strings.Contains(body, `use="encryption"`) {
		t.Errorf("the next scrape does not follow the list:\n%s", body)
	}
}

// TestServing: before any event, the scrape has a zero series for each
// receive location and send port served, the routing failures, and each
// receipt outcome of the ports that get receipts; none for the receipts
// of the others.
func TestServing(t *testing.T) {
	m := New()
	m.Serving([]string{"orders"}, []string{"files", "partner"}, []string{"partner"})
	_, body := scrape(t, m)
	for _, w := range []string{
		`bizpipe_messages_received_total{receive_location="orders"} 0`,
		`bizpipe_messages_suspended_total{send_port=""} 0`,
		`bizpipe_receipts_total{outcome="positive",send_port="partner"} 0`,
		`bizpipe_receipts_total{outcome="negative",send_port="partner"} 0`,
		`bizpipe_receipts_total{outcome="rejected",send_port="partner"} 0`,
	} {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("scrape lacks %q", w)
		}
	}
	for _, p := range []string{"files", "partner"} {
		for _, w := range []string{
			`bizpipe_messages_delivered_total{send_port="` + p + `"} 0`,
			`bizpipe_messages_retried_total{send_port="` + p + `"} 0`,
			`bizpipe_messages_suspended_total{send_port="` + p + `"} 0`,
			`bizpipe_pipeline_duration_seconds_count{send_port="` + p + `"} 0`,
			`bizpipe_delivery_duration_seconds_count{send_port="` + p + `"} 0`,
		} {
			if !strings.Contains(body, w+"\n") {
				t.Errorf("scrape lacks %q", w)
			}
		}
	}
	if strings.Contains(body, `bizpipe_receipts_total{outcome="positive",send_port="files"}`) {
		t.Error("receipts series for a port that gets no receipts")
	}
}

// TestCertificateExpiryRedactedTwins: two certificates whose labels are
// the same once their sensitive thumbprints are hidden (a partner's
// current and renewed certificates, one subject) are one series, whose
// value is the earlier notAfter whatever their order: the expiry alert
// must see the certificate that expires first, not the renewed one.
func TestCertificateExpiryRedactedTwins(t *testing.T) {
	soon := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	later := soon.AddDate(2, 0, 0)
	twin := func(at time.Time) CertificateExpiry {
		return CertificateExpiry{Thumbprint: "(sensitive value)", Use: "party", Subject: "CN=Fabrikam", NotAfter: at}
	}
	for _, tt := range []struct {
		name string
		list []CertificateExpiry
	}{
		{"renewed first", []CertificateExpiry{twin(later), twin(soon)}},
		{"renewed last", []CertificateExpiry{twin(soon), twin(later)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			m.RegisterCertificateExpiry(func() []CertificateExpiry { return tt.list })
			_, body := scrape(t, m)
			want := `bizpipe_certificate_expiry_timestamp_seconds{subject="CN=Fabrikam",thumbprint="(sensitive value)",use="party"} 1.7999712e+09`
			if !strings.Contains(body, want+"\n") {
				t.Errorf("scrape lacks %q:\n%s", want, body)
			}
		})
	}
}
