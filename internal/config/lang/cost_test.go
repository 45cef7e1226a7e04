package lang

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/benchgen"
	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// allocated returns the bytes that f allocates on the heap: deterministic
// enough to bound, unlike time or RSS. The tests of this file are not
// parallel, so nothing else allocates meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// fill repeats unit after head up to size bytes.
func fill(head, unit string, size int) string {
	return head + strings.Repeat(unit, (size-len(head))/len(unit))
}

// TestHostileSourcesCheap checks that sources built to be costly, each as
// large as its entry point reads, are refused with one diagnostic at the
// place of the problem, allocating a few MiB. HCL's lexer takes some 100
// bytes a token and the parser more: the 16 MB file of `[` of issue 9 took
// 42 s and 6.1 GB before it was refused, and a file of 100,000 `/* ` three
// minutes.
func TestHostileSourcesCheap(t *testing.T) {
	const (
		size     = maxConfigFileSize - 1024
		maxAlloc = 64 << 20 // mostly reading the file, and lexing 64 KiB of it
	)
	locals := nestingGroup + "locals {\n  x = "                   // x's value starts on line 5, column 7
	long := fill(nestingGroup+"locals {\n", "  a = 1\n", 100<<10) // beyond the first prefix
	attributes := numbered(nestingGroup+"locals {\n", "  a%d = 1\n", size)
	attrLine, attrColumn := nthToken(attributes, maxFileTokens)
	blocks := fill(nestingGroup, "locals {\n}\n", size)
	blockLine, blockColumn := nthToken(blocks, maxFileTokens)
	jsonLocals := `{"locals": {"x": `
	tests := []struct {
		name string
		// file is written as main.hcl (or main.hcl.json); with vars or
		// varFile, main.hcl declares variable x instead.
		file    string
		json    bool
		varFile string   // x.tfvars
		vars    []string // --var
		code    diag.Code
		summary string
		subject bool // the diagnostic has a subject, at line and column
		line    int
		column  int
		// maxAlloc bounds what Load allocates (0: maxAlloc).
		maxAlloc uint64
	}{
		{
			name: "brackets", file: fill(locals, "[", size),
			code: diag.CodeSyntax, summary: "Configuration nested too deeply",
			// The locals block is a level: the 256th [ is the 257th.
			subject: true, line: 5, column: 7 + maxNesting - 1,
		},
		{
			name: "conditionals", file: fill(locals, "a ? b : ", size),
			code: diag.CodeSyntax, summary: "Expression too complex",
			subject: true, line: 5, column: 7 + 8*maxChain + 2,
		},
		{
			name: "brackets_after_long_prefix", file: fill(long+"  x = ", "[", size),
			code: diag.CodeSyntax, summary: "Configuration nested too deeply",
			subject: true, line: strings.Count(long, "\n") + 1, column: 7 + maxNesting - 1,
			// The 256 KiB prefix that shows the problem is mostly [,
			// and the lexer's slice of tokens grows by a quarter.
			maxAlloc: 256 << 20,
		},
		{
			// A /* never closed, before 4 MB of [: HCL's lexer reads to
			// the end for the /*, then lexes every [.
			name: "unclosed_comment", file: fill(nestingGroup+"/* ", "[", size),
			code: diag.CodeSyntax, summary: "Unclosed comment",
			subject: true, line: 4, column: 1,
		},
		{
			// HCL's lexer reads to the end of the source for each of
			// them: 22,000 took it 10 s, a file of them hours.
			name: "unclosed_comments", file: fill(nestingGroup, "/* ", 66<<10),
			code: diag.CodeSyntax, summary: "Unclosed comment",
			subject: true, line: 4, column: 1,
		},
		{
			name: "json_string", json: true,
			file: fill(`{"locals": {"x": "${`, "(", size) + `}"}}`,
			code: diag.CodeSyntax, summary: "Configuration nested too deeply",
			// The objects and ${ are 3 levels: the 254th ( is the 257th.
			subject: true, line: 1, column: len(`{"locals": {"x": "${`) + maxNesting - 2,
		},
		{
			name: "json_string_escaped", json: true,
			file: fill(`{"locals": {"x": "\"${`, "(", size) + `}"}}`,
			code: diag.CodeSyntax, summary: "Configuration nested too deeply",
			// As json_string, \" two characters of the file.
			subject: true, line: 1, column: len(`{"locals": {"x": "\"${`) + maxNesting - 2,
		},
		{
			name: "var_file", varFile: fill("x = ", "[", maxVarFileSize-16),
			code: diag.CodeSyntax, summary: "Configuration nested too deeply",
			subject: true, line: 1, column: 5 + maxNesting,
		},
		{
			name: "var_option", vars: []string{fill("x=", "[", maxVarFileSize)},
			code: diag.CodeInvalidValue, summary: "Invalid value for variable",
		},
		{
			// A binary file: each NUL a syntax error, printed with its
			// 4 MB line (44 MB of output, 8 s, 2.2 GB).
			name: "nul_bytes", file: fill(nestingGroup, "\x00", size),
			code: diag.CodeSyntax, summary: "Not a configuration file",
			subject: true, line: 4, column: 1,
			// HCL's lexer makes a diagnostic for each NUL of the 64 KiB
			// prefix.
			maxAlloc: 128 << 20,
		},
		// Long but flat: HCL's parser holds some 500 bytes a token, and as
		// many again to evaluate it. A 4 MiB list took 12 s and 1.8 GB.
		{
			name: "list", file: fill(locals+"[", "1,", size),
			code: diag.CodeSyntax, summary: "Expression too large",
			subject: true, line: 5, column: 7,
		},
		{
			name: "object", file: numbered(locals+"{", "a%d = 1, ", size),
			code: diag.CodeSyntax, summary: "Expression too large",
			subject: true, line: 5, column: 7,
			// 64 KiB hold 27,000 tokens of it: the 256 KiB prefix
			// crosses the limit.
			maxAlloc: 128 << 20,
		},
		{
			// 24 s and 1.5 GB.
			name: "interpolations", file: fill(locals+`"`, "${1}", size),
			code: diag.CodeSyntax, summary: "Expression too large",
			subject: true, line: 5, column: 7,
			// 64 KiB hold 49,000 tokens of it: the 256 KiB prefix
			// crosses the limit.
			maxAlloc: 192 << 20,
		},
		{
			name: "heredoc", file: fill(locals+"<<EOT\n", "${1}\n", size),
			code: diag.CodeSyntax, summary: "Expression too large",
			subject: true, line: 5, column: 7,
		},
		{
			// 4 s and 800 MB. The prefixes measured hold some 1.1
			// million tokens in all, which the lexer keeps 96 bytes
			// each in slices grown by a quarter at a time.
			name: "attributes", file: attributes,
			code: diag.CodeSyntax, summary: "Configuration file too large",
			subject: true, line: attrLine, column: attrColumn,
			maxAlloc: 768 << 20,
		},
		{
			name: "blocks", file: blocks,
			code: diag.CodeSyntax, summary: "Configuration file too large",
			subject: true, line: blockLine, column: blockColumn,
			maxAlloc: 768 << 20,
		},
		{
			// In JSON, only the file is bounded: which values are
			// expressions depends on the schema. 7 s and 1.7 GB.
			name: "json_list", json: true, file: fill(jsonLocals+"[", "1,", size) + "1]}}",
			code: diag.CodeSyntax, summary: "Configuration file too large",
			// 7 tokens up to the [, then 1 and , alternate.
			subject: true, line: 1, column: len(jsonLocals) + 1 + maxFileTokens - 7 + 1,
		},
		{
			name: "json_blocks", json: true, file: fill(`{"locals": [`, `{"a": 1}, `, size) + `{"a": 1}]}`,
			code: diag.CodeSyntax, summary: "Configuration file too large",
			// 4 tokens up to the [, then 6 for each block: the
			// 500,001st is the } of the 83,333rd block.
			subject: true, line: 1, column: len(`{"locals": [`) + len(`{"a": 1}, `)*((maxFileTokens-4)/6) + len(`{"a": 1`) + 1,
		},
		{
			// 24 s and 1.4 GB.
			name: "json_interpolations", json: true, file: fill(jsonLocals+`"`, "${1}", size) + `"}}`,
			code: diag.CodeSyntax, summary: "Expression too large",
			subject: true, line: 1, column: len(jsonLocals) + 2,
			maxAlloc: 192 << 20, // as interpolations
		},
		{
			// Escapes make positions in the decoded text not the file's:
			// mapping them back reads the string once, allocating
			// nothing for its length.
			name: "json_interpolations_escaped", json: true, file: fill(jsonLocals+`"`, `\"${1}`, size) + `"}}`,
			code: diag.CodeSyntax, summary: "Expression too large",
			subject: true, line: 1, column: len(jsonLocals) + 2,
			maxAlloc: 192 << 20, // as interpolations
		},
		{
			name: "var_file_list", varFile: fill("x = [", "1,", maxVarFileSize-16) + "]\n",
			code: diag.CodeSyntax, summary: "Expression too large",
			subject: true, line: 1, column: 5,
		},
		{
			name: "var_file_interpolations", varFile: fill(`x = "`, "${1}", maxVarFileSize-16) + "\"\n",
			code: diag.CodeSyntax, summary: "Expression too large",
			subject: true, line: 1, column: 5,
			maxAlloc: 192 << 20, // as interpolations
		},
		{
			// A command-line argument is at most 128 KiB.
			name: "var_option_list", vars: []string{fill("x=[", "1,", 128<<10) + "]"},
			code: diag.CodeInvalidValue, summary: "Invalid value for variable",
		},
		{
			// The 16.6 MB file of issue 9 is not read beyond the limit.
			name: "too_large", file: fill(locals, "[", 16_600_000),
			code: diag.CodeSyntax, summary: "Cannot read configuration file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			main := filepath.Join(dir, "main.hcl")
			opts := Options{LookupEnv: noEnv, Vars: tt.vars}
			file := main
			switch {
			case tt.json:
				main += ".json"
				file = main
				writeTestFile(t, main, tt.file)
			case tt.varFile != "":
				withVariable(t, dir, "any")
				file = filepath.Join(dir, "x.tfvars")
				writeTestFile(t, file, tt.varFile)
				opts.VarFiles = []string{file}
			case tt.vars != nil:
				withVariable(t, dir, "list(any)") // any takes the value as a string
				file = ""
			default:
				writeTestFile(t, main, tt.file)
			}
			var diags hcl.Diagnostics
			n := allocated(func() { _, diags = Load([]string{main}, opts) })
			limit := tt.maxAlloc
			if limit == 0 {
				limit = maxAlloc
			}
			t.Logf("Load allocated %d KiB", n>>10)
			if n > limit {
				t.Errorf("Load allocated %d MiB, want at most %d MiB", n>>20, limit>>20)
			}
			if len(diags) != 1 {
				t.Fatalf("want one diagnostic, got %d:\n%s", len(diags), diags.Error())
			}
			d := diags[0]
			if d.Severity != hcl.DiagError || diag.CodeOf(d) != tt.code || d.Summary != tt.summary {
				t.Errorf("got %v %s %q, want error %s %q", d.Severity, diag.CodeOf(d), d.Summary, tt.code, tt.summary)
			}
			switch {
			case tt.subject:
				if d.Subject == nil || d.Subject.Filename != file || d.Subject.Start.Line != tt.line || d.Subject.Start.Column != tt.column {
					t.Errorf("subject %v, want %s:%d,%d", d.Subject, file, tt.line, tt.column)
				}
			case file == "":
				// A --var value may be a secret: no place, but its name.
				if d.Subject != nil || !strings.Contains(d.Detail, "--var x ") {
					t.Errorf("subject %v, detail %q: want none, naming --var x", d.Subject, d.Detail)
				}
			default:
				if !strings.Contains(d.Detail, file) || !strings.Contains(d.Detail, fmt.Sprintf("larger than %d MiB", maxConfigFileSize>>20)) {
					t.Errorf("detail %q does not name %s and the limit", d.Detail, file)
				}
			}
		})
	}
}

// TestHostileSourcesLoad checks the other side: what is long or looks like
// a comment but is not a problem still loads, as HCL parses it.
func TestHostileSourcesLoad(t *testing.T) {
	tests := []struct{ name, src string }{
		// A comment closed well beyond the first prefix measured.
		{"long_comment", nestingGroup + "/* " + strings.Repeat("[[[ /* ", 30_000) + " */\nlocals {\n  x = [[1]]\n}\n"},
		{"comment_markers_in_text", nestingGroup + "locals {\n" +
			"  a = \"in/*.edi\"\n" +
			"  b = <<EOT\n  /* not a comment\n  EOT\n" +
			"  c = 1 # /* not one either\n" +
			"  d = 2 // nor /* this\n" +
			"}\n"},
		{"long", nestingGroup + "locals {\n" + longLocals(300<<10) + "}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			main := filepath.Join(t.TempDir(), "main.hcl")
			writeTestFile(t, main, tt.src)
			if _, diags := Load([]string{main}, Options{LookupEnv: noEnv}); len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%s", diags.Error())
			}
		})
	}
}

// TestSyntaxErrorsBounded checks that a file of characters HCL does not know
// gives a bounded number of syntax errors: HCL reports each one, and 64 KiB
// of `@` made 65,536 diagnostics, each printed with its 64 KiB line. (Beyond
// maxInvalid of them, the file is refused before it is parsed.)
func TestSyntaxErrorsBounded(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"main.hcl", "x.tfvars"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name)
			writeTestFile(t, file, strings.Repeat("@", maxInvalid))
			main, opts := file, Options{LookupEnv: noEnv}
			if name == "x.tfvars" {
				main = withVariable(t, dir, "any")
				opts.VarFiles = []string{file}
			}
			_, diags := Load([]string{main}, opts)
			if len(diags) != maxSyntaxDiags+1 {
				t.Fatalf("want %d diagnostics, got %d", maxSyntaxDiags+1, len(diags))
			}
			for _, d := range diags {
				if d.Severity != hcl.DiagError || diag.CodeOf(d) != diag.CodeSyntax {
					t.Errorf("%v %s %q, want error %s", d.Severity, diag.CodeOf(d), d.Summary, diag.CodeSyntax)
				}
			}
			more := diags[maxSyntaxDiags]
			// Every @, and the parser's error.
			if want := fmt.Sprintf("%s has %d more syntax errors", file, maxInvalid+1-maxSyntaxDiags); more.Summary != "More syntax errors" || !strings.Contains(more.Detail, want) {
				t.Errorf("last diagnostic %q: %q, want %q", more.Summary, more.Detail, want)
			}
			if s := more.Subject; s == nil || s.Filename != file || s.Start.Column != maxSyntaxDiags+1 {
				t.Errorf("subject %v, want the first error not shown", s)
			}
		})
	}
}

// numbered writes unit, a format with one %d, numbered from 0, after head
// up to size bytes.
func numbered(head, unit string, size int) string {
	var b strings.Builder
	b.WriteString(head)
	for i := 0; ; i++ {
		s := fmt.Sprintf(unit, i)
		if b.Len()+len(s) > size {
			return b.String()
		}
		b.WriteString(s)
	}
}

// nthToken returns the line and column of src's token n (from 0), as HCL's
// lexer finds it.
func nthToken(src string, n int) (line, column int) {
	tokens, _ := hclsyntax.LexConfig([]byte(src), "", hcl.InitialPos)
	start := tokens[n].Range.Start
	return start.Line, start.Column
}

// longLocals returns attributes for a locals block, size bytes of them.
func longLocals(size int) string {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "  a%d = [1, -2, !true, \"/*\", \"${1 + 1}\"]\n", i)
	}
	return b.String()
}

// TestBenchmarkConfigNotRefused checks that the largest realistic
// configuration, the benchmark of internal/benchgen (1,000 hosts, 2,000 send
// ports, 200 certificate stores) all in one file, loads without a diagnostic
// and is far from the token limits: maxFileTokens is set from it.
func TestBenchmarkConfigNotRefused(t *testing.T) {
	dir := t.TempDir()
	if err := benchgen.Generate(dir, benchgen.Default()); err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no generated files (%v)", err)
	}
	var all bytes.Buffer
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(dir, "main.hcl")
	writeTestFile(t, main, all.String())

	tokens, _ := hclsyntax.LexConfig(all.Bytes(), main, hcl.InitialPos)
	t.Logf("%d bytes, %d tokens", all.Len(), len(tokens))
	if len(tokens) > maxFileTokens/2 {
		t.Errorf("%d tokens: the limit of %d leaves too little room", len(tokens), maxFileTokens)
	}
	_, diags, used := load([]string{main}, Options{LookupEnv: noEnv})
	if len(diags) > 0 {
		t.Fatalf("the benchmark configuration in one file does not load clean:\n%s", diags.Error())
	}
	// The evaluation budget is far from what it uses (meter).
	t.Logf("evaluation used %d elements and %d bytes of text", used.elements, used.text)
	if used.elements > maxEvalElements/100 || used.text > maxEvalText/100 {
		t.Errorf("evaluation used %+v: the budget %+v leaves too little room", used, evalBudget)
	}
}
