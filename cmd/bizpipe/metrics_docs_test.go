package main

import (
	"context"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// TestMetricsDocumented: the metrics table of docs/operations.md names
// every metric run serves on --metrics-addr, but the Go runtime's and the
// process's (go_*, process_*, which it names as families), with its type
// and its labels; and names no other. The metrics are those of a run that
// serves a receive location and a send port with receipts, its backlog
// and certificates read, and its /metrics handler made (which adds a
// metric of its own).
func TestMetricsDocumented(t *testing.T) {
	m := metrics.New()
	m.Serving([]string{"in"}, []string{"out"}, []string{"out"})
	m.RegisterBacklog(func(context.Context) (map[msgbox.Status]int, error) {
		out := map[msgbox.Status]int{}
		for _, st := range msgbox.BacklogStatuses() {
			out[st] = 0
		}
		return out, nil
	})
	m.RegisterCertificateExpiry(func() []metrics.CertificateExpiry {
		return []metrics.CertificateExpiry{{Thumbprint: "AB", Use: "signing", Subject: "CN=x", NotAfter: time.Unix(1, 0)}}
	})
	_ = m.Handler()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	type metric struct {
		typ    string
		labels []string // sorted
	}
	served := map[string]metric{}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "go_") || strings.HasPrefix(f.GetName(), "process_") {
			continue
		}
		var labels []string
		if ms := f.GetMetric(); len(ms) > 0 {
			for _, l := range ms[0].GetLabel() {
				labels = append(labels, l.GetName())
			}
		}
		slices.Sort(labels)
		served[f.GetName()] = metric{strings.ToLower(dto.MetricType_name[int32(f.GetType())]), labels}
	}

	src, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	// | `name` | type | labels | what |, the labels' values in
	// parentheses.
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| ([a-z]+) \\| ([^|]*) \\|")
	values := regexp.MustCompile(`\([^)]*\)`)
	name := regexp.MustCompile("`([a-z_]+)`")
	documented := map[string]metric{}
	for line := range strings.Lines(string(src)) {
		r := row.FindStringSubmatch(line)
		if r == nil {
			continue
		}
		var labels []string
		for _, l := range name.FindAllStringSubmatch(values.ReplaceAllString(r[3], ""), -1) {
			labels = append(labels, l[1])
		}
		slices.Sort(labels)
		documented[r[1]] = metric{r[2], labels}
	}
	if len(documented) == 0 {
		t.Fatal("docs/operations.md has no metrics table")
	}
	for _, n := range slices.Sorted(maps.Keys(served)) {
		d, ok := documented[n]
		switch {
		case !ok:
			t.Errorf("%s, a %s with labels %v, is not in the metrics table of docs/operations.md", n, served[n].typ, served[n].labels)
		case d.typ != served[n].typ || !slices.Equal(d.labels, served[n].labels):
			t.Errorf("docs/operations.md: %s is a %s with labels %v; served as a %s with labels %v",
				n, d.typ, d.labels, served[n].typ, served[n].labels)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(documented)) {
		if _, ok := served[n]; !ok {
			t.Errorf("docs/operations.md names %s, which run does not serve", n)
		}
	}
}
