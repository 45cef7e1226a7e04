package lang

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// Depths of the generated inputs: deep crashes HCL's parser or evaluator
// without the nesting check (a fatal stack overflow, which takes the test
// binary down with it) or at least exceeds a limit; shallow is deeper than
// any real configuration and must load.
const (
	deepNesting    = 100_000
	shallowNesting = 50
)

// nestedExpr is an expression generator: n levels of one kind of nesting.
type nestedExpr struct {
	name string
	gen  func(n int) string
	// typ is an HCL type the shallow expression converts to (for variables).
	typ string
	// valid: the shallow expression evaluates without error.
	valid bool
}

var rep = strings.Repeat

// nestedExprs are the constructs that nest HCL's syntax tree: brackets of
// every kind and, without brackets, chains of operators, indexes and splats.
var nestedExprs = []nestedExpr{
	{"brackets", func(n int) string { return rep("[", n) + "1" + rep("]", n) }, "list(any)", true},
	{"parentheses", func(n int) string { return rep("(", n) + "1" + rep(")", n) }, "number", true},
	{"objects", func(n int) string { return rep("{b = ", n) + "1" + rep("}", n) }, "map(any)", true},
	{"interpolations", func(n int) string { return rep(`"${`, n) + `"1"` + rep(`}"`, n) }, "number", true},
	{"heredocs", func(n int) string { return rep("<<EOT\n${", n) + `"1"` + rep("}\nEOT\n", n) }, "string", true},
	{"template_if", func(n int) string { return `"` + rep("%{if true}", n) + "1" + rep("%{endif}", n) + `"` }, "number", true},
	{"template_for", func(n int) string { return `"` + rep("%{for v in [1]}", n) + "1" + rep("%{endfor}", n) + `"` }, "number", true},
	{"not", func(n int) string { return rep("!", 2*(n/2)) + "true" }, "bool", true},
	{"negation", func(n int) string { return rep("-", 2*(n/2)) + "1" }, "number", true},
	{"sum", func(n int) string { return "1" + rep(" + 1", n) }, "number", true},
	{"conditional", func(n int) string { return rep("true ? 1 : ", n) + "1" }, "number", true},
	{"splat", func(n int) string { return "[1]" + rep("[*]", n) }, "list(any)", true},
	{"index", func(n int) string { return "[1]" + rep("[0]", n) }, "number", false},
}

// nestedJSON are JSON values nested n levels: arrays and objects, and
// strings that HCL parses as templates or expressions while decoding.
var nestedJSON = []nestedExpr{
	{"arrays", func(n int) string { return rep("[", n) + "1" + rep("]", n) }, "", true},
	{"objects", func(n int) string { return rep(`{"b": `, n) + "1" + rep("}", n) }, "", true},
	{"string_parentheses", func(n int) string { return `"${` + rep("(", n) + "1" + rep(")", n) + `}"` }, "", true},
	{"string_interpolations", func(n int) string { return `"` + rep(`${\"`, n) + "1" + rep(`\"}`, n) + `"` }, "", true},
	{"string_not", func(n int) string { return `"${` + rep("!", 2*(n/2)) + `true}"` }, "", true},
}

// entryPoint loads a configuration whose single variable, x, or one of whose
// values, is the expression or JSON value given; file is the file that
// holds it ("" for --var and the environment).
type entryPoint struct {
	name string
	json bool // takes nestedJSON instead of nestedExprs
	// load writes what it needs under dir and loads it.
	load func(t *testing.T, dir, value, typ string) (file string, diags hcl.Diagnostics)
	code diag.Code
}

const nestingGroup = `group "g" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
}
`

// withVariable writes a configuration declaring variable x of type typ.
func withVariable(t *testing.T, dir, typ string) string {
	main := filepath.Join(dir, "main.hcl")
	writeTestFile(t, main, nestingGroup+"variable \"x\" {\n  type = "+typ+"\n}\n")
	return main
}

var entryPoints = []entryPoint{
	{name: "config", code: diag.CodeSyntax, load: func(t *testing.T, dir, value, _ string) (string, hcl.Diagnostics) {
		main := filepath.Join(dir, "main.hcl")
		writeTestFile(t, main, nestingGroup+"locals {\n  x = "+value+"\n}\n")
		_, diags := Load([]string{main}, Options{LookupEnv: noEnv})
		return main, diags
	}},
	{name: "config_json", json: true, code: diag.CodeSyntax, load: func(t *testing.T, dir, value, _ string) (string, hcl.Diagnostics) {
		main := filepath.Join(dir, "main.hcl.json")
		writeTestFile(t, main, `{"group": {"g": {"signing_certificate": "4E077EB5555B50DCBCBF3D7261281954D2A1999D"}}, "locals": {"x": `+value+`}}`)
		_, diags := Load([]string{main}, Options{LookupEnv: noEnv})
		return main, diags
	}},
	{name: "var_file", code: diag.CodeSyntax, load: func(t *testing.T, dir, value, typ string) (string, hcl.Diagnostics) {
		main := withVariable(t, dir, typ)
		vars := filepath.Join(dir, "x.tfvars")
		writeTestFile(t, vars, "x = "+value+"\n")
		_, diags := Load([]string{main}, Options{VarFiles: []string{vars}, LookupEnv: noEnv})
		return vars, diags
	}},
	{name: "var_file_json", json: true, code: diag.CodeSyntax, load: func(t *testing.T, dir, value, _ string) (string, hcl.Diagnostics) {
		main := withVariable(t, dir, "any")
		vars := filepath.Join(dir, "x.json")
		writeTestFile(t, vars, `{"x": `+value+`}`)
		_, diags := Load([]string{main}, Options{VarFiles: []string{vars}, LookupEnv: noEnv})
		return vars, diags
	}},
	{name: "var_option", code: diag.CodeInvalidValue, load: func(t *testing.T, dir, value, typ string) (string, hcl.Diagnostics) {
		main := withVariable(t, dir, typ)
		_, diags := Load([]string{main}, Options{Vars: []string{"x=" + value}, LookupEnv: noEnv})
		return "", diags
	}},
	{name: "environment", code: diag.CodeInvalidValue, load: func(t *testing.T, dir, value, typ string) (string, hcl.Diagnostics) {
		main := withVariable(t, dir, typ)
		env := func(name string) (string, bool) {
			if name == envVarPrefix+"x" {
				return value, true
			}
			return "", false
		}
		_, diags := Load([]string{main}, Options{LookupEnv: env})
		return "", diags
	}},
}

func writeTestFile(t testing.TB, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// isNestingDiag reports whether d is the nesting check's diagnostic.
func isNestingDiag(d *hcl.Diagnostic) bool {
	return d.Summary == "Configuration nested too deeply" || d.Summary == "Expression too complex" ||
		strings.Contains(d.Detail, "as HCL would exhaust the stack")
}

// TestNestingRefused checks every entry point that parses HCL: configuration
// files (native and JSON), --var-file files (native and JSON), --var values
// and BIZPIPE_VAR_ values. An input nested deepNesting levels is refused
// with one error diagnostic, with the entry point's code, pointing at the
// file (and not parsed: without the check, parsing it crashes the test
// binary); one nested shallowNesting levels loads.
func TestNestingRefused(t *testing.T) {
	for _, ep := range entryPoints {
		exprs := nestedExprs
		if ep.json {
			exprs = nestedJSON
		}
		for _, e := range exprs {
			if e.typ == "string" && (ep.name == "var_option" || ep.name == "environment") {
				continue // a string from --var or the environment is taken literally, not parsed
			}
			t.Run(ep.name+"/"+e.name, func(t *testing.T) {
				value := e.gen(deepNesting)
				// A var file over maxVarFileSize is not read at all, so
				// there a deep value is as deep as fits.
				for n := deepNesting / 2; strings.HasPrefix(ep.name, "var_file") && len(value) > maxVarFileSize-100; n /= 2 {
					value = e.gen(n)
				}
				file, diags := ep.load(t, t.TempDir(), value, e.typ)
				var found []*hcl.Diagnostic
				for _, d := range diags {
					if isNestingDiag(d) {
						found = append(found, d)
					}
				}
				if len(found) != 1 {
					t.Fatalf("want one nesting diagnostic, got %d:\n%s", len(found), diags.Error())
				}
				d := found[0]
				if d.Severity != hcl.DiagError {
					t.Errorf("severity %v, want error", d.Severity)
				}
				if got := diag.CodeOf(d); got != ep.code {
					t.Errorf("code %s, want %s", got, ep.code)
				}
				if !strings.Contains(d.Detail, " "+strconv.Itoa(maxNesting)+" ") && !strings.Contains(d.Detail, " "+strconv.Itoa(maxChain)+" ") {
					t.Errorf("detail does not name the limit: %s", d.Detail)
				}
				if file == "" {
					// A --var value may be a secret: no location, which
					// would show it, but the detail names the option.
					if d.Subject != nil {
						t.Errorf("subject %v, want none", d.Subject)
					}
					if !strings.Contains(d.Detail, "--var x ") && !strings.Contains(d.Detail, envVarPrefix+"x ") {
						t.Errorf("detail does not name the variable: %s", d.Detail)
					}
					return
				}
				if d.Subject == nil || d.Subject.Filename != file || d.Subject.Start.Line < 1 {
					t.Fatalf("subject %v, want a range in %s", d.Subject, file)
				}
				if d.Subject.Start.Byte >= d.Subject.End.Byte {
					t.Errorf("empty subject %v", d.Subject)
				}
			})
			t.Run(ep.name+"/"+e.name+"/shallow", func(t *testing.T) {
				_, diags := ep.load(t, t.TempDir(), e.gen(shallowNesting), e.typ)
				for _, d := range diags {
					if isNestingDiag(d) || diag.CodeOf(d) == diag.CodeSyntax {
						t.Errorf("unexpected diagnostic: %s", d.Error())
					}
				}
				if e.valid && diags.HasErrors() {
					t.Errorf("unexpected errors:\n%s", diags.Error())
				}
			})
		}
	}
}

// TestNestingBlocks checks deeply nested blocks, the one construct that
// nests outside expressions.
func TestNestingBlocks(t *testing.T) {
	main := filepath.Join(t.TempDir(), "main.hcl")
	writeTestFile(t, main, nestingGroup+rep("b {\n", deepNesting)+rep("}\n", deepNesting))
	_, diags := Load([]string{main}, Options{LookupEnv: noEnv})
	// The group block is on lines 1-3; line 4 opens the first block.
	if len(diags) != 1 || !isNestingDiag(diags[0]) || diag.CodeOf(diags[0]) != diag.CodeSyntax ||
		diags[0].Subject == nil || diags[0].Subject.Filename != main || diags[0].Subject.Start.Line != maxNesting+4 {
		t.Fatalf("want only the nesting error, on line %d:\n%s", maxNesting+4, diags.Error())
	}
}

// TestNestingLimits checks where the limits are: at the limit a file loads,
// one level beyond it is refused at the token that crosses it.
func TestNestingLimits(t *testing.T) {
	tests := []struct {
		name   string
		value  func(n int) string
		limit  int // levels of value allowed in "locals { x = ... }"
		column func(n int) int
	}{
		// The locals block is one level.
		{"brackets", func(n int) string { return rep("[", n) + "1" + rep("]", n) }, maxNesting - 1,
			func(n int) int { return len("locals { x = ") + n }},
		{"interpolations", func(n int) string { return rep(`"${`, n) + `"1"` + rep(`}"`, n) }, maxNesting - 1,
			func(n int) int { return len("locals { x = ") + 3*n - 1 }},
		{"not", func(n int) string { return rep("!", n) + "true" }, maxChain,
			func(n int) int { return len("locals { x = ") + n }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			main := filepath.Join(dir, "main.hcl")
			writeTestFile(t, main, nestingGroup+"locals { x = "+tt.value(tt.limit)+" }\n")
			if _, diags := Load([]string{main}, Options{LookupEnv: noEnv}); len(diags) > 0 {
				t.Fatalf("at the limit: %s", diags.Error())
			}
			src := "locals { x = " + tt.value(tt.limit+1) + " }\n"
			writeTestFile(t, main, src)
			_, diags := Load([]string{main}, Options{LookupEnv: noEnv})
			var d *hcl.Diagnostic
			for _, x := range diags {
				if isNestingDiag(x) {
					d = x
				}
			}
			if d == nil {
				t.Fatalf("beyond the limit, no nesting diagnostic:\n%s", diags.Error())
			}
			if want := tt.column(tt.limit + 1); d.Subject.Start.Line != 1 || d.Subject.Start.Column != want {
				t.Errorf("subject %s, want line 1, column %d", d.Subject, want)
			}
		})
	}
}

// TestNestingAllowsLongConfigurations checks that what is long but not deep
// loads: the chain count restarts at every comma and at every newline that
// ends an attribute, and a template's interpolations do not chain.
func TestNestingAllowsLongConfigurations(t *testing.T) {
	var b strings.Builder
	b.WriteString(nestingGroup + "locals {\n")
	// 5 chained tokens a line.
	for i := 0; i < maxChain/4; i++ {
		b.WriteString("  a" + strconv.Itoa(i) + " = !!true || -1 < 2 # comment\n")
	}
	b.WriteString("  object = {\n")
	for i := 0; i < maxChain/2; i++ {
		b.WriteString("    a" + strconv.Itoa(i) + " = !!true || -1 < 2 # comment\n")
	}
	b.WriteString("  }\n")
	b.WriteString("  list = [" + rep("-1 + 2, ", 2*maxChain) + "]\n")
	// maxChain+1 interpolations and directives: more would be beyond
	// maxExprTokens.
	b.WriteString("  tmpl = \"" + rep("${1}%{if true}x%{endif}", maxChain+1) + "\"\n")
	b.WriteString("  heredoc = <<EOT\n" + rep("${1}\n", 2*maxChain) + "EOT\n")
	b.WriteString("  filter = " + rep(`"a" == "b" || `, maxChain/3) + "false\n")
	b.WriteString("}\n")
	main := filepath.Join(t.TempDir(), "main.hcl")
	writeTestFile(t, main, b.String())
	if _, diags := Load([]string{main}, Options{LookupEnv: noEnv}); len(diags) > 0 {
		t.Fatalf("unexpected diagnostics: %s", diags[0].Error())
	}

	// A JSON file with long strings, deep in arrays: only their
	// interpolations and directives are nesting, not literal text.
	j := `{"group": {"g": {"signing_certificate": "4E077EB5555B50DCBCBF3D7261281954D2A1999D"}}, "locals": {` +
		`"long": "` + rep("${1} ", 2*maxChain) + `", "text": "` + rep("([{ -", 2*maxChain) + `", "deep": ` +
		rep("[", maxNesting-3) + `"` + rep("x", 4*maxNesting) + `"` + rep("]", maxNesting-3) + `}}`
	mainJSON := filepath.Join(t.TempDir(), "main.hcl.json")
	writeTestFile(t, mainJSON, j)
	if _, diags := Load([]string{mainJSON}, Options{LookupEnv: noEnv}); len(diags) > 0 {
		t.Fatalf("unexpected JSON diagnostics: %s", diags[0].Error())
	}
}

// TestNestingJSONType checks a variable type in a JSON file: a string that
// typeexpr parses as a native expression.
func TestNestingJSONType(t *testing.T) {
	for _, n := range []int{deepNesting, shallowNesting} {
		main := filepath.Join(t.TempDir(), "main.hcl.json")
		writeTestFile(t, main, `{"group": {"g": {"signing_certificate": "4E077EB5555B50DCBCBF3D7261281954D2A1999D"}}, `+
			`"variable": {"v": {"type": "`+rep("list(", n)+"string"+rep(")", n)+`", "sensitive": true}}}`)
		cfg, diags := Load([]string{main}, Options{LookupEnv: noEnv})
		if n == shallowNesting {
			if len(diags) > 0 {
				t.Fatalf("%d deep: %s", n, diags.Error())
			}
			continue
		}
		if len(diags) != 1 || !isNestingDiag(diags[0]) || diag.CodeOf(diags[0]) != diag.CodeInvalidValue ||
			diags[0].Subject == nil || diags[0].Subject.Filename != main {
			t.Fatalf("%d deep: want one BP1004 nesting error in %s:\n%s", n, main, diags.Error())
		}
		// The rest of the block still counts: the variable stays sensitive.
		if len(cfg.Variables) != 1 || !cfg.Variables[0].Sensitive {
			t.Errorf("variable not decoded: %+v", cfg.Variables)
		}
	}
}

// prefixLimits are tiny limits under which every short source of
// prefixCorpus crosses one somewhere, so that its cuts fall before, in and
// after the token that crosses it.
var prefixLimits = nestLimits{nesting: 3, chain: 4, invalid: 2, exprTokens: 20, fileTokens: 60}

// prefixCorpus are sources whose cuts are hard for measurePrefix: comments
// that hide brackets, a /* never closed, strings and heredocs holding /* and
// brackets, CRLF heredoc markers, multi-byte tokens, escapes, directives,
// invalid bytes and a BOM.
var prefixCorpus = []struct {
	mode lexMode
	src  string
}{
	{lexConfig, "a = [[[[1]]]]\n"},
	{lexConfig, "a = [[ /* [[[[ */ 1]]\nb = [[[[1]]]]\n"},
	{lexConfig, "a = [[ # [[[[\n 1]]\nb = !!!!!x\n"},
	{lexConfig, "a = [[ // [[[[\r\n 1]]\nb = [[[[1]]]]"},
	{lexConfig, "a = 1 /* never closed [[[[[[ \n"},
	{lexConfig, "a = [[ /* */ /* [[[[ \n"},
	{lexConfig, "/**/ /*/ [[[[ */ [[[[ /*"},
	{lexConfig, "a = 1\n/*"},
	{lexConfig, "a = 1 /"},
	{lexConfig, "a = 1 /*/"},
	{lexConfig, "a = \"/* [[[[ ${[[1]]} \"\nb = [[[[1]]]]\n"},
	{lexConfig, "a = \"x /* y\"\nb = \"${1 /* }\"\nc = [[[[1]]]]\n"},
	{lexConfig, "a = <<EOT\n/* [[[[\n${[[[1]]]}\nEOT\nb = 1\n"},
	{lexConfig, "a = <<-EOT\r\n  x /* \r\n  EOT\r\nb = [[[[1]]]]\r\n"},
	{lexConfig, "a = <<EOT\n${ /* }\nEOT\nb = [[[[1]]]]\n"},
	{lexConfig, "a = <<EOTX\nEOT\n${[[1]]}\nEOTX\nb = <<E\n${[[[[1]]]]}\nE\n"},
	{lexConfig, "a = \"%{if a}%{if b}%{if c}x%{endif}%{endif}%{endif}\"\n"},
	{lexConfig, "a = \"%{ endif }%{if a}%{for x in y}${[1]}%{endfor}%{endif}%{if a}%{if b}${[1]}\"\n"},
	{lexConfig, "a = \"%{~if a~}%{~ if b ~}x%{~ endif ~}%{~endif~}%{if x}${[[1]]}%{endif}\"\n"},
	{lexConfig, "a = {for k, v in m : k => !!!!v}\nb = {\n for = !!!\n}\n"},
	{lexConfig, "a = {\n b = !!!\n c = !!!!!\n}\n"},
	{lexConfig, "a = 1 + 1 + 1 + 1 + 1 + 1\n"},
	{lexConfig, "a = x[0][0][0][0][0]\nb = x[*][*][*][*][*]\n"},
	{lexConfig, "a = true ? 1 : false ? 2 : true ? 3 : 4 ? 5 : 6\n"},
	{lexConfig, "a = 1.5e+10 + 2.5e-3 == 7.25E+2 != 1...\nb = -1.5e+10 - -2.5 - - - -1\n"},
	{lexConfig, "a = \"\\\"$${x}%%{y}\\u00e9 é ${\"${\"${\"${1}\"}\"}\"}\"\n"},
	{lexConfig, "é = [[ \"ü\" ]] ⌘ [[[[ 1 ]]]] ü\n"},
	{lexConfig, "\xef\xbb\xbfa = [[[[1]]]]\n"},
	{lexConfig, "a = \xff\xfe [[[[ \xe2\x82 ]]]]\n"},
	{lexConfig, "a = \"@@@\" # @@@\nb = @ /* @@@ */ \x00 \"\x00\" ${@} <<EOT\n@@@\nEOT\n@ [[[[1]]]]\n"},
	{lexConfig, "a = [[[ @ ] @ ]\nb = \x00\x00\x00"},
	{lexConfig, "a = ${ { ~} } ~} \"${ { ~} }\" [[[[1]]]]\n"},
	{lexConfig, "b {\n c {\n d {\n e {\n }\n }\n }\n}\n"},
	{lexConfig, "a = [for x in y : x if !!!!x]\nb = x <= 1 && y >= 2 || z < 3 && w > 4\n"},
	// A cut token lexes as several, which may be operators: `<<-EOT` as
	// `<`, `<`, `-`, `EOT`, and `1e-5` as `1`, `e`, `-`.
	{lexConfig, "a = 0 < 1 < 2 < 3 < 4 <<-EOT\r\nx\r\nEOT\r\nb = 1 - 2 - 3 - 1e-5\n"},
	{lexConfig, "a = x != y != z <<EOT\nx\nEOT\nb = 1 - 1 - 1 - 1.5e-5 - 1\n"},
	{lexExpression, "[[ /* ]] */ [[[[1]]]] ]]"},
	{lexExpression, "!!! # x\n !!! // y\n !!!"},
	{lexExpression, "(((( /* never"},
	{lexTemplate, "${[[[[1]]]]} /* %{if x}%{if y}%{if z}%{if w}"},
	{lexTemplate, "/* ${[1]} */ %{if a}%{if b}${[1 /* ]]]] */]}%{endif}%{endif} $${[[[[ %%{if"},
	{lexTemplate, "%{for a in b}%{for c in d}%{for e in f}x%{endfor}%{endfor}%{endfor}${[[[1]]]}"},
	{lexTemplate, "${ /* }"},
	{lexTemplate, "@@@ ${@} \x00 ${\"@\"} ${@@}"},
	// Beyond exprTokens (20) or fileTokens (60) of prefixLimits.
	{lexConfig, "a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]\n"},
	{lexConfig, "b { a = 1 }\nc {\n d = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n}\n"},
	{lexConfig, "a = {\n b = 1\n c = [1, 1, 1, 1, 1, 1, 1]\n}\n"},
	{lexConfig, "a = <<EOT\n${1}${1}${1}${1}${1}${1}${1}\nEOT\nb = 1\n"},
	{lexConfig, "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\nh = 8\ni = 9\nj = 10\nk = 11\nl = 12\nm = 13\nn = 14\no = 15\np = 16\n"},
	{lexConfig, "b {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\nb {\n}\n"},
	{lexExpression, "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"},
	{lexTemplate, "${1}${1}${1}${1}${1}${1}${1}"},
}

// TestTokenLimits checks where a source crosses the token limits: an
// attribute's value is one expression, up to the newline or the brace of
// the block that ends it, whatever it spans; and every token of the file
// counts.
func TestTokenLimits(t *testing.T) {
	lim := nestLimits{nesting: 100, chain: 100, invalid: 100, exprTokens: 5, fileTokens: 30}
	tests := []struct {
		name         string
		mode         lexMode
		src          string
		kind         problemKind // -1: none
		line, column int
	}{
		{"five", lexConfig, "a = [1, 2]", -1, 0, 0},
		{"six", lexConfig, "a = [1, 2]\n", exprTooLarge, 1, 5}, // the newline that ends it counts
		{"object_lines", lexConfig, "a = {\n b = 1\n}\n", exprTooLarge, 1, 5},
		{"in_block", lexConfig, "b {\n  a = \"${1}${2}\"\n}\n", exprTooLarge, 2, 7},
		{"block_brace_ends", lexConfig, "b { a = 1 }\nc { d = 2 }\n", -1, 0, 0},
		{"newline_ends", lexConfig, "a = 1 + 2\nb = 3 + 4\n", -1, 0, 0},
		{"comment_ends", lexConfig, "a = 1 + 2 # x\nb = 3 + 4\n", -1, 0, 0},
		{"list_lines", lexConfig, "a = [\n1,\n2]\n", exprTooLarge, 1, 5},
		{"expression", lexExpression, "[1, 2, 3]", exprTooLarge, 1, 1},
		{"template", lexTemplate, "${1}${2}", exprTooLarge, 1, 1},
		// 4 tokens a line: the 31st is the 3rd of line 8.
		{"file", lexConfig, strings.Repeat("a = 1\n", 10), fileTooLarge, 8, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := measureNesting([]byte(tt.src), "f", hcl.InitialPos, tt.mode, 0, lim, firstPrefix)
			switch {
			case tt.kind < 0:
				if p != nil {
					t.Errorf("problem %+v, want none", p)
				}
			case p == nil:
				t.Errorf("no problem, want kind %d at %d,%d", tt.kind, tt.line, tt.column)
			case p.Kind != tt.kind || p.Range.Start.Line != tt.line || p.Range.Start.Column != tt.column:
				t.Errorf("problem %d at %d,%d, want %d at %d,%d", p.Kind, p.Range.Start.Line, p.Range.Start.Column, tt.kind, tt.line, tt.column)
			}
		})
	}
}

// TestNestingPrefixAgrees checks the argument that measurePrefix rests on:
// a problem found in the tokens of a prefix is the whole source's first
// problem, at the same place. Every cut of every source of prefixCorpus (and
// of the generated nestings) is measured, with the source as if it began
// somewhere in a larger file, and hclNesting's growing prefixes are run from
// every first size.
func TestNestingPrefixAgrees(t *testing.T) {
	type source struct {
		mode lexMode
		src  string
	}
	var sources []source
	for _, c := range prefixCorpus {
		sources = append(sources, source(c))
	}
	for _, e := range nestedExprs {
		for n := prefixLimits.nesting; n <= prefixLimits.chain+2; n++ {
			sources = append(sources, source{lexConfig, "a = " + e.gen(n) + "\n"}, source{lexExpression, e.gen(n)})
		}
	}
	found := 0
	for _, s := range sources {
		if p := checkPrefixAgrees(t, []byte(s.src), s.mode); p != nil {
			found++
		}
	}
	// Most sources must have a problem, or the cuts prove little.
	if found < len(sources)*3/4 {
		t.Errorf("only %d of %d sources cross a limit", found, len(sources))
	}
}

// FuzzNestingPrefix checks TestNestingPrefixAgrees' property on any source.
func FuzzNestingPrefix(f *testing.F) {
	for _, c := range prefixCorpus {
		f.Add([]byte(c.src), uint8(c.mode))
	}
	f.Fuzz(func(t *testing.T, src []byte, mode uint8) {
		if len(src) > 1024 {
			return // cutting everywhere costs the length squared
		}
		checkPrefixAgrees(t, src, lexMode(mode%3))
	})
}

// checkPrefixAgrees measures src whole and cut at every length (every 7th
// length beyond 256 bytes), and returns the whole source's problem.
func checkPrefixAgrees(t *testing.T, src []byte, mode lexMode) *nestingProblem {
	t.Helper()
	start := hcl.Pos{Line: 3, Column: 7, Byte: 40}
	want, decided, _ := measurePrefix(src, len(src), "f", start, mode, 1, prefixLimits)
	if !decided {
		t.Fatalf("%q: whole source undecided", src)
	}
	step := 1
	if len(src) > 256 {
		step = 7
	}
	for n := 0; n < len(src); n += step {
		got, decided, _ := measurePrefix(src, n, "f", start, mode, 1, prefixLimits)
		if got != nil && (want == nil || *got != *want) {
			t.Fatalf("%q cut at %d: problem %+v, the whole source has %+v", src, n, got, want)
		}
		if got == nil && decided {
			t.Fatalf("%q cut at %d: decided without a problem", src, n)
		}
	}
	for first := 1; first < len(src); first += step {
		if got, _ := measureNesting(src, "f", start, mode, 1, prefixLimits, first); got != want && (got == nil || want == nil || *got != *want) {
			t.Fatalf("%q from a first prefix of %d: problem %+v, the whole source has %+v", src, first, got, want)
		}
	}
	return want
}
