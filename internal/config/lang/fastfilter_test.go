package lang

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/message"
)

// TestFastFilterAgreesWithHCL compiles send port filters as Load does and
// checks, for every filter and message, that Match (which decides simple
// filters without HCL) answers what HCL's evaluation answers, the error
// included, and that the filters meant for the fast path do take it.
func TestFastFilterAgreesWithHCL(t *testing.T) {
	filters := []struct {
		expr string
		fast bool // decided without HCL, for a message with every property it reads
	}{
		{`message.properties.partner == "fabrikam"`, true},
		{`message.properties["partner"] != "fabrikam"`, true},
		{`"fabrikam" == message.properties.partner`, true},
		{`message.receive_location == "in" && message.properties.partner == "fabrikam"`, true},
		{`message.receive_location == "elsewhere" || message.properties.doc == "850"`, true},
		{`!(message.properties.partner == "contoso") && (message.party == "" || message.party == "acme")`, true},
		{`message.properties.partner == message.properties.alias`, true},
		{`message.properties.token == "s3cr3t"`, true}, // sensitive: still a comparison
		{`message.file_name == "po.edi" && message.content_type != "text/plain"`, true},
		{`message.id == "01m92"`, true},
		{`message.received_at == "2026-12-05T10:00:00Z"`, true},
		{`message.properties.name == "e\u0301"`, true}, // NFC: é composed and decomposed are equal
		{`message.properties.partner == ""`, true},
		{`message.properties[""] == "empty key"`, true},
		{`true`, true},
		{`!false && message.properties.partner != "x"`, true},
		// Left to HCL: other operators, functions, numbers.
		{`message.size > 10`, false},
		{`upper(message.properties.partner) == "FABRIKAM"`, false},
		{`message.properties.partner != var.plain`, true}, // a variable known at load
		{`message.properties.token == var.token`, false},  // a sensitive one: HCL
		{`message.properties.token == local.hook`, false}, // derived from a sensitive one: HCL
		{`message.properties.partner == "fabrikam" && var.plain == "p"`, true},
		{`message.properties.partner == "fab${"rikam"}"`, false},
		{`message.properties.partner == "fabrikam" ? true : false`, false},
		{`contains(keys(message.properties), "partner")`, false},
	}
	var src strings.Builder
	for i, f := range filters {
		fmt.Fprintf(&src, "send_port \"p%d\" {\n  host = host.h\n  filter = %s\n  transport \"file\" { path = \"out%d\" }\n}\n", i, f.expr, i)
	}
	cfg := loadTemplateConfig(t, src.String())
	byName := map[string]*compiledFilter{}
	for _, p := range cfg.SendPorts {
		byName[p.Name] = p.Filter.(*compiledFilter)
	}
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	full := map[string]string{"partner": "fabrikam", "alias": "fabrikam", "doc": "850", "token": "s3cr3t", "name": "\u00e9",
		"": "empty key"}
	messages := []*message.Message{
		{ID: "01m92", ReceiveLocation: "in", FileName: "po.edi", ContentType: "application/edi-x12", ReceivedAt: at,
			Properties: full, SensitiveProperties: []string{"token"}},
		{ID: "01m93", ReceiveLocation: "elsewhere", FileName: "", ContentType: "text/plain", ReceivedAt: at.Add(time.Second),
			Properties: map[string]string{"partner": "contoso", "alias": "c", "doc": "810", "token": "x", "name": "e\u0301"},
			Party:      "acme"},
		{ID: "01m94", ReceiveLocation: "in", Properties: map[string]string{"partner": ""}, Party: "other"},
		{ID: "01m95", ReceiveLocation: "in"}, // no properties: HCL's error
	}
	for i, f := range filters {
		cf := byName[fmt.Sprintf("p%d", i)]
		for _, m := range messages {
			checkFilterAgrees(t, cf, f.expr, m)
		}
		handled := false
		if cf.fast != nil {
			_, handled = cf.fast.match(messages[0])
		}
		if handled != f.fast {
			t.Errorf("filter %s: decided without HCL = %v, want %v", f.expr, handled, f.fast)
		}
	}
}

// TestFastFilterConcurrent: Load sets a filter's fast path before it
// returns (once its == is HCL's own again), and the filter then answers
// many concurrent callers (the receives route at once). Run with -race.
func TestFastFilterConcurrent(t *testing.T) {
	cfg := loadTemplateConfig(t, "")
	f := cfg.SendPorts[0].Filter
	if f.(*compiledFilter).fast == nil {
		t.Fatal("Load left the quickstart's filter without its fast path")
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			m := &message.Message{ID: fmt.Sprint(i), Properties: map[string]string{"partner": "fabrikam"}}
			if ok, err := f.Match(m); !ok || err != nil {
				t.Errorf("Match = %v, %v; want true", ok, err)
			}
		})
	}
	wg.Wait()
}
