// Package metrics defines bizpipe's Prometheus metrics on a registry of its
// own (never the global default registry, so that tests and several runners
// in one process do not collide).
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors the runner updates.
type Metrics struct {
	Registry *prometheus.Registry

	Received        *prometheus.CounterVec   // by receive_location
	Delivered       *prometheus.CounterVec   // by send_port
	Retried         *prometheus.CounterVec   // by send_port
	Suspended       *prometheus.CounterVec   // by send_port ("" for routing failures)
	PipelineSeconds *prometheus.HistogramVec // by send_port
	DeliverySeconds *prometheus.HistogramVec // by send_port
	Receipts        *prometheus.CounterVec   // by send_port and outcome (ReceiptPositive, ...)
}

// The outcomes of a partner's receipt (an AS2 MDN), the outcome label of
// bizpipe_receipts_total.
const (
	// ReceiptPositive: it proves delivery; the delivery is delivered.
	ReceiptPositive = "positive"
	// ReceiptNegative: the partner refused the message (an MDN
	// processed/error or failed); the delivery is suspended.
	ReceiptNegative = "negative"
	// ReceiptRejected: it proves nothing (unsigned when a signed one was
	// asked for, a MIC other than the message's); the attempt failed.
	ReceiptRejected = "rejected"
)

// New creates the metrics on a fresh registry, with Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bizpipe_messages_received_total",
			Help: "Messages durably stored in the message box, by receive location.",
		}, []string{"receive_location"}),
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bizpipe_messages_delivered_total",
			Help: "Deliveries completed, by send port.",
		}, []string{"send_port"}),
		Retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bizpipe_messages_retried_total",
			Help: "Delivery attempts that failed and will be retried, by send port: those a worker recorded, and those the message box recorded for it (an asynchronous MDN that did not come in time, an attempt a crash or an expired lease cut short) when the port has a try left for it.",
		}, []string{"send_port"}),
		Suspended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bizpipe_messages_suspended_total",
			Help: "Deliveries suspended, by send port (empty send_port: routing failures).",
		}, []string{"send_port"}),
		PipelineSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bizpipe_pipeline_duration_seconds",
			Help:    "Time to stream one message through a send port's pipeline (sign, encrypt) into its transport.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"send_port"}),
		DeliverySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bizpipe_delivery_duration_seconds",
			Help:    "Time for a transport to complete one delivery attempt once the message is written (sync into place, or send and wait for the answer).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"send_port"}),
		Receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bizpipe_receipts_total",
			Help: "Receipts (AS2 MDNs) partners answered, by send port and outcome: positive (delivery proven), negative (the partner refused the message), rejected (the receipt proved nothing: unsigned when a signed one was asked for, a MIC other than the message's).",
		}, []string{"send_port", "outcome"}),
	}
	m.Registry.MustRegister(m.Received, m.Delivered, m.Retried, m.Suspended, m.PipelineSeconds, m.DeliverySeconds, m.Receipts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ReceiptOutcomes are the values of bizpipe_receipts_total's outcome label.
var ReceiptOutcomes = []string{ReceiptPositive, ReceiptNegative, ReceiptRejected}

// Serving creates, at zero, every series a run may update that is known
// at its start: the received counter of each of its receive locations;
// the delivered, retried and suspended counters and the pipeline and
// delivery histograms of each of its send ports; the routing failures
// (suspended, empty send_port); and the receipts of each send port in
// receiptPorts (those whose partners answer with receipts), one series
// per outcome. A series that appeared only at its first event would leave
// an alert on it (rate(bizpipe_messages_suspended_total[5m]) > 0) with
// nothing to evaluate, and miss that first increase.
func (m *Metrics) Serving(locations, ports, receiptPorts []string) {
	for _, l := range locations {
		m.Received.WithLabelValues(l)
	}
	m.Suspended.WithLabelValues("")
	for _, p := range ports {
		m.Delivered.WithLabelValues(p)
		m.Retried.WithLabelValues(p)
		m.Suspended.WithLabelValues(p)
		m.PipelineSeconds.WithLabelValues(p)
		m.DeliverySeconds.WithLabelValues(p)
	}
	for _, p := range receiptPorts {
		for _, o := range ReceiptOutcomes {
			m.Receipts.WithLabelValues(p, o)
		}
	}
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	// ContinueOnError: a metric that cannot be read (the message box is
	// unreachable) must not hide the others.
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry, ErrorHandling: promhttp.ContinueOnError})
}
