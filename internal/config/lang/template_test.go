package lang

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

// templateConfig declares what the template tests evaluate: a sensitive
// variable, a local derived from it, and a receive location whose
// properties mix sensitive and plain values.
const templateConfig = nestingGroup + `
variable "token" {
  type      = string
  sensitive = true
}
variable "plain" {
  type    = string
  default = "p"
}
locals {
  hook = "hooks/${var.token}"
}
host "h" {}
receive_location "in" {
  host       = host.h
  properties = { partner = "fabrikam", token = var.token, upper = upper(var.token) }
  transport "file" { path = "in" }
}
send_port "out" {
  host   = host.h
  filter = message.properties.partner == "fabrikam"
  transport "file" { path = "out" }
}
`

// loadTemplateConfig loads templateConfig (plus extra) in run mode, with
// token = "s3cr3t".
func loadTemplateConfig(t testing.TB, extra string) *model.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "main.hcl")
	writeTestFile(t, p, templateConfig+extra)
	cfg, diags := Load([]string{p}, Options{Mode: ModeRun, Vars: []string{"token=s3cr3t"}, LookupEnv: noEnv})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	return cfg
}

// parseTemplate parses src as an expression of the configuration's file, so
// that it is evaluated with var, local and the functions.
func parseTemplate(t testing.TB, cfg *model.Config, src string) hcl.Expression {
	t.Helper()
	var file string
	for name := range cfg.Files {
		file = name
	}
	expr, ds := hclsyntax.ParseExpression([]byte(src), file, hcl.InitialPos)
	if ds.HasErrors() {
		t.Fatalf("parsing %s: %s", src, ds.Error())
	}
	return expr
}

// TestSensitiveProperties: the receive location records which properties
// derive from a sensitive value, and a message carries them marked.
func TestSensitiveProperties(t *testing.T) {
	cfg := loadTemplateConfig(t, "")
	rl := cfg.ReceiveLocations[0]
	if want := []string{"token", "upper"}; !slices.Equal(rl.SensitiveProperties, want) {
		t.Errorf("SensitiveProperties = %q, want %q", rl.SensitiveProperties, want)
	}
	if rl.Properties.V["token"] != "s3cr3t" || rl.Properties.V["partner"] != "fabrikam" {
		t.Errorf("Properties = %q: the values themselves are needed at run time", rl.Properties.V)
	}
	msg := Message{Properties: rl.Properties.V, SensitiveProperties: rl.SensitiveProperties}.Value()
	props := msg.GetAttr("properties")
	if !props.Index(cty.StringVal("token")).HasMark(markSensitive) || props.Index(cty.StringVal("partner")).IsMarked() {
		t.Errorf("message properties %#v: want token marked sensitive, partner not", props)
	}
}

// TestSensitivePropertyNamesRefused: a map that is sensitive as a whole
// would make the property names, which are shown, derive from the secret:
// BP1004 in run, and in validate when the value, unknown, still carries
// the mark (HCL drops it from an object with an unknown key).
func TestSensitivePropertyNamesRefused(t *testing.T) {
	for _, props := range []string{`var.m`, `{ (var.token) = "v" }`, `merge(var.m, { a = "b" })`} {
		modes := []Mode{ModeRun}
		if props == `var.m` {
			modes = append(modes, ModeValidate)
		}
		for _, mode := range modes {
			p := filepath.Join(t.TempDir(), "main.hcl")
			writeTestFile(t, p, strings.Replace(templateConfig, `{ partner = "fabrikam", token = var.token, upper = upper(var.token) }`, props, 1)+`
variable "m" {
  type      = map(string)
  sensitive = true
}
`)
			vars := []string{"token=s3cr3t", `m={ k = "s3cr3t" }`}
			if mode == ModeValidate {
				vars = nil
			}
			cfg, diags := Load([]string{p}, Options{Mode: mode, Vars: vars, LookupEnv: noEnv})
			found := false
			for _, d := range diags {
				if d.Summary == "Sensitive value as properties" && diag.CodeOf(d) == diag.CodeInvalidValue {
					found = true
				}
				if strings.Contains(d.Detail, "s3cr3t") {
					t.Errorf("%s: diagnostic shows the value: %s", props, d.Detail)
				}
			}
			if !found {
				t.Errorf("properties = %s (mode %v): no BP1004 refusing it; diagnostics: %s", props, mode, diags.Error())
			}
			if len(cfg.ReceiveLocations[0].Properties.V) != 0 {
				t.Errorf("properties = %s: kept %q", props, cfg.ReceiveLocations[0].Properties.V)
			}
		}
	}
}

// TestSensitiveHeaderNamesRefused: a header name is shown (in diagnostics
// about its template, and the transport's own about the header), so one
// derived from a sensitive value is refused, as a property name is
// (TestSensitivePropertyNamesRefused), and no diagnostic shows it,
// reversed or otherwise changed; a sensitive header value is fine.
func TestSensitiveHeaderNamesRefused(t *testing.T) {
	for _, headers := range []string{
		`{ (strrev(var.token)) = null }`,
		`{ "X-${strrev(var.token)}" = ["a"] }`,
		`{ (replace(var.token, "3", " ")) = "v" }`,
		`{ (local.hook) = "v" }`,
	} {
		p := filepath.Join(t.TempDir(), "main.hcl")
		writeTestFile(t, p, templateConfig+`
send_port "http" {
  host   = host.h
  filter = true
  transport "http" {
    url     = "http://127.0.0.1:9/x"
    headers = `+headers+`
  }
}
`)
		cfg, diags := Load([]string{p}, Options{Mode: ModeRun, Vars: []string{"token=s3cr3t"}, LookupEnv: noEnv})
		found := false
		for _, d := range diags {
			if d.Summary == "Sensitive header name" && diag.CodeOf(d) == diag.CodeInvalidValue {
				found = true
			}
			if text := d.Summary + " " + d.Detail; strings.Contains(text, "3rc3s") || strings.Contains(text, "s cr") || strings.Contains(text, "s3cr3t") {
				t.Errorf("headers = %s: diagnostic shows the value: %s", headers, text)
			}
		}
		if !found || len(diags) != 1 {
			t.Errorf("headers = %s: want one BP1004 refusing the name; diagnostics: %s", headers, diags.Error())
		}
		if got := cfg.SendPorts[1].Transport; got == nil {
			t.Errorf("headers = %s: transport not decoded", headers)
		}
	}
	// A sensitive value under a name written out is what headers are for
	// (loadTemplateConfig fails on any error).
	loadTemplateConfig(t, `
send_port "http" {
  host   = host.h
  filter = true
  transport "http" {
    url     = "http://127.0.0.1:9/x"
    headers = { "X-Token" = var.token }
  }
}
`)
}

// TestEvalTemplateOrigins: a template's value says whether, and from where
// on, it derives from a sensitive value and from what the sender chose
// (file_name, content_type), through variables, locals, properties and
// functions.
func TestEvalTemplateOrigins(t *testing.T) {
	cfg := loadTemplateConfig(t, "")
	rl := cfg.ReceiveLocations[0]
	msg := Message{ID: "01id", FileName: "a b.xml", ContentType: "text/plain", Properties: rl.Properties.V,
		SensitiveProperties: rl.SensitiveProperties}.Value()
	for _, tc := range []struct {
		src          string
		text         string
		sensitive    bool
		sensitiveAt  int
		fromSender   bool
		fromSenderAt int
	}{
		{src: `"https://h.example/in/${message.id}"`, text: "https://h.example/in/01id"},
		{src: `"https://h.example/hooks/${var.token}"`, text: "https://h.example/hooks/s3cr3t", sensitive: true, sensitiveAt: 24},
		{src: `"https://h.example/${local.hook}?n=${message.file_name}"`, text: "https://h.example/hooks/s3cr3t?n=a b.xml",
			sensitive: true, sensitiveAt: 18, fromSender: true, fromSenderAt: 33},
		{src: `"https://h.example/${message.properties.token}"`, text: "https://h.example/s3cr3t", sensitive: true, sensitiveAt: 18},
		{src: `"https://h.example/${lower(message.properties.upper)}"`, text: "https://h.example/s3cr3t", sensitive: true, sensitiveAt: 18},
		{src: `"https://h.example/${message.properties.partner}"`, text: "https://h.example/fabrikam"},
		{src: `"https://h.example${message.file_name}"`, text: "https://h.examplea b.xml", fromSender: true, fromSenderAt: 17},
		{src: `"x/${urlencode(message.file_name)}"`, text: "x/a+b.xml", fromSender: true, fromSenderAt: 2},
		{src: `"${message.content_type}"`, text: "text/plain", fromSender: true},
		// A reference or a function call derives as a whole: offset 0.
		{src: `format("https://h.example/%s", var.token)`, text: "https://h.example/s3cr3t", sensitive: true},
		{src: `local.hook`, text: "hooks/s3cr3t", sensitive: true},
		{src: `"%{if message.file_name == "a b.xml"}https://a.example%{else}https://b.example%{endif}/in"`,
			text: "https://a.example/in", fromSender: true},
	} {
		got, err := EvalTemplate(cfg, parseTemplate(t, cfg, tc.src), msg)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		want := Template{Text: tc.text, Sensitive: tc.sensitive, SensitiveAt: tc.sensitiveAt,
			FromSender: tc.fromSender, FromSenderAt: tc.fromSenderAt}
		if got != want {
			t.Errorf("%s:\n got  %+v\n want %+v", tc.src, got, want)
		}
	}
}

// TestEvalErrorsHideSensitiveValues: a failing template or filter that
// reads a sensitive value says where it failed, not with what value (a
// function's error quotes its argument); one that reads none keeps the
// details.
func TestEvalErrorsHideSensitiveValues(t *testing.T) {
	cfg := loadTemplateConfig(t, "")
	rl := cfg.ReceiveLocations[0]
	msg := Message{ID: "01id", FileName: "f.xml", Properties: rl.Properties.V, SensitiveProperties: rl.SensitiveProperties}.Value()
	for _, tc := range []struct {
		src    string
		hidden bool
	}{
		{`"${parseint(message.properties.token, 10)}"`, true},
		{`"${parseint(var.token, 10)}"`, true},
		{`"${parseint(local.hook, 10)}"`, true},
		{`"${message.properties.nope}"`, true}, // the properties include a sensitive one
		{`"${parseint(message.properties.partner, 10)}"`, false},
		{`"${parseint(message.file_name, 10)}"`, false},
	} {
		_, err := EvalTemplate(cfg, parseTemplate(t, cfg, tc.src), msg)
		if err == nil {
			t.Errorf("%s: no error", tc.src)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "S3CR3T") {
			t.Errorf("%s: error shows the sensitive value: %v", tc.src, err)
		}
		if hidden := strings.Contains(err.Error(), "details hidden"); hidden != tc.hidden {
			t.Errorf("%s: details hidden = %v, want %v: %v", tc.src, hidden, tc.hidden, err)
		}
		if !strings.Contains(err.Error(), "main.hcl") {
			t.Errorf("%s: error does not say where: %v", tc.src, err)
		}
		port := &model.SendPort{Name: "p", FilterExpr: parseTemplate(t, cfg, strings.Trim(strings.TrimPrefix(tc.src, `"${`), `}"`)+` == 1`)}
		port.FilterRange = port.FilterExpr.Range()
		_, err = EvalFilter(cfg, port, msg)
		if err == nil || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "details hidden") != tc.hidden {
			t.Errorf("filter %s: error %v: want one, without the value, details hidden %v", tc.src, err, tc.hidden)
		}
	}
}

// TestURLEncode: Terraform's urlencode (url.QueryEscape), with its
// documented examples; a sensitive argument gives a sensitive result.
func TestURLEncode(t *testing.T) {
	for in, want := range map[string]string{
		"Hello World!":                       "Hello+World%21",
		"☃":                                  "%E2%98%83",
		"z HTTP1.0 x&admin=1#frag.xml":       "z+HTTP1.0+x%26admin%3D1%23frag.xml",
		"a/b?c=d;e@f:g+h%i\r\n\x00":          "a%2Fb%3Fc%3Dd%3Be%40f%3Ag%2Bh%25i%0D%0A%00",
		"unreserved-._~AZaz09":               "unreserved-._~AZaz09",
		"":                                   "",
		"terraform urlencode":                "terraform+urlencode",
		"\u200e4E077EB5555B50DCBCBF3D726128": "%E2%80%8E4E077EB5555B50DCBCBF3D726128",
	} {
		got, err := urlencodeFunction.Call([]cty.Value{cty.StringVal(in)})
		if err != nil || got.AsString() != want {
			t.Errorf("urlencode(%q) = %#v, %v; want %q", in, got, err, want)
		}
	}
	got, err := urlencodeFunction.Call([]cty.Value{cty.StringVal("a b").Mark(markSensitive)})
	if err != nil || !got.HasMark(markSensitive) {
		t.Errorf("urlencode of a sensitive value = %#v, %v; want it marked sensitive", got, err)
	}
}

// TestSensitiveStrings: the strings of sensitive variables, whatever their
// type, and of locals derived from them; nothing else.
func TestSensitiveStrings(t *testing.T) {
	cfg := loadTemplateConfig(t, `
variable "list" {
  type      = list(string)
  sensitive = true
  default   = ["l1", "l2"]
}
variable "open" {
  type    = string
  default = "visible"
}
locals {
  derived = upper(var.token)
  plain   = var.open
}
certificate_store "literal" {
  path     = "stores/none"
  password = "LITERAL-PW"
}
`)
	got := SensitiveStrings(cfg)
	// A password written as a literal is a secret too.
	if want := []string{"LITERAL-PW", "S3CR3T", "hooks/s3cr3t", "l1", "l2", "s3cr3t"}; !slices.Equal(got, want) {
		t.Errorf("SensitiveStrings = %q, want %q", got, want)
	}
}

// TestLiteralSecrets: the literals written where a secret goes are
// secrets even when they do not evaluate (a snippet of their line would
// show them): a sensitive variable's default of the wrong type or in a
// failing call, a store's password; not a variable that is not sensitive.
// sensitive is judged as the variable's decoding judges it, converted to a
// bool: "true" (and "1") make the variable sensitive, so its default too.
func TestLiteralSecrets(t *testing.T) {
	e := parseFile([]byte(`
variable "mistyped" {
  type      = number
  sensitive = true
  default   = "NOT-A-NUMBER"
}
variable "called" {
  sensitive = true
  default   = upper("IN-A-CALL", 1)
}
variable "as_string" {
  type      = number
  sensitive = "true"
  default   = "SENSITIVE-AS-STRING"
}
variable "as_one" {
  type      = number
  sensitive = "1"
  default   = "SENSITIVE-AS-ONE"
}
variable "open" {
  default = "VISIBLE"
}
variable "escaped" {
  type      = number
  sensitive = true
  default   = "P\u00c4SS"
}
variable "open_as_string" {
  type      = number
  sensitive = "false"
  default   = "VISIBLE-AS-STRING"
}
certificate_store "s" {
  path     = "x"
  password = "PW-${"PART"}"
}
`), "secrets.hcl")
	if e.diags.HasErrors() {
		t.Fatal(e.diags)
	}
	got := LiteralSecrets([]*hcl.File{e.file})
	slices.Sort(got)
	// An escaped literal is there as written too: a snippet shows that.
	if want := []string{"IN-A-CALL", "NOT-A-NUMBER", "PART", "PW-", `P\u00c4SS`, "PÄSS", "SENSITIVE-AS-ONE", "SENSITIVE-AS-STRING"}; !slices.Equal(got, want) {
		t.Errorf("LiteralSecrets = %q, want %q", got, want)
	}
}

// TestLiteralSecretsJSON: a JSON file's literal secrets are found as a
// native file's are (TestLiteralSecrets), the strings of a value and its
// objects' keys as written: a sensitive default of the wrong type, or a
// store's password, showed in the snippet of a diagnostic on its line.
// Each string is there as written too, escapes and all: "p\u00e4ss", as
// Python's json.dumps writes "päss", is what a snippet shows.
func TestLiteralSecretsJSON(t *testing.T) {
	e := parseFile([]byte(`{
  "variable": {
    "mistyped": {"type": "number", "sensitive": true, "default": "NOT-A-NUMBER"},
    "called": {"sensitive": true, "default": "${upper(\"IN-A-CALL\", 1)}"},
    "as_string": {"type": "number", "sensitive": "true", "default": {"KEY": ["IN-AN-OBJECT"]}},
    "open": {"default": "VISIBLE"},
    "escaped": {"sensitive": true, "default": {"K\u00c9Y": "P\u00c4SS"}},
    "open_as_string": {"type": "number", "sensitive": "false", "default": "VISIBLE-AS-STRING"}
  },
  "certificate_store": {"s": {"path": "x", "password": "PW-${\"PART\"}"}}
}`), "secrets.hcl.json")
	if e.diags.HasErrors() {
		t.Fatal(e.diags)
	}
	got := LiteralSecrets([]*hcl.File{e.file})
	slices.Sort(got)
	want := []string{`${upper("IN-A-CALL", 1)}`, `${upper(\"IN-A-CALL\", 1)}`, "IN-AN-OBJECT", "KEY", `K\u00c9Y`, "KÉY",
		"NOT-A-NUMBER", `PW-${"PART"}`, `PW-${\"PART\"}`, `P\u00c4SS`, "PÄSS"}
	if !slices.Equal(got, want) {
		t.Errorf("LiteralSecrets = %q, want %q", got, want)
	}
}

// TestMarksChangeNoResult: the marks on a message's values (sender on
// file_name and content_type, sensitive on a property) change what filters
// and templates may show, never what they compute.
func TestMarksChangeNoResult(t *testing.T) {
	cfg := loadTemplateConfig(t, "")
	m := Message{ID: "01id", ReceiveLocation: "in", FileName: "order-1.b.xml", ContentType: `application/json; charset="x"`,
		Size: 12, Properties: map[string]string{"partner": "fabrikam", "token": "s3cr3t", "order-1.b.xml": "by name"},
		SensitiveProperties: []string{"token"}}
	marked := m.Value()
	plain, _ := marked.UnmarkDeep()
	for _, src := range []string{
		`message.file_name == "order-1.b.xml" && message.properties.token == "s3cr3t"`,
		`[for c in split(".", message.file_name) : upper(c)]`,
		`{for k, v in message.properties : k => v if k != message.file_name}`,
		`length(split(".", message.file_name)) + length(message.properties)`,
		`element(split(".", message.file_name), 1)`,
		`message.properties[message.file_name]`,
		`lookup(message.properties, message.file_name, "none")`,
		`contains(keys(message.properties), message.file_name)`,
		`contains(["x", "order-1.b.xml"], message.file_name)`,
		`message.file_name == "x" ? message.properties.token : message.properties.partner`,
		`regex_replace(message.file_name, "[.]xml$", "")`,
		`format("%s-%s-%d", message.file_name, message.properties.token, message.size)`,
		`formatlist("%s!", split(".", message.file_name))`,
		`coalesce(message.properties.token, message.file_name)`,
		`substr(message.content_type, 0, 16)`,
		`strcontains(message.content_type, "json") && startswith(message.file_name, "order")`,
		`"%{for c in split(".", message.file_name)}[${c}]%{endfor}"`,
		`urlencode(message.properties.token)`,
		`jsonencode({ n = message.file_name, t = message.properties.token })`,
	} {
		expr := parseTemplate(t, cfg, src)
		ctx := cfg.EvalContextFor(expr.Range().Filename).NewChild()
		ctx.Variables = map[string]cty.Value{"message": marked}
		got, ds := expr.Value(ctx)
		if ds.HasErrors() {
			t.Errorf("%s with marks: %s", src, ds.Error())
			continue
		}
		ctx.Variables = map[string]cty.Value{"message": plain}
		want, ds := expr.Value(ctx)
		if ds.HasErrors() {
			t.Errorf("%s without marks: %s", src, ds.Error())
			continue
		}
		if got, _ := got.UnmarkDeep(); !got.RawEquals(want) {
			t.Errorf("%s: %#v with marks, %#v without", src, got, want)
		}
	}
}

// TestTemplateConstant: a template that reads nothing of the message knows
// its value before any message exists (a transport checks a constant url
// at validation); one that reads the message does not, nor one whose value
// is sensitive, which a check would quote.
func TestTemplateConstant(t *testing.T) {
	cfg := loadTemplateConfig(t, "")
	for _, tc := range []struct {
		src, want string
		ok        bool
	}{
		{`"https://as2.example/in"`, "https://as2.example/in", true},
		{`"https://${var.plain}.example/${lower("IN")}"`, "https://p.example/in", true},
		{`"https://as2.example/${message.file_name}"`, "", false},
		{`"https://as2.example/${upper(message.properties.partner)}"`, "", false},
		{`"https://as2.example/${var.token}"`, "", false},
		{`"https://as2.example/${local.hook}"`, "", false},
	} {
		expr := parseTemplate(t, cfg, tc.src)
		tmpl := &compiledTemplate{expr: expr, ctx: cfg.EvalContexts[expr.Range().Filename]}
		got, ok := tmpl.Constant()
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: Constant() = %q, %v; want %q, %v", tc.src, got, ok, tc.want, tc.ok)
		}
	}
}

// TestSensitiveIndexKeys: what a sensitive key selects from an object
// ({ s3cr3t = "alpha" }[var.token]) derives from the secret and is
// sensitive, wherever the index is (HCL dropped the key's mark for an
// object, while go-cty keeps it for a map): in a local, a template at run
// time, and a JSON file's template.
func TestSensitiveIndexKeys(t *testing.T) {
	cfg := loadTemplateConfig(t, `
locals {
  top      = { s3cr3t = "alpha", other = "beta" }[var.token]
  then_attr = { s3cr3t = { n = "alpha" } }[var.token].n
  template = "x-${{ s3cr3t = "alpha" }[var.token]}"
  argument = upper({ s3cr3t = "alpha" }[var.token])
  element  = [for k in ["k"] : { s3cr3t = "alpha" }[var.token]]
  result   = true ? { s3cr3t = "alpha" }[var.token] : "z"
  key      = { s3cr3t = "alpha" }[{ s3cr3t = "s3cr3t" }[var.token]]
}
send_port "picked" {
  host   = host.h
  filter = message.properties.partner == "fabrikam"
  transport "file" {
    path      = "out"
    file_name = "f-${{ s3cr3t = "alpha" }[message.properties.token]}"
  }
}
`)
	for _, l := range cfg.Locals {
		if l.Name == "hook" {
			continue
		}
		t.Run(l.Name, func(t *testing.T) {
			if !sensitive(l.Value) {
				t.Errorf("local.%s = %#v, want it sensitive", l.Name, l.Value)
			}
		})
	}
	if got := SensitiveStrings(cfg); !slices.Contains(got, "alpha") {
		t.Errorf("SensitiveStrings = %q, want alpha among them", got)
	}

	var file string
	for name := range cfg.Files {
		file = name
	}
	rl := cfg.ReceiveLocations[0]
	msg := Message{ID: "m1", Properties: rl.Properties.V, SensitiveProperties: rl.SensitiveProperties}.Value()
	got, err := EvalTemplate(cfg, fileNameOf(t, cfg.Files[file], "picked"), msg)
	if err != nil || got.Text != "f-alpha" || !got.Sensitive || got.SensitiveAt != 2 {
		t.Errorf("file_name = %+v, %v; want f-alpha, sensitive from 2", got, err)
	}

	// A JSON file's string is a template, parsed as it is evaluated.
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "main.hcl"), nestingGroup+`
variable "token" {
  type      = string
  sensitive = true
}
`)
	writeTestFile(t, filepath.Join(dir, "locals.hcl.json"), `{"locals": {"picked": "${{ s3cr3t = \"alpha\" }[var.token]}"}}`)
	cfg, diags := Load([]string{filepath.Join(dir, "locals.hcl.json"), filepath.Join(dir, "main.hcl")}, Options{Mode: ModeRun, Vars: []string{"token=s3cr3t"}, LookupEnv: noEnv})
	if diags.HasErrors() {
		t.Fatalf("loading the JSON file: %s", diags.Error())
	}
	for _, l := range cfg.Locals {
		if l.Name == "picked" && !sensitive(l.Value) {
			t.Errorf("the JSON file's local.picked = %#v, want it sensitive", l.Value)
		}
	}
}

// TestLiteralSecretsLocals: a literal that reaches a store's password
// through locals is a secret, through any number of them, across files,
// native and JSON; a local that selects a part of another keeps only that
// part a secret, and a local no secret uses is shown. A snippet of the
// local's line (upper("...", 1), a call that fails) showed the password.
func TestLiteralSecretsLocals(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"one local", map[string]string{"a.hcl": `
locals {
  pw    = upper("LOCAL-PW", 1)
  shown = "SHOWN"
}
certificate_store "s" {
  path     = "x"
  password = local.pw
}`}, []string{"LOCAL-PW"}},
		{"a chain across files", map[string]string{
			"a.hcl": `locals { outer = "${local.inner}-SUFFIX" }`,
			"b.hcl": `locals { inner = local.deepest }
locals { deepest = "DEEPEST" }`,
			"c.hcl": `certificate_store "s" {
  path     = "x"
  password = local.outer
}`}, []string{"-SUFFIX", "DEEPEST"}},
		{"a part of an object", map[string]string{"a.hcl": `
locals {
  creds  = { user = "ADMIN", pw = "OBJ-PW", "quoted key" = ["IN-A-TUPLE", "NOT-THIS"] }
  alias  = local.creds
  second = local.alias["quoted key"][0]
}
certificate_store "s" {
  path     = "x"
  password = local.alias.pw
}
certificate_store "t" {
  path     = "x"
  password = local.second
}`}, []string{"IN-A-TUPLE", "OBJ-PW"}},
		{"a part not written out", map[string]string{"a.hcl": `
locals {
  creds = merge({ user = "ADMIN" }, { pw = "MERGED-PW" })
}
certificate_store "s" {
  path     = "x"
  password = local.creds.pw
}`}, []string{"ADMIN", "MERGED-PW"}},
		{"a cycle", map[string]string{"a.hcl": `
locals {
  a = { x = local.b.y, lit = "CYCLE-A" }
  b = { y = local.a.x, lit = "CYCLE-B" }
}
certificate_store "s" {
  path     = "x"
  password = local.a.x
}`}, []string{"CYCLE-A", "CYCLE-B"}},
		{"JSON locals and a native password", map[string]string{
			"a.hcl.json": `{"locals": {"pw": "JSON-PW", "creds": {"pw": "JSON-PART", "user": "JSON-USER"}, "shown": "JSON-SHOWN"}}`,
			"b.hcl": `certificate_store "s" {
  path     = "x"
  password = local.pw
}
certificate_store "t" {
  path     = "x"
  password = local.creds.pw
}`}, []string{"JSON-PART", "JSON-PW"}},
		{"a part of a JSON object, escaped", map[string]string{
			"a.hcl.json": `{"locals": {"creds": {"pw": "P\u00c4SS-PART", "user": "JSON-USER"}, "list": ["NOT-THIS", "\u00c9L\u00c9MENT"]}}`,
			"b.hcl": `certificate_store "s" {
  path     = "x"
  password = local.creds.pw
}
certificate_store "t" {
  path     = "x"
  password = local.list[1]
}`}, []string{`P\u00c4SS-PART`, "PÄSS-PART", `\u00c9L\u00c9MENT`, "ÉLÉMENT"}},
		{"a JSON password and native locals", map[string]string{
			"a.hcl.json": `{"certificate_store": {"s": {"path": "x", "password": "${local.pw}"}}}`,
			"b.hcl":      `locals { pw = "NATIVE-PW" }`,
		}, []string{"${local.pw}", "NATIVE-PW"}},
		{"used nowhere secret", map[string]string{"a.hcl": `
locals {
  pw = "NOT-A-SECRET"
}
variable "v" {
  default = local.pw
}
certificate_store "s" {
  path = local.pw
}`}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var files []*hcl.File
			for name, src := range tt.files {
				e := parseFile([]byte(src), name)
				if e.diags.HasErrors() {
					t.Fatal(e.diags)
				}
				files = append(files, e.file)
			}
			got := LiteralSecrets(files)
			slices.Sort(got)
			got = slices.Compact(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("LiteralSecrets = %q, want %q", got, tt.want)
			}
			srcs := map[string][]byte{}
			for name, src := range tt.files {
				srcs[name] = []byte(src)
			}
			got = SourceLiteralSecrets(srcs)
			slices.Sort(got)
			if got = slices.Compact(got); !slices.Equal(got, tt.want) {
				t.Errorf("SourceLiteralSecrets = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLiteralSecretsBounded: locals whose duplicate keys, or duplicate
// declarations, each select two parts of the next, along a path that grows
// with each (local.l1.k.k, local.l1.k.j), are followed in work linear in
// the locals, and their literal is still a secret: each was followed along
// every path, 2^n of them, and validate hung on thirty lines.
func TestLiteralSecretsBounded(t *testing.T) {
	const n = 16 // 65,536 paths, each adding the leaf once
	for _, tt := range []struct {
		name  string
		local func(i int) string
	}{
		{"duplicate keys", func(i int) string {
			return fmt.Sprintf("locals { l%d = { k = local.l%d.k.k, k = local.l%d.k.j } }\n", i, i+1, i+1)
		}},
		{"duplicate declarations", func(i int) string {
			return fmt.Sprintf("locals { l%d = { k = local.l%d.k.k } }\nlocals { l%d = { k = local.l%d.k.j } }\n", i, i+1, i, i+1)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var src strings.Builder
			src.WriteString("certificate_store \"s\" {\n  path     = \"x\"\n  password = local.l0.k\n}\n")
			for i := range n {
				src.WriteString(tt.local(i))
			}
			fmt.Fprintf(&src, "locals { l%d = \"LEAF-PW\" }\n", n)
			got := SourceLiteralSecrets(map[string][]byte{"a.hcl": []byte(src.String())})
			// Each part followed adds the leaf once: a bound on the work.
			if len(got) > 1000 || !slices.Contains(got, "LEAF-PW") {
				t.Errorf("%d literals (LEAF-PW among them: %v), want LEAF-PW and at most 1000",
					len(got), slices.Contains(got, "LEAF-PW"))
			}
		})
	}
}

// TestLiteralSecretsPostgresURL: the password a postgres message box's url
// carries, written in it or in a local it uses, native or JSON, is a
// secret (as written and decoded), not the rest of the URL: the snippet of
// a BP1004 on the url (a port out of range) showed it, where the detail
// hid it.
func TestLiteralSecretsPostgresURL(t *testing.T) {
	for _, tt := range []struct {
		name, file, src string
		want            []string
	}{
		{"written", "a.hcl", `
message_box {
  postgres {
    url = "postgres://bizpipe:PG-PW%21@db:99999/box"
  }
}`, []string{"PG-PW!", "PG-PW%21"}},
		{"in a local", "a.hcl", `
locals {
  db = "postgres://bizpipe:LOCAL-PG-PW@db/box?sslpassword=SSL-PW"
}
message_box {
  postgres {
    url = local.db
  }
}`, []string{"LOCAL-PG-PW", "SSL-PW"}},
		{"JSON", "a.hcl.json", `{"message_box": {"postgres": {"url": "postgres://bizpipe:JSON-PG-PW@db/box"}}}`,
			[]string{"JSON-PG-PW"}},
		{"no password", "a.hcl", `
message_box {
  postgres {
    url = "postgres://bizpipe@db/box"
  }
}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := literalSecretsOf(t, tt.file, tt.src); !slices.Equal(got, tt.want) {
				t.Errorf("LiteralSecrets = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLiteralSecretsVariables: the default of a variable not marked
// sensitive is a secret when it reaches a store's password, directly or
// through a local, as the literal written in the password is: the snippet
// of a diagnostic on the default (of the wrong type) showed it. A default
// used elsewhere is shown.
func TestLiteralSecretsVariables(t *testing.T) {
	for _, tt := range []struct {
		name, file, src string
		want            []string
	}{
		{"direct", "a.hcl", `
variable "pw" {
  type    = number
  default = "VAR-PW"
}
certificate_store "s" {
  path     = "x"
  password = var.pw
}`, []string{"VAR-PW"}},
		{"through a local", "a.hcl", `
variable "creds" {
  default = { user = "USER", pw = "VAR-PART" }
}
locals {
  pw = var.creds.pw
}
certificate_store "s" {
  path     = "x"
  password = local.pw
}`, []string{"VAR-PART"}},
		{"JSON", "a.hcl.json", `{
  "variable": {"pw": {"default": "JSON-VAR-PW"}},
  "certificate_store": {"s": {"path": "x", "password": "${var.pw}"}}
}`, []string{"${var.pw}", "JSON-VAR-PW"}},
		{"used elsewhere", "a.hcl", `
variable "dir" {
  default = "SHOWN-DIR"
}
certificate_store "s" {
  path = var.dir
}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := literalSecretsOf(t, tt.file, tt.src); !slices.Equal(got, tt.want) {
				t.Errorf("LiteralSecrets = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLiteralSecretsCredentials: what a component's attributes that carry
// credentials write is a secret (component.Attribute.Credential): the
// values of a send transport's Authorization, Proxy-Authorization, Cookie
// and API key headers, and its url's password, written there or in the
// locals and variables they use (interpolated in a local's template too),
// native or JSON. An ordinary header's value, a template's authentication
// scheme or cookie name, and the rest of the url are shown. The snippet of
// a diagnostic on the line, and fmt --diff, showed them.
func TestLiteralSecretsCredentials(t *testing.T) {
	for _, tt := range []struct {
		name, file, src string
		want            []string
	}{
		{"http headers", "a.hcl", `
send_port "p" {
  transport "http" {
    url     = "https://partner.example/in"
    headers = { Authorization = "Bearer HDR-TOKEN-1", "content-type" = "application/edi", "proxy-authorization" = "Basic PROXY-CRED" }
  }
}`, []string{"Basic PROXY-CRED", "Bearer HDR-TOKEN-1"}},
		{"templates", "a.hcl", `
variable "sid" {
  default = "SID-VALUE"
}
locals {
  tok = "LOCAL-TOKEN"
}
send_port "p" {
  transport "http" {
    url     = "https://partner.example/in"
    headers = { Authorization = "Bearer ${local.tok}", Cookie = "sid=${var.sid}", "X-Partner" = "${local.tok}" }
  }
}`, []string{"LOCAL-TOKEN", "SID-VALUE"}},
		{"as2 api key and url", "a.hcl", `
send_port "p" {
  transport "as2" {
    url     = "https://as2:URL-PW%21@partner.example/as2?file=${message.file_name}"
    partner = party.fabrikam
    headers = { "X-API-Key" = "APIKEY-1" }
  }
}`, []string{"APIKEY-1", "URL-PW!", "URL-PW%21"}},
		{"url in a local", "a.hcl", `
locals {
  u = "http://user:LOCAL-URL-PW@partner.example/"
}
send_port "p" {
  transport "http" {
    url = local.u
  }
}`, []string{"LOCAL-URL-PW"}},
		{"url password interpolated", "a.hcl", `
variable "pw" {
  default = "VAR-URL-PW"
}
variable "host" {
  default = "partner.example"
}
send_port "p" {
  transport "http" {
    url = "https://user:${var.pw}@${var.host}/in"
  }
}`, []string{"VAR-URL-PW"}},
		{"url password interpolated in a local", "a.hcl", `
variable "pw" {
  default = "LOCAL-VAR-URL-PW"
}
variable "host" {
  default = "partner.example"
}
locals {
  u = "https://user:${var.pw}@${var.host}/in"
}
send_port "p" {
  transport "http" {
    url = local.u
  }
}`, []string{"LOCAL-VAR-URL-PW"}},
		{"url password interpolated in a local a template uses", "a.hcl", `
variable "pw" {
  default = "BASE-VAR-URL-PW"
}
locals {
  base = "https://user:${var.pw}@partner.example"
  u    = "${local.base}/in"
  v    = local.u
}
send_port "p" {
  transport "http" {
    url = "${local.v}"
  }
}`, []string{"BASE-VAR-URL-PW"}},
		{"url in a local without password", "a.hcl", `
variable "host" {
  default = "partner.example"
}
locals {
  u = "https://user@${var.host}/in"
}
send_port "p" {
  transport "http" {
    url = local.u
  }
}`, nil},
		{"JSON", "a.hcl.json", `{"send_port": {"p": {"transport": {"http": {
  "url": "https://u:JSON-URL-PW@partner.example/",
  "headers": {"Authorization": "Bearer JSON-TOKEN", "X-Partner": "fabrikam"}
}}}}}`, []string{"Bearer JSON-TOKEN", "JSON-URL-PW"}},
		{"none", "a.hcl", `
send_port "p" {
  transport "http" {
    url     = "https://user@partner.example/in"
    headers = { "X-Partner" = "fabrikam" }
  }
}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := literalSecretsOf(t, tt.file, tt.src); !slices.Equal(got, tt.want) {
				t.Errorf("LiteralSecrets = %q, want %q", got, tt.want)
			}
		})
	}
}

// literalSecretsOf is LiteralSecrets of the file name holding src, sorted,
// each once.
func literalSecretsOf(t *testing.T, name, src string) []string {
	t.Helper()
	e := parseFile([]byte(src), name)
	if e.diags.HasErrors() {
		t.Fatal(e.diags)
	}
	got := LiteralSecrets([]*hcl.File{e.file})
	slices.Sort(got)
	return slices.Compact(got)
}
