package lang

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/transport/file"
)

// TestFastTemplateAgreesWithHCL compiles file_name templates as Load does
// and checks, for every template and message, that Eval (which builds
// simple templates without HCL) answers what HCL's evaluation answers: the
// text, its marks and their offsets, the error included; and that the
// templates meant for the fast path do take it.
func TestFastTemplateAgreesWithHCL(t *testing.T) {
	templates := []struct {
		expr string
		fast bool // built without HCL, for a message with every property it reads
	}{
		{`"${message.id}.eml"`, true},
		{`"out-${message.properties.partner}-${message.id}.edi"`, true},
		{`"${message.file_name}"`, true},
		{`message.file_name`, true},
		{`"x-${message.file_name}-${message.properties.token}-${message.content_type}"`, true}, // sender, then sensitive
		{`"${message.id}-${message.content_type}"`, true},
		{`"${message.properties.token}${message.properties.partner}"`, true}, // sensitive first
		{`"${message.properties.partner}.txt"`, true},                        // another property is sensitive
		{`"${message.receive_location}-${message.party}-${message.received_at}"`, true},
		{`"e${message.properties.accent}.txt"`, true},                 // a combining accent joins the e before it
		{`"e${message.properties.accent}${message.file_name}"`, true}, // ... so the parts no longer tell offsets
		{`"${message.properties["a-b"]}"`, true},
		{`"fixed.txt"`, true},
		{`"${message.properties.nope}.txt"`, true}, // decided by HCL when the property is missing
		// Left to HCL: functions, numbers, sensitive values, conditionals.
		{`"${message.size}.bin"`, false},
		{`"${upper(message.id)}.eml"`, false},
		{`"${var.plain}-${message.id}"`, true},
		{`"${local.hook}-${message.id}"`, false}, // derived from a sensitive variable
		{`"${message.party == "" ? "none" : message.party}.eml"`, false},
	}
	var src strings.Builder
	for i, tp := range templates {
		fmt.Fprintf(&src, "send_port \"p%d\" {\n  host = host.h\n  transport \"file\" {\n    path = \"out%d\"\n    file_name = %s\n  }\n}\n", i, i, tp.expr)
	}
	cfg := loadTemplateConfig(t, src.String())
	byName := map[string]*compiledTemplate{}
	for _, p := range cfg.SendPorts {
		byName[p.Name] = p.Transport.Config.(*file.SendConfig).FileName.V.(*compiledTemplate)
	}
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	messages := []*message.Message{
		{ID: "01m92", ReceiveLocation: "in", FileName: "po.edi", ContentType: "application/edi-x12", ReceivedAt: at,
			Properties:          map[string]string{"partner": "fabrikam", "token": "s3cr3t", "accent": "\u0301", "a-b": "ab", "nope": "here"},
			SensitiveProperties: []string{"token"}, Party: "acme"},
		{ID: "01m93", ReceiveLocation: "in", FileName: "", ContentType: "text/plain", ReceivedAt: at,
			Properties: map[string]string{"partner": "contoso", "token": "x", "accent": "", "a-b": ""}},
		{ID: "01m94", ReceiveLocation: "in"}, // no properties: HCL's error where one is read
	}
	for i, tp := range templates {
		ct := byName[fmt.Sprintf("p%d", i)]
		if ct == nil {
			t.Fatalf("template %s: not compiled", tp.expr)
		}
		for _, m := range messages {
			checkTemplateAgrees(t, ct, tp.expr, m)
		}
		built := false
		if ct.fast != nil {
			_, built = ct.fast.eval(messages[0])
		}
		if built != tp.fast {
			t.Errorf("template %s: built without HCL = %v, want %v", tp.expr, built, tp.fast)
		}
	}
}

// BenchmarkTemplateEval is the quickstart's file_name, "${message.id}.eml":
// what a file delivery's name costs. "hcl" evaluates it with HCL, as Eval
// did before fastTemplate; "eval" is Eval, which builds it without HCL.
func BenchmarkTemplateEval(b *testing.B) {
	cfg := loadTemplateConfig(b, "send_port \"named\" {\n  host = host.h\n  transport \"file\" {\n    path = \"named\"\n    file_name = \"${message.id}.eml\"\n  }\n}\n")
	var ct *compiledTemplate
	for _, p := range cfg.SendPorts {
		if p.Name == "named" {
			ct = p.Transport.Config.(*file.SendConfig).FileName.V.(*compiledTemplate)
		}
	}
	msg := &message.Message{ID: "01m92", ReceiveLocation: "in", FileName: "po.edi", ReceivedAt: time.Now(),
		Properties: map[string]string{"partner": "fabrikam", "doc": "850"}}
	b.Run("hcl", func(b *testing.B) {
		for b.Loop() {
			if v, err := evalTemplate(ct.ctx, ct.expr, ct.needs.value(msg)); v.Text != "01m92.eml" || err != nil {
				b.Fatal(v, err)
			}
		}
	})
	b.Run("eval", func(b *testing.B) {
		for b.Loop() {
			if v, err := ct.Eval(msg); v.Value != "01m92.eml" || err != nil {
				b.Fatal(v, err)
			}
		}
	})
}
