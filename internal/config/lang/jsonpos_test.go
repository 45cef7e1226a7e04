package lang

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// TestJSONStringPositions: a diagnostic inside a JSON file's string (the
// template of a filter) covers the text its native twin's covers, at the
// line and column of that text. The template is parsed from the string's
// decoded text, and its positions counted that text: every escape before
// the error (\" in almost every filter) shifted the range, so that
// message.sizee was shown as sage.s, at load and in run-time errors.
func TestJSONStringPositions(t *testing.T) {
	// Nested tuples, [1,[2,...]]: each level's bracket is three bytes
	// from the next, so a shifted range covers a digit or a comma.
	var deep strings.Builder
	for i := range maxNesting + 10 {
		fmt.Fprintf(&deep, "[%d,", i%9+1)
	}
	deep.WriteString("0" + strings.Repeat("]", maxNesting+10))
	tests := []struct {
		name    string
		native  string // the filter as a .hcl file writes it
		json    string // the same filter as a .hcl.json file writes it
		summary string // the diagnostic's
		want    string // the text it covers, decoded
		id      string // a message id to evaluate the filter with, at run time
	}{
		{name: "quotes before", native: `"${message.receive_location == "orders_in" && message.properties.partner == "fabrikam" && message.sizee > 1}"`,
			json: `"${message.receive_location == \"orders_in\" && message.properties.partner == \"fabrikam\" && message.sizee > 1}"`, summary: "Unknown message attribute", want: ".sizee"},
		{name: "unicode escape before", native: `"${message.properties.partner == "fäbrikam" && message.sizee > 1}"`,
			json: `"${message.properties.partner == \"f\u00e4brikam\" && message.sizee > 1}"`, summary: "Unknown message attribute", want: ".sizee"},
		{name: "decomposed accent before", native: `"${message.properties.partner == "cafe\u0301" && message.sizee > 1}"`,
			json: `"${message.properties.partner == \"cafe\u0301\" && message.sizee > 1}"`, summary: "Unknown message attribute", want: ".sizee"},
		{name: "literal non-ASCII before", native: `"${message.properties.partner == "fäbrikam" && message.sizee > 1}"`,
			json: `"${message.properties.partner == \"fäbrikam\" && message.sizee > 1}"`, summary: "Unknown message attribute", want: ".sizee"},
		{name: "surrogate pair before", native: `"${message.properties.partner == "😀" && message.sizee > 1}"`,
			json: `"${message.properties.partner == \"\ud83d\ude00\" && message.sizee > 1}"`, summary: "Unknown message attribute", want: ".sizee"},
		{name: "backslash, slash and tab before", native: `"${message.properties.path == "a\\b/c\t" && message.sizee > 1}"`,
			json: `"${message.properties.path == \"a\\\\b\/c\\t\" && message.sizee > 1}"`, summary: "Unknown message attribute", want: ".sizee"},
		{name: "newline before", native: `"a\n${message.sizee}"`, json: `"a\n${message.sizee}"`, summary: "Unknown message attribute", want: ".sizee"},
		{name: "escapes after", native: `"${message.sizee > 1 && message.receive_location == "orders_in"}"`,
			json: `"${message.sizee > 1 && message.receive_location == \"orders_in\"}"`, summary: "Unknown message attribute", want: ".sizee"},
		{name: "undeclared variable", native: `"${message.receive_location == "orders_in" && message.properties.partner == var.nope}"`,
			json: `"${message.receive_location == \"orders_in\" && message.properties.partner == var.nope}"`, summary: "Reference to undeclared input variable", want: "var.nope"},
		{name: "number out of range", native: `"${message.receive_location == "orders_in" && message.size > 1e999999}"`,
			json: `"${message.receive_location == \"orders_in\" && message.size > 1e999999}"`, summary: "Number out of range", want: "1e999999"},
		{name: "evaluation", native: `"${message.receive_location == "orders_in" && upper("a", "b") == "A"}"`,
			json: `"${message.receive_location == \"orders_in\" && upper(\"a\", \"b\") == \"A\"}"`, summary: "Too many function arguments", want: "b"},
		{name: "syntax", native: `"${message.receive_location == "orders_in" && message.size >}"`,
			json: `"${message.receive_location == \"orders_in\" && message.size >}"`, summary: "Invalid expression", want: "}"},
		{name: "nesting", native: `"${message.receive_location == "orders_in" && ` + deep.String() + `}"`,
			json: `"${message.receive_location == \"orders_in\" && ` + deep.String() + `}"`, summary: "Configuration nested too deeply", want: "["},
		{name: "run time", native: `"${message.receive_location == "orders_in" && parseint(message.id, 10) > 1}"`,
			json: `"${message.receive_location == \"orders_in\" && parseint(message.id, 10) > 1}"`, summary: "Invalid function argument", want: "message.id", id: "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			native := fmt.Sprintf(`group "g" {}
host "h" {}
receive_location "orders_in" {
  host = host.h
  transport "file" { path = "in" }
}
send_port "p" {
  host   = host.h
  filter = %s
  transport "file" { path = "out" }
}
`, tt.native)
			js := fmt.Sprintf(`{
  "group": {"g": {}},
  "host": {"h": {}},
  "receive_location": {"orders_in": {"host": "host.h", "transport": {"file": {"path": "in"}}}},
  "send_port": {"p": {
    "host": "host.h",
    "filter": %s,
    "transport": {"file": {"path": "out"}}
  }}
}
`, tt.json)
			dir := t.TempDir()
			for name, src := range map[string]string{"p.hcl": native, "p.hcl.json": js} {
				path := filepath.Join(dir, name, name) // a directory each
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
				cfg, diags := Load([]string{path}, Options{LookupEnv: noEnv})
				var rng *hcl.Range
				if tt.id != "" {
					if diags.HasErrors() {
						t.Fatalf("%s: %s", name, diags.Error())
					}
					_, err := EvalFilter(cfg, cfg.SendPorts[0], Message{ID: tt.id, ReceiveLocation: "orders_in"}.Value())
					rng = errorRange(t, err, path, []byte(src))
				} else {
					for _, d := range diags {
						if d.Summary == tt.summary {
							rng = d.Subject
						}
					}
				}
				if rng == nil {
					t.Fatalf("%s: no %q:\n%s", name, tt.summary, diags.Error())
				}
				checkCovers(t, name, []byte(src), *rng, tt.want)
			}
		})
	}
}

// checkCovers checks that rng, in src, covers want (decoded, in a JSON
// file) and has the line and columns (characters) of where it is.
func checkCovers(t *testing.T, name string, src []byte, rng hcl.Range, want string) {
	t.Helper()
	covered := string(src[rng.Start.Byte:rng.End.Byte])
	if strings.HasSuffix(name, ".json") {
		var s string
		if err := json.Unmarshal([]byte(`"`+covered+`"`), &s); err != nil {
			t.Errorf("%s: covers %q, not whole characters: %v", name, covered, err)
		}
		covered = s
	}
	if covered != want {
		t.Errorf("%s: %s covers %q, want %q", name, rng, covered, want)
	}
	for _, p := range []hcl.Pos{rng.Start, rng.End} {
		lineStart := bytes.LastIndexByte(src[:p.Byte], '\n') + 1
		line, col := 1+bytes.Count(src[:p.Byte], []byte("\n")), 1+utf8.RuneCount(src[lineStart:p.Byte])
		if p.Line != line || p.Column != col {
			t.Errorf("%s: position %d:%d of byte %d, want %d:%d", name, p.Line, p.Column, p.Byte, line, col)
		}
	}
}

// errorRange returns the range a run-time error of the filter of the file
// path, whose text is src, names.
func errorRange(t *testing.T, err error, path string, src []byte) *hcl.Range {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no run-time error", path)
	}
	m := regexp.MustCompile(regexp.QuoteMeta(path) + `:(\d+),(\d+)-(\d+):`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("no position in %q", err)
	}
	line, _ := strconv.Atoi(m[1])
	from, _ := strconv.Atoi(m[2])
	to, _ := strconv.Atoi(m[3])
	lines := bytes.SplitAfter(src, []byte("\n"))
	byteOf := func(col int) hcl.Pos { // col counts characters
		off := len(bytes.Join(lines[:line-1], nil))
		for rest := lines[line-1]; col > 1; col-- {
			_, n := utf8.DecodeRune(rest)
			off, rest = off+n, rest[n:]
		}
		return hcl.Pos{Line: line, Column: 1 + utf8.RuneCount(src[len(bytes.Join(lines[:line-1], nil)):off]), Byte: off}
	}
	return &hcl.Range{Filename: path, Start: byteOf(from), End: byteOf(to)}
}

// TestStringPositionsSyntax: every range of a JSON string's template, of
// every kind of expression, and of every traversal step, covers what the
// same template's covers when parsed as native text, wherever escapes are.
func TestStringPositionsSyntax(t *testing.T) {
	text := `ä/${upper("x\\y") == "\"" ? [for k, v in {a = 1, "b" = [1, -2]} : v if k != "c"][0] : (var.x[*].y)}` +
		`%{ if !true }z%{ endif }${local.l.*.m}${{for k, v in {} : k => v}}${format("%s", 1)["x"]}` +
		"%{ for x in [1] }${x}%{ endfor }${<<EOT\n\ty ${\"\\u00e4\"}\nEOT\n}"
	raw, err := json.Marshal(text)
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("ä"), []byte(`\u00e4`))
	raw = bytes.ReplaceAll(raw, []byte("/"), []byte(`\/`))
	file := append([]byte(`{"ä": `), raw...)
	start := hcl.Pos{Line: 1, Column: 7, Byte: 7} // {"ä": is 6 characters, 7 bytes
	rng := hcl.Range{Filename: "p.hcl.json", Start: start, End: hcl.Pos{Line: 1, Column: start.Column + utf8.RuneCount(raw), Byte: start.Byte + len(raw)}}
	native, diags := hclsyntax.ParseTemplate([]byte(text), "p.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	tmpl, diags := parseJSONTemplate(text, rng, file)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	want, got := syntaxRanges(native), syntaxRanges(tmpl)
	if len(got) != len(want) || len(want) < 50 {
		t.Fatalf("%d ranges, want %d (and many)", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		var covered string
		if err := json.Unmarshal([]byte(`"`+string(file[g.Start.Byte:g.End.Byte])+`"`), &covered); err != nil {
			t.Errorf("%s covers %q, not whole characters", g, file[g.Start.Byte:g.End.Byte])
			continue
		}
		if covered != text[w.Start.Byte:w.End.Byte] {
			t.Errorf("%s covers %q, want %q", g, covered, text[w.Start.Byte:w.End.Byte])
		}
		for _, p := range []hcl.Pos{g.Start, g.End} {
			if p.Line != 1 || p.Column != 1+utf8.RuneCount(file[:p.Byte]) {
				t.Errorf("position %d:%d of byte %d, want 1:%d", p.Line, p.Column, p.Byte, 1+utf8.RuneCount(file[:p.Byte]))
			}
		}
	}
}

// syntaxRanges returns every range in e's syntax tree, in a fixed order.
func syntaxRanges(e hclsyntax.Expression) []hcl.Range {
	var out []hcl.Range
	seen := map[uintptr]bool{}
	rangeType := reflect.TypeFor[hcl.Range]()
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] || v.Type() == reflect.TypeFor[*hclsyntax.Operation]() {
				return
			}
			seen[v.Pointer()] = true
			walk(v.Elem())
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Struct:
			if v.Type() == rangeType {
				out = append(out, v.Interface().(hcl.Range))
				return
			}
			if v.Type() == reflect.TypeFor[cty.Value]() {
				return
			}
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		}
	}
	walk(reflect.ValueOf(e))
	return out
}

// TestJSONTypePositions: a diagnostic inside a variable's type given in a
// JSON file, a string HCL's json package parses as a native expression,
// covers what the native type's covers. The json package counted its
// positions from the opening quote, one character early, and in the
// decoded text: lisst(string) was shown as (lisst(string.
func TestJSONTypePositions(t *testing.T) {
	tests := []struct {
		name         string
		native, json string // the type, as each file writes it
		want         string // the text the diagnostic covers, decoded
	}{
		{name: "keyword", native: `map(lisst(string))`, json: `"map(lisst(string))"`, want: "lisst(string)"},
		{name: "attribute", native: `object({a = strin})`, json: `"object({a = strin})"`, want: "strin"},
		{name: "escape before", native: `list(string, nope)`, json: `"list(\u0073tring, nope)"`, want: "nope"},
		{name: "non-ASCII before", native: `object({ä = string, b = nope})`, json: `"object({ä = string, b = nope})"`, want: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{
				"p.hcl":      fmt.Sprintf("group \"g\" {}\nvariable \"v\" {\n  type = %s\n}\n", tt.native),
				"p.hcl.json": fmt.Sprintf("{\n  \"group\": {\"g\": {}},\n  \"variable\": {\"v\": {\"type\": %s}}\n}\n", tt.json),
			}
			for name, src := range files {
				path := filepath.Join(t.TempDir(), name)
				if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
				_, diags := Load([]string{path}, Options{LookupEnv: noEnv})
				if len(diags) != 1 || diags[0].Subject == nil {
					t.Fatalf("%s: want one diagnostic:\n%s", name, diags.Error())
				}
				checkCovers(t, name, []byte(src), *diags[0].Subject, tt.want)
			}
		})
	}

	// Too deep a type, each list written with an escape: the diagnostic
	// is at the parenthesis that crosses the limit.
	src := fmt.Sprintf("{\"group\": {\"g\": {}}, \"variable\": {\"v\": {\"type\": \"%sstring%s\"}}}\n",
		strings.Repeat(`\u006cist(`, maxNesting+5), strings.Repeat(")", maxNesting+5))
	path := filepath.Join(t.TempDir(), "p.hcl.json")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags := Load([]string{path}, Options{LookupEnv: noEnv})
	if len(diags) != 1 || diags[0].Subject == nil || !isNestingDiag(diags[0]) {
		t.Fatalf("want one nesting diagnostic:\n%s", diags.Error())
	}
	r := *diags[0].Subject
	checkCovers(t, "p.hcl.json", []byte(src), r, "(")
	if n := strings.Count(src[:r.Start.Byte], "("); n != maxNesting {
		t.Errorf("%s is after %d parentheses, want %d", r, n, maxNesting)
	}
}
