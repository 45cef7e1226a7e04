package lang

import (
	"fmt"
	"path/filepath"
	"regexp/syntax"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestMeasure: a value's size counts the elements of its collections,
// nested ones included, and its text, numbers as they print; measuring
// stops at the limit, so that a value shared a million times within
// another costs no more than the limit to measure.
func TestMeasure(t *testing.T) {
	str := cty.StringVal
	list := func(vs ...cty.Value) cty.Value { return cty.TupleVal(vs) }
	big := list(str("ab"), str("cd"), str("ef"))
	shared := make([]cty.Value, 1_000_000)
	for i := range shared {
		shared[i] = big
	}
	limit := valueSize{elements: 100, text: 1000}
	tests := []struct {
		name   string
		v      cty.Value
		want   valueSize
		beyond bool
	}{
		{"string", str("hello"), valueSize{text: 5}, false},
		{"marked", str("hello").Mark(markSensitive), valueSize{text: 5}, false},
		{"unknown", cty.UnknownVal(cty.List(cty.String)), valueSize{}, false},
		{"null", cty.NullVal(cty.String), valueSize{}, false},
		{"number", cty.NumberIntVal(42), valueSize{text: 1 + 8}, false},
		{"nested", list(big, cty.ObjectVal(map[string]cty.Value{"k": big})), valueSize{elements: 2 + 3 + 1 + 3, text: 12}, false},
		{"map", cty.MapVal(map[string]cty.Value{"a": str("xyz")}), valueSize{elements: 1, text: 3}, false},
		{"too long a list", cty.TupleVal(shared[:101]), valueSize{elements: 101}, true},
		{"too much text", str(strings.Repeat("x", 1001)), valueSize{text: 1001}, true},
		{"large number", cty.MustParseNumberVal("1e4000"), valueSize{text: 4000 + 8}, false},
		{"a number as a string", str(strings.Repeat("9", maxNumberChars+1)), valueSize{text: maxNumberChars + 1, number: true}, true},
		{"a short number as a string", str(strings.Repeat("9", maxNumberChars)), valueSize{text: maxNumberChars}, true},
		{"dashes", str(strings.Repeat("-", maxNumberChars+1)), valueSize{text: maxNumberChars + 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := limit
			if strings.Contains(tt.name, "number") || tt.name == "dashes" {
				l = valueLimit
				tt.beyond = tt.want.number
			}
			got := measure(tt.v, l)
			if got.beyond(l) != tt.beyond || (!tt.beyond && got != tt.want) || (tt.beyond && got.number != tt.want.number) {
				t.Errorf("measure = %+v (beyond %v), want %+v (beyond %v)", got, got.beyond(l), tt.want, tt.beyond)
			}
		})
	}
	// A million copies of a value, shared: measured no further than the
	// limit.
	start := time.Now()
	if s := measure(cty.TupleVal([]cty.Value{cty.TupleVal(shared)}), valueLimit); !s.beyond(valueLimit) {
		t.Errorf("a million shared tuples measure %+v", s)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("measuring a million shared tuples took %s", d)
	}
}

// TestLooksNumeric: a long string is refused as a number only when go-cty
// would read it as one.
func TestLooksNumeric(t *testing.T) {
	for s, want := range map[string]bool{
		"123": true, "-1.5": true, "+.5": true, "1e10": true, "1.5E-3": true, "007": true,
		"": false, "-": false, ".": false, "1e": false, "e5": false, "1.2.3": false,
		"-----": false, "12a": false, " 12": false, "1e+": false, "1_000": false,
	} {
		if got := looksNumeric(s); got != want {
			t.Errorf("looksNumeric(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestFunctionOutputBounds: the functions that can build far more than
// their arguments hold refuse, before they run, a result beyond what a
// value may hold; and every function's result is measured.
func TestFunctionOutputBounds(t *testing.T) {
	fns := stdFunctions(ModeValidate, noEnv)
	str := cty.StringVal
	num := func(n int) cty.Value { return cty.NumberIntVal(int64(n)) }
	mib := strings.Repeat("a", 1<<20)
	strs := func(n int, s string) cty.Value {
		vs := make([]cty.Value, n)
		for i := range vs {
			vs[i] = str(s)
		}
		return cty.ListVal(vs)
	}
	tests := []struct {
		name, fn string
		args     []cty.Value
		wantErr  string // "" when the call succeeds
	}{
		{"replace within", "replace", []cty.Value{str(mib), str("a"), str("bb")}, ""},
		{"replace beyond", "replace", []cty.Value{str(mib), str("a"), str(strings.Repeat("b", 9))}, "more than 8 MiB of text"},
		{"replace empty", "replace", []cty.Value{str(mib), str(""), str(strings.Repeat("b", 16))}, "more than 8 MiB of text"},
		{"indent within", "indent", []cty.Value{num(4), str(strings.Repeat("x\n", 1000))}, ""},
		{"indent beyond", "indent", []cty.Value{num(4096), str(strings.Repeat("\n", 4096))}, "more than 8 MiB of text"},
		{"join within", "join", []cty.Value{str(","), strs(1000, "x")}, ""},
		{"join beyond", "join", []cty.Value{str(mib), strs(10, "x")}, "more than 8 MiB of text"},
		{"split within", "split", []cty.Value{str(","), str(strings.Repeat("x,", 1000))}, ""},
		{"split beyond", "split", []cty.Value{str(""), str(mib)}, "more than 100,000 elements"},
		{"csvdecode beyond", "csvdecode", []cty.Value{str("a,b\n" + strings.Repeat("1,2\n", 30000))}, "more than 100,000 elements"},
		{"jsondecode beyond", "jsondecode", []cty.Value{str("[" + strings.Repeat("1,", maxValueElements) + "1]")}, "more than 100,000 elements"},
		{"jsondecode objects within", "jsondecode", []cty.Value{str(`[` + strings.Repeat(`{"a": 1, "b": 2},`, 30000) + `1]`)}, ""},
		{"jsondecode long number", "jsondecode", []cty.Value{str(strings.Repeat("9", maxNumberChars+1))}, "number of more than 5000 characters"},
		{"regex within", "regex", []cty.Value{str("^INV-([0-9]+)$"), str("INV-42")}, ""},
		{"regex too long", "regex", []cty.Value{str(strings.Repeat("x", maxRegexPattern+1)), str("x")}, "longer than 10,000 characters"},
		{"regex too complex", "regex", []cty.Value{str(strings.Repeat("a{1000}", 11)), str("x")}, "more than 10,000 instructions"},
		{"regex nested repeats", "regexall", []cty.Value{str(strings.Repeat("(?:(?:a{10}){10}){10}", 11)), str("x")}, "more than 10,000 instructions"},
		{"regexall within", "regexall", []cty.Value{str("a"), str(strings.Repeat("a", 1000))}, ""},
		{"regexall beyond", "regexall", []cty.Value{str("a"), str(mib)}, "more than 100,000 elements"},
		{"regex_replace within", "regex_replace", []cty.Value{str(mib), str("a"), str("b")}, ""},
		{"regex_replace beyond", "regex_replace", []cty.Value{str(mib), str("a"), str(strings.Repeat("b", 9))}, "more than 8 MiB of text"},
		{"regex_replace submatches", "regex_replace", []cty.Value{str(mib), str("(a+)"), str("$1$1$1$1$1$1$1$1$1")}, "more than 8 MiB of text"},
		{"format beyond", "format", []cty.Value{str(strings.Repeat("%[1]4096s", 3000)), str("x")}, "more than 8 MiB of text"},
		{"formatlist beyond", "formatlist", []cty.Value{str("%4096s"), strs(3000, "x")}, "more than 8 MiB of text"},
		{"formatlist within", "formatlist", []cty.Value{str("%s-%s"), strs(1000, "x"), str("y")}, ""},
		{"parseint long", "parseint", []cty.Value{str(strings.Repeat("1", maxNumberChars+1)), num(10)}, "more than 5000 characters"},
		{"distinct nested", "distinct", []cty.Value{cty.TupleVal([]cty.Value{strs(600, "x"), strs(600, "y")})}, "too many elements"},
		{"concat beyond", "concat", []cty.Value{strs(60000, "x"), strs(60000, "y")}, "the result would hold more than 100,000 elements"},
		{"join of digits", "join", []cty.Value{str(""), strs(maxNumberChars+1, "9")}, "would be read as a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			callBounded(t, fns, tt.fn, tt.args, tt.wantErr)
		})
	}
}

// TestRegexProgramSize: the estimate of what Go compiles a pattern into,
// from its parse tree, is within a small factor of the instructions Go
// compiles it into, repetitions counted as many times as they repeat.
func TestRegexProgramSize(t *testing.T) {
	for _, pattern := range []string{
		"abc", "^INV-([0-9]+)$", "[a-z]+@[a-z]+\\.com", "a{1000}", "(?:(?:a{10}){10}){10}",
		"(?:a{30}){30}x{1000}", "(a|b|c)*d{5,50}", strings.Repeat("(a)", 300),
	} {
		re, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := syntax.Compile(re.Simplify())
		if err != nil {
			t.Fatal(err)
		}
		compiled := int64(len(prog.Inst))
		if n := regexProgramSize(pattern); n < compiled/2 || n > 4*compiled {
			t.Errorf("regexProgramSize(%q) = %d, and Go compiles it into %d instructions", pattern, n, compiled)
		}
	}
	if n := regexProgramSize("("); n != 0 {
		t.Errorf("a pattern that does not parse counts %d, want 0 (go-cty says why)", n)
	}
}

// TestJSONValues: what jsondecode's text would decode to is counted
// outside its strings.
func TestJSONValues(t *testing.T) {
	tests := []struct {
		text            string
		values, longest int
	}{
		{`1`, 0, 1},
		{`[]`, 0, 0},
		{`[1]`, 1, 1},
		{`[1, 2, 3]`, 3, 1},
		{`[[1, 2], [3]]`, 5, 1},
		{`{"a": 1, "b": [1, 2]}`, 4, 1},
		{`["a,b,c", "[1,2]"]`, 2, 0},
		{`["\"", 12345]`, 2, 5},
		{`{"a": {}}`, 1, 0},
		{`[{"a": 1}, {"b": 2}]`, 4, 1},
		{`-1.5e10`, 0, 7},
	}
	for _, tt := range tests {
		if v, l := jsonValues(tt.text); v != tt.values || l != tt.longest {
			t.Errorf("jsonValues(%s) = %d, %d; want %d, %d", tt.text, v, l, tt.values, tt.longest)
		}
	}
}

// TestEvaluationBounds: configurations of a few lines whose evaluation
// grew by 100 MB a second or ran for minutes are refused with one BP1004,
// at the line of the expression, allocating a bounded amount.
func TestEvaluationBounds(t *testing.T) {
	var doubling, lists, equal, templates strings.Builder
	doubling.WriteString("  a0 = \"xxxxxxxxxxxxxxxx\"\n")
	lists.WriteString("  a0 = [\"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\"]\n")
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&doubling, "  a%d = \"${local.a%d}${local.a%d}\"\n", i, i-1, i-1)
		fmt.Fprintf(&lists, "  a%d = concat(local.a%d, local.a%d)\n", i, i-1, i-1)
	}
	equal.WriteString("  big = [for i in range(1000) : range(90)]\n")
	for i := range 2000 {
		fmt.Fprintf(&equal, "  e%04d = local.big == local.big\n", i)
	}
	templates.WriteString("  s = join(\"\", [for i in range(1000) : replace(format(\"%4096s\", \"\"), \" \", \"x\")])\n  t = \"")
	for range 100 {
		templates.WriteString("${local.s}")
	}
	templates.WriteString("\"\n")
	tests := []struct {
		name    string
		locals  string
		summary string
		line    int // of the diagnostic, in the locals block (its first line is 1)
	}{
		{"doubling strings", doubling.String(), "Value too large", 21}, // a20: 16 MiB
		{"doubling lists", lists.String(), "Error in function call", 14},
		{"nested for", "  n = length([for i in range(1000) : [for j in range(1000) : [for k in range(1000) : k]]])\n", "Evaluation too costly", 1},
		{"equalities", equal.String(), "Operation failed", 0},
		{"copies of a string", templates.String(), "Evaluation too costly", 2},
		{"a number as a string", "  d = join(\"\", [for i in range(2) : replace(format(\"%4000s\", \"\"), \" \", \"9\")])\n", "Error in function call", 1},
		{"a template read as a number", "  d = replace(format(\"%4000s\", \"\"), \" \", \"9\")\n  n = \"${local.d}${local.d}\" + 1\n", "Value too large", 2},
		{"a number string literal", "  d = \"" + strings.Repeat("9", maxNumberChars+1) + "\"\n", "Value too large", 1},
		{"replace", "  a = replace(format(\"%4096s\", \"\"), \" \", \"a\")\n  b = replace(local.a, \"a\", local.a)\n  c = replace(local.b, \"a\", local.a)\n", "Error in function call", 2},
		{"indent", "  nl = replace(format(\"%4096s\", \"\"), \" \", \"\\n\")\n  b = indent(4096, join(\"\", [for i in range(1000) : local.nl]))\n", "Error in function call", 2},
		{"regex", "  s = replace(format(\"%4096s\", \"\"), \" \", \"(\")\n  a = regex(join(\"\", [for i in range(1000) : local.s]), \"x\")\n", "Invalid function argument", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "main.hcl")
			writeTestFile(t, p, nestingGroup+"locals {\n"+tt.locals+"}\n")
			var diags hcl.Diagnostics
			start := time.Now()
			alloc := allocated(func() { _, diags = Load([]string{p}, Options{LookupEnv: noEnv}) })
			t.Logf("%s, %d MB", time.Since(start), alloc>>20)
			if len(diags) != 1 || diag.CodeOf(diags[0]) != diag.CodeInvalidValue || diags[0].Summary != tt.summary {
				t.Fatalf("diagnostics %v, want one BP1004 %q", diags, tt.summary)
			}
			first := strings.Count(nestingGroup, "\n") + 2 // the locals' first line
			if got := diags[0].Subject.Start.Line - first + 1; tt.line != 0 && got != tt.line {
				t.Errorf("at line %d of the locals, want %d: %s", got, tt.line, diags[0].Error())
			}
			if alloc > 1<<30 {
				t.Errorf("allocated %d MB", alloc>>20)
			}
		})
	}
}

// TestRuntimeBounds: a filter evaluated for a message is bounded as at
// load: one that iterates over the characters of the file name three
// times over (unknown during validate) refuses a long name quickly.
func TestRuntimeBounds(t *testing.T) {
	const filter = `length([for a in split("", message.file_name) : [for b in split("", message.file_name) : [for c in split("", message.file_name) : 1]]]) > 0`
	cfg := loadTemplateConfig(t, `send_port "costly" {
  host   = host.h
  filter = `+filter+`
  transport "file" { path = "out" }
}
`)
	port := cfg.SendPorts[len(cfg.SendPorts)-1]
	for _, tt := range []struct {
		name, file string
		wantErr    string
	}{
		{"short name", "invoice.xml", ""},
		{"long name", strings.Repeat("x", 250), "Evaluation too costly"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := Message{FileName: tt.file, Properties: map[string]string{}}.Value()
			start := time.Now()
			ok, err := EvalFilter(cfg, port, msg)
			if tt.wantErr == "" && (err != nil || !ok) || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("EvalFilter = %v, %v; want the error %q", ok, err, tt.wantErr)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("EvalFilter took %s", d)
			}
		})
	}
}

// TestMeterOutOfSight: the meter rides in each evaluation's own context
// (meterVariable), so it must stay out of what users see and leave the
// context as it found it: HCL's messages for a reference to nothing never
// name or suggest it, a constant still may refer to nothing ("Variables
// not allowed", as HCL says where there are no variables), and a run-time
// evaluation removes it from the context it was given.
func TestMeterOutOfSight(t *testing.T) {
	for _, tt := range []struct {
		name, locals, want string
	}{
		{"unknown root name", "  a = evaluation.meter\n", `There is no object named "evaluation".`},
		{"name near the meter's", "  a = evaluation_meter\n", `There is no object named "evaluation_meter".`},
		{"unknown name in a for expression", "  a = [for x in [1] : x + meter]\n", `There is no object named "meter".`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "main.hcl")
			writeTestFile(t, p, nestingGroup+"locals {\n"+tt.locals+"}\n")
			_, diags := Load([]string{p}, Options{LookupEnv: noEnv})
			if len(diags) != 1 || !strings.HasPrefix(diags[0].Detail, tt.want) ||
				strings.Contains(diags[0].Detail, "\x00") || strings.Contains(diags[0].Detail, "evaluation meter") {
				t.Fatalf("diagnostics %v, want one whose detail starts %q and names nothing else", diags, tt.want)
			}
		})
	}

	t.Run("constant", func(t *testing.T) {
		for src, want := range map[string]string{
			`[for x in [1, 2] : x * 2]`:     "",
			`[for x in [1, 2] : x * other]`: "Variables not allowed",
			`"${other}"`:                    "Variables not allowed",
		} {
			expr, ds := hclsyntax.ParseExpression([]byte(src), "c.hcl", hcl.InitialPos)
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			v, ds := evaluateConstant(expr, newMeter())
			switch {
			case want == "" && (ds.HasErrors() || !v.Equals(cty.TupleVal([]cty.Value{cty.NumberIntVal(2), cty.NumberIntVal(4)})).True()):
				t.Errorf("%s = %#v, %v; want [2, 4]", src, v, ds)
			case want != "" && (len(ds) != 1 || ds[0].Summary != want || ds[0].Subject == nil || ds[0].Subject.Start.Byte == 0):
				t.Errorf("%s: %v; want one %q at the reference", src, ds, want)
			}
		}
	})

	t.Run("run time", func(t *testing.T) {
		expr, ds := hclsyntax.ParseExpression([]byte(`[for c in split("", message) : c]`), "f.hcl", hcl.InitialPos)
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		prepareMetering(expr, nil)
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"message": cty.StringVal("abc")}, Functions: map[string]function.Function{"split": stdlib.SplitFunc}}
		if _, ds := evaluateAt(expr, ctx); ds.HasErrors() {
			t.Fatal(ds)
		}
		if len(ctx.Variables) != 1 {
			t.Errorf("the context's variables after the evaluation: %v, want message alone", ctx.Variables)
		}
	})
}
