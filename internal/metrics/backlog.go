package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// backlogTimeout bounds the message box query one scrape makes.
const backlogTimeout = 5 * time.Second

// backlogCollector reports the message box's backlog, read at each scrape:
// a count that goes down when an operator resumes or terminates, which a
// counter cannot say.
type backlogCollector struct {
	desc  *prometheus.Desc
	count func(context.Context) (map[msgbox.Status]int, error)
}

// RegisterBacklog adds the gauge bizpipe_messages{status}: the messages
// not finished in the message box, by status, from count (a box's
// Backlog method), queried at each scrape. A shared box reports the same numbers
// on every server. A failed query makes that metric an error in the scrape
// while the others are still served.
func (m *Metrics) RegisterBacklog(count func(context.Context) (map[msgbox.Status]int, error)) {
	m.Registry.MustRegister(&backlogCollector{
		desc: prometheus.NewDesc("bizpipe_messages",
			"Messages not finished in the message box, by status: received and routed (waiting to be delivered), retrying, suspended (waiting for an operator).",
			[]string{"status"}, nil),
		count: count,
	})
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), string(status))
	}
}
