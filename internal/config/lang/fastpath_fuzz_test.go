package lang

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/transport/file"
)

// fuzzFilters and fuzzTemplates take the fast paths (TestFastFilterAgreesWithHCL
// and TestFastTemplateAgreesWithHCL check which do); FuzzFastPathsAgreeWithHCL
// varies the message they read.
var (
	fuzzFilters = []string{
		`message.properties.partner == "fabrikam"`,
		`message.properties.partner == message.properties.alias`,
		`message.properties.partner != "e\u0301" || message.file_name == "\u00e9"`,
		`!(message.properties.alias == "") && message.receive_location == "in"`,
		`message.file_name == message.properties[""] && message.content_type != var.plain`,
		`message.party == "acme" || message.properties.token == "s3cr3t"`,
	}
	fuzzTemplates = []string{
		`"${message.id}.eml"`,
		`"${message.properties.partner}${message.properties.alias}"`,
		`"e${message.properties.alias}-${message.file_name}"`,
		`"${message.file_name}${message.properties.token}\u0301${message.properties.partner}"`,
		`"${message.properties[""]}-${var.plain}-${message.content_type}"`,
		`message.file_name`,
	}
)

// FuzzFastPathsAgreeWithHCL varies the message's text attributes and
// properties (invalid UTF-8, combining marks that join the parts around
// them, empty and missing properties) and checks that filters and
// templates give what HCL's evaluation gives: the boolean or the text, its
// sensitive and sender marks with their offsets, and the error.
func FuzzFastPathsAgreeWithHCL(f *testing.F) {
	f.Add("fabrikam", "fabrikam", "po.edi", "text/plain", "", "s3cr3t", uint8(0))
	f.Add("e\u0301", "\u0301", "e\u0301", "e", "\u00e9", "x", uint8(1))
	f.Add("\xff\xfe", "\x80", "a\u0301b", "\u0301", "", "", uint8(2))
	f.Add("", "", "", "", "", "", uint8(7))
	var src strings.Builder
	for i, e := range fuzzFilters {
		fmt.Fprintf(&src, "send_port \"f%d\" {\n  host = host.h\n  filter = %s\n  transport \"file\" { path = \"f%d\" }\n}\n", i, e, i)
	}
	for i, e := range fuzzTemplates {
		fmt.Fprintf(&src, "send_port \"t%d\" {\n  host = host.h\n  transport \"file\" {\n    path = \"t%d\"\n    file_name = %s\n  }\n}\n", i, i, e)
	}
	cfg := loadTemplateConfig(f, src.String())
	// By name, in the order of fuzzFilters and fuzzTemplates.
	ports := map[string]*model.SendPort{}
	for _, p := range cfg.SendPorts {
		ports[p.Name] = p
	}
	filters := make([]*compiledFilter, len(fuzzFilters))
	for i := range fuzzFilters {
		filters[i] = ports[fmt.Sprintf("f%d", i)].Filter.(*compiledFilter)
	}
	templates := make([]*compiledTemplate, len(fuzzTemplates))
	for i := range fuzzTemplates {
		templates[i] = ports[fmt.Sprintf("t%d", i)].Transport.Config.(*file.SendConfig).FileName.V.(*compiledTemplate)
	}
	for i, cf := range filters {
		if cf.fast == nil {
			f.Fatalf("filter %s: no fast path", fuzzFilters[i])
		}
	}
	for i, ct := range templates {
		if ct.fast == nil {
			f.Fatalf("template %s: no fast path", fuzzTemplates[i])
		}
	}
	f.Fuzz(func(t *testing.T, partner, alias, fileName, contentType, empty, token string, shape uint8) {
		m := &message.Message{ID: "01m92", ReceiveLocation: "in", FileName: fileName, ContentType: contentType,
			ReceivedAt: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), Party: alias,
			Properties: map[string]string{"partner": partner, "alias": alias, "": empty, "token": token}}
		// shape's bits take properties away (HCL's error, which the fast
		// paths leave to it) and mark the token sensitive.
		if shape&1 != 0 {
			delete(m.Properties, "alias")
		}
		if shape&2 != 0 {
			delete(m.Properties, "")
		}
		if shape&4 == 0 {
			m.SensitiveProperties = []string{"token"}
		}
		for i, cf := range filters {
			checkFilterAgrees(t, cf, fuzzFilters[i], m)
		}
		for i, ct := range templates {
			checkTemplateAgrees(t, ct, fuzzTemplates[i], m)
		}
	})
}

// FuzzFastFilterExpressions builds filters from prog (comparisons of the
// message's attributes, properties, variables, locals and the literal lit,
// joined by &&, || and !, with some that only HCL decides mixed in),
// compiles each as Load does and checks that Match gives what HCL's
// evaluation gives for a message built from the other inputs.
func FuzzFastFilterExpressions(f *testing.F) {
	f.Add([]byte{0, 0, 12, 0}, "fabrikam", "fabrikam", "fabrikam", uint8(0))
	f.Add([]byte{2, 0, 1, 0, 0, 2, 12, 1, 3, 4, 1}, "e\u0301", "\u00e9", "", uint8(1))
	f.Add([]byte{3, 1, 0, 3, 12, 0, 5, 0, 9, 6, 4, 0, 0, 0, 0}, "${x}", "%{y}", "\\\"", uint8(2))
	cfg := loadTemplateConfig(f, "")
	ctx := cfg.SendPorts[0].Filter.(*compiledFilter).ctx
	// The generator reaches the fast path: (partner == lit && !(file_name != id)).
	g := filterGen{prog: []byte{2, 0, 0, 0, 12, 1, 0, 1, 5, 6}, lit: `"x"`}
	if src := g.expr(0); compileFast(parseTemplate(f, cfg, src), ctx) == nil {
		f.Fatalf("%s: no fast path", src)
	}
	f.Fuzz(func(t *testing.T, prog []byte, lit, partner, empty string, shape uint8) {
		if len(prog) > 64 {
			return // deep enough; longer programs only nest further
		}
		g := filterGen{prog: prog, lit: hclQuote(strings.ToValidUTF8(lit, "?"))}
		src := g.expr(0)
		cf := newFilter(parseTemplate(t, cfg, src), ctx, "fuzz")
		cf.compileFast()
		m := &message.Message{ID: "01m92", ReceiveLocation: "in", FileName: lit, ContentType: partner,
			ReceivedAt: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), Party: empty,
			Properties: map[string]string{"partner": partner, "": empty, "we ird": lit, "token": "s3cr3t"}}
		if shape&1 != 0 {
			delete(m.Properties, "partner")
		}
		if shape&2 != 0 {
			m.Properties = nil
		}
		checkFilterAgrees(t, cf, src, m)
	})
}

// filterGen writes a filter expression as its program's bytes choose.
type filterGen struct {
	prog []byte
	lit  string // an HCL string literal
	pos  int
}

func (g *filterGen) next() int {
	if g.pos >= len(g.prog) {
		return 0
	}
	g.pos++
	return int(g.prog[g.pos-1])
}

func (g *filterGen) expr(depth int) string {
	if depth > 6 {
		return g.comparison()
	}
	switch g.next() % 8 {
	case 1:
		return "!(" + g.expr(depth+1) + ")"
	case 2:
		return "(" + g.expr(depth+1) + " && " + g.expr(depth+1) + ")"
	case 3:
		return "(" + g.expr(depth+1) + " || " + g.expr(depth+1) + ")"
	case 4:
		return []string{"true", "false"}[g.next()%2]
	case 5: // HCL's alone: a function
		return "upper(" + g.operand() + ") == " + g.operand()
	case 6: // HCL's alone: a conditional
		return "(" + g.expr(depth+1) + " ? " + g.expr(depth+1) + " : " + g.expr(depth+1) + ")"
	default:
		return g.comparison()
	}
}

func (g *filterGen) comparison() string {
	op := []string{" == ", " != "}[g.next()%2]
	return g.operand() + op + g.operand()
}

func (g *filterGen) operand() string {
	operands := []string{
		"message.properties.partner", `message.properties[""]`, `message.properties["we ird"]`,
		"message.properties.token", "message.properties.nope", "message.file_name", "message.id",
		"message.content_type", "message.party", "message.receive_location", "var.plain", "var.token",
		g.lit, "local.hook", `"fab${"rikam"}"`, `"\u00e9"`,
	}
	return operands[g.next()%len(operands)]
}

// hclQuote returns s as an HCL quoted string whose value is s.
func hclQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+1:], "{"):
			b.WriteRune(r) // $${ and %%{ are a literal ${ and %{
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// FuzzFastTemplateExpressions builds templates from prog (literal text,
// lit among it, and interpolations of the message's attributes and
// properties, variables and locals, with some that only HCL builds mixed
// in), compiles each as Load does and checks that Eval gives what HCL's
// evaluation gives, marks and offsets included, for a message built from
// the other inputs.
func FuzzFastTemplateExpressions(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, "x", "fabrikam", "\u0301", uint8(0))
	f.Add([]byte{4, 5, 3, 6, 7, 1, 9}, "e", "\u0301", "\xff", uint8(4))
	f.Add([]byte{10, 11, 12, 0, 13}, "${x}", "%{y}", "", uint8(1))
	cfg := loadTemplateConfig(f, "")
	ctx := cfg.SendPorts[0].Filter.(*compiledFilter).ctx
	// The generator reaches the fast path.
	if src := templateSource([]byte{0, 1, 2, 3}, "x"); compileFastTemplate(parseTemplate(f, cfg, src), ctx) == nil {
		f.Fatalf("%s: no fast path", src)
	}
	f.Fuzz(func(t *testing.T, prog []byte, lit, partner, empty string, shape uint8) {
		if len(prog) > 32 {
			return
		}
		src := templateSource(prog, lit)
		ct := newTemplate(parseTemplate(t, cfg, src), ctx)
		ct.compileFast()
		m := &message.Message{ID: "01m92", ReceiveLocation: "in", FileName: lit, ContentType: partner,
			ReceivedAt: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), Party: empty,
			Properties: map[string]string{"partner": partner, "": empty, "token": "s3cr3t" + empty}}
		if shape&1 != 0 {
			delete(m.Properties, "partner")
		}
		if shape&2 != 0 {
			m.Properties = nil
		}
		if shape&4 == 0 {
			m.SensitiveProperties = []string{"token"}
		}
		checkTemplateAgrees(t, ct, src, m)
	})
}

// templateSource writes a quoted template whose parts prog chooses: lit
// (HCL-quoted), other literal text, and interpolations.
func templateSource(prog []byte, lit string) string {
	// Without a $ or % at its end, which would join a { after it into an
	// interpolation, a directive or their escapes.
	q := hclQuote(strings.TrimRight(strings.ToValidUTF8(lit, "?"), "$%"))
	parts := []string{
		"${message.id}", "-", "${message.properties.partner}", "${message.file_name}", "e",
		"${message.content_type}", "\\u0301", "${message.properties.token}", "${message.party}",
		"${var.plain}", "${local.hook}", `${message.properties[""]}`, "${upper(message.id)}",
		"%{ if message.party == \"\" }none%{ else }${message.party}%{ endif }", "${message.received_at}",
		q[1 : len(q)-1],
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, p := range prog {
		b.WriteString(parts[int(p)%len(parts)])
	}
	b.WriteByte('"')
	return b.String()
}

// checkFilterAgrees fails t unless cf.Match(m) gives what HCL's
// evaluation of the filter gives, the error included.
func checkFilterAgrees(t testing.TB, cf *compiledFilter, name string, m *message.Message) {
	t.Helper()
	want, wantErr := evalFilter(cf.ctx, cf.expr, cf.port, cf.needs.value(m))
	got, err := cf.Match(m)
	if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("filter %s on %+v: Match = %v, %v; HCL says %v, %v", name, m, got, err, want, wantErr)
	}
}

// checkTemplateAgrees fails t unless ct.Eval(m) gives what HCL's
// evaluation of the template gives: the text, its marks and their
// offsets, the error included.
func checkTemplateAgrees(t testing.TB, ct *compiledTemplate, name string, m *message.Message) {
	t.Helper()
	want, wantErr := evalTemplate(ct.ctx, ct.expr, ct.needs.value(m))
	wantText := message.Text{Value: want.Text, Sensitive: want.Sensitive, SensitiveAt: want.SensitiveAt,
		FromSender: want.FromSender, FromSenderAt: want.FromSenderAt}
	got, err := ct.Eval(m)
	if got != wantText || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("template %s on %+v: Eval = %+v, %v; HCL says %+v, %v", name, m, got, err, wantText, wantErr)
	}
}
