package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CertificateExpiry is one certificate in one use, a series of the gauge
// bizpipe_certificate_expiry_timestamp_seconds.
type CertificateExpiry struct {
	// Thumbprint is the SHA-1 thumbprint in upper-case hex.
	Thumbprint string
	// Use is signing, signing_rollover, encryption, decryption or party.
	Use      string
	Subject  string
	NotAfter time.Time
}

// certificateCollector reports the certificates in use, listed at each
// scrape: after a signing rollover the old certificate is no longer in
// use, and a series that stayed would raise a false expiry alert.
type certificateCollector struct {
	desc *prometheus.Desc
	list func() []CertificateExpiry
}

// RegisterCertificateExpiry adds the gauge
// bizpipe_certificate_expiry_timestamp_seconds{thumbprint,use,subject}:
// notAfter (Unix time) of each certificate list returns, called at each
// scrape. An alert on it fires before a certificate expires, on every
// server that uses it.
func (m *Metrics) RegisterCertificateExpiry(list func() []CertificateExpiry) {
	m.Registry.MustRegister(&certificateCollector{
		desc: prometheus.NewDesc("bizpipe_certificate_expiry_timestamp_seconds",
			"When each certificate the running instances use expires (notAfter, Unix time), by thumbprint (SHA-1, upper case), use (signing, signing_rollover, encryption, decryption, party) and subject.",
			[]string{"thumbprint", "use", "subject"}, nil),
		list: list,
	})
}

func (c *certificateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certificateCollector) Collect(ch chan<- prometheus.Metric) {
	// Two needs of one certificate in one use are one series: a
	// duplicate would fail the whole scrape. So are two certificates
	// whose labels are alike once a sensitive thumbprint is hidden: the
	// series says when the first of them expires, what an alert is for.
	var keys [][3]string
	first := map[[3]string]time.Time{}
	for _, e := range c.list() {
		key := [3]string{e.Thumbprint, e.Use, e.Subject}
		at, seen := first[key]
		if !seen {
			keys = append(keys, key)
		}
		if !seen || e.NotAfter.Before(at) {
			first[key] = e.NotAfter
		}
	}
	for _, key := range keys {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(first[key].Unix()), key[:]...)
	}
}
