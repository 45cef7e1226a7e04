package lang

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/message"
)

// TestNeedsOf: what a filter or template reads of the message is found
// from its references; anything it cannot tell reads everything.
func TestNeedsOf(t *testing.T) {
	cfg := loadTemplateConfig(t, "")
	for _, tc := range []struct {
		src      string
		partial  bool
		attrs    []string
		allProps bool
		props    []string
	}{
		{`"fixed"`, true, nil, false, nil},
		{`message.properties.partner == "fabrikam"`, true, []string{"properties"}, false, []string{"partner"}},
		{`message.properties["partner"]`, true, []string{"properties"}, false, []string{"partner"}},
		{`"${message.id}-${message.file_name}"`, true, []string{"file_name", "id"}, false, nil},
		{`message["size"] > 10`, true, []string{"size"}, false, nil},
		{`lookup(message.properties, "x", "d")`, true, []string{"properties"}, true, nil},
		{`message.properties[local.hook]`, true, []string{"properties"}, true, nil},
		{`[for k, v in message.properties : k][0]`, true, []string{"properties"}, true, nil},
		{`jsonencode(message)`, false, nil, false, nil},
		{`message[local.hook]`, false, nil, false, nil},
		{`message.nope`, false, nil, false, nil},
	} {
		n := needsOf(parseTemplate(t, cfg, tc.src))
		attrs := slices.Sorted(maps.Keys(n.attrs))
		if n.partial != tc.partial || !slices.Equal(attrs, tc.attrs) || n.allProps != tc.allProps || !slices.Equal(n.props, tc.props) {
			t.Errorf("%s: needs %+v, want partial %v, attrs %q, all properties %v, properties %q",
				tc.src, n, tc.partial, tc.attrs, tc.allProps, tc.props)
		}
	}
}

// TestNeedsSameResults: a filter or template evaluated on the part of the
// message it reads gives what it gives on the whole message: the value,
// its marks (sensitive, from the sender, and where they start) and the
// error, with the error's words.
func TestNeedsSameResults(t *testing.T) {
	cfg := loadTemplateConfig(t, "")
	rl := cfg.ReceiveLocations[0]
	msg := &message.Message{ID: "01m92", ReceiveLocation: "in", FileName: "po.edi", ContentType: "application/edi-x12",
		Size: 4096, ReceivedAt: time.Date(2026, 12, 5, 10, 0, 0, 0, time.FixedZone("x", 3600)), Party: "fabrikam",
		Properties: rl.Properties.V, SensitiveProperties: rl.SensitiveProperties}
	for _, src := range []string{
		`"fixed"`,
		`"${message.id}/${message.file_name}"`,
		`"x-${message.properties.partner}-${message.properties.token}"`,
		`"${message.properties.upper}${message.content_type}"`,
		`message.properties.nope`,
		`lookup(message.properties, "nope", "default")`,
		`join(",", keys(message.properties))`,
		`message.properties[local.hook]`,
		`"${message.received_at} ${message.size} ${message["party"]}"`,
		`jsonencode(message)`,
		`message.size > 10 ? "big" : "small"`,
		`upper(message.receive_location)`,
	} {
		expr := parseTemplate(t, cfg, src)
		ctx := cfg.EvalContexts[expr.Range().Filename]
		want, wantErr := evalTemplate(ctx, expr, messageValue(msg))
		got, gotErr := evalTemplate(ctx, expr, needsOf(expr).value(msg))
		if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("%s: %+v, %v on what it reads; %+v, %v on the whole message", src, got, gotErr, want, wantErr)
		}
	}
	for _, src := range []string{
		`message.properties.partner == "fabrikam"`,
		`message.properties.token == "s3cr3t"`,
		`message.properties.nope == "x"`,
		`contains(keys(message.properties), "partner")`,
		`message.size`,
	} {
		expr := parseTemplate(t, cfg, src)
		ctx := cfg.EvalContexts[expr.Range().Filename]
		want, wantErr := evalFilter(ctx, expr, "out", messageValue(msg))
		got, gotErr := evalFilter(ctx, expr, "out", needsOf(expr).value(msg))
		if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("filter %s: %v, %v on what it reads; %v, %v on the whole message", src, got, gotErr, want, wantErr)
		}
	}
}

// TestCompiledReadsOnlyWhatItNeeds: a compiled filter builds only the
// properties it compares, however many the message has.
func TestCompiledReadsOnlyWhatItNeeds(t *testing.T) {
	cfg := loadTemplateConfig(t, "")
	f := newFilter(parseTemplate(t, cfg, `message.properties.partner == "fabrikam"`), cfg.EvalContexts[cfg.ReceiveLocations[0].DeclRange.Filename], "out")
	props := map[string]string{"partner": "fabrikam"}
	for i := range 100 {
		props[fmt.Sprintf("p%d", i)] = "v"
	}
	v := f.needs.value(&message.Message{Properties: props})
	if got := v.GetAttr("properties").LengthInt(); got != 1 {
		t.Errorf("the filter's message object has %d properties, want the 1 it reads", got)
	}
	if v.Type().HasAttribute("received_at") {
		t.Error("the filter's message object has received_at, which it does not read")
	}
	if ok, err := f.Match(&message.Message{Properties: props}); !ok || err != nil {
		t.Errorf("Match = %v, %v; want true", ok, err)
	}
}

// BenchmarkFilterMatch is the quickstart's filter on a message with a few
// properties: what routing costs per message and send port. The
// sub-benchmark "whole" builds the whole message object, as every
// evaluation did before messageNeeds; "needs" builds what the filter reads
// and evaluates it with HCL, as Match did before fastFilter; "match" is
// Match, which decides it without HCL.
func BenchmarkFilterMatch(b *testing.B) {
	cfg := loadTemplateConfig(b, "")
	expr := parseTemplate(b, cfg, `message.properties.partner == "fabrikam"`)
	ctx := cfg.EvalContexts[expr.Range().Filename]
	msg := &message.Message{ID: "01m92", ReceiveLocation: "in", FileName: "po.edi", ReceivedAt: time.Now(),
		Properties: map[string]string{"partner": "fabrikam", "doc": "850", "flow": "orders", "region": "eu"}}
	for _, bc := range []struct {
		name  string
		needs messageNeeds
	}{{"whole", messageNeeds{}}, {"needs", needsOf(expr)}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if ok, err := evalFilter(ctx, expr, "out", bc.needs.value(msg)); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
	b.Run("match", func(b *testing.B) {
		f := cfg.SendPorts[0].Filter
		for b.Loop() {
			if ok, err := f.Match(msg); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
