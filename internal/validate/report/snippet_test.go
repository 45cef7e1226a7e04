package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// TestTextSameAsHCL checks that the text format writes what HCL's
// diagnostic text writer writes, for ranges all over the fixture sources:
// starting and ending anywhere, empty, spanning lines, with a context range,
// in colour and not, wrapped and not.
func TestTextSameAsHCL(t *testing.T) {
	files := sources(t)
	parsed := parseFiles(files, nil)
	n := 0
	for name, src := range files {
		pos := positions(src, name)
		for i := 0; i < len(pos); i += 3 {
			for _, j := range []int{i, i + 1, i + 7, i + 40} {
				if j >= len(pos) {
					continue
				}
				subject := hcl.Range{Filename: name, Start: pos[i], End: pos[j]}
				context := hcl.Range{Filename: name, Start: pos[i/2], End: pos[min(j+5, len(pos)-1)]}
				for _, d := range []*hcl.Diagnostic{
					{Severity: hcl.DiagError, Summary: "Summary", Detail: "Some detail that is long enough to be wrapped at the width of the terminal, which is 78.", Subject: &subject},
					{Severity: hcl.DiagWarning, Summary: "Summary", Subject: &subject, Context: &context},
				} {
					for _, color := range []bool{false, true} {
						for _, width := range []uint{0, 78} {
							var want, got bytes.Buffer
							if err := hcl.NewDiagnosticTextWriter(&want, parsed, width, color).WriteDiagnostic(d); err != nil {
								t.Fatal(err)
							}
							if err := writeTextDiagnostic(&got, d, &result{files: parsed}, width, color); err != nil {
								t.Fatal(err)
							}
							if got.String() != want.String() {
								t.Fatalf("%s: got\n%s\nHCL writes\n%s", subject, got.String(), want.String())
							}
							n++
						}
					}
				}
			}
		}
	}
	t.Logf("%d diagnostics compared", n)
}

// positions returns the position of every byte of src (and of its end).
func positions(src []byte, name string) []hcl.Pos {
	var out []hcl.Pos
	p := hcl.InitialPos
	for i := 0; i <= len(src); i++ {
		out = append(out, p)
		if i == len(src) {
			break
		}
		p.Byte++
		switch {
		case src[i] == '\n':
			p.Line++
			p.Column = 1
		case utf8.RuneStart(src[i]):
			p.Column++
		}
	}
	return out
}

// TestLongLineClipped checks that a diagnostic on a line of megabytes shows
// a few hundred bytes of it, around its subject, in every format: the text
// format printed the whole line, once per diagnostic.
func TestLongLineClipped(t *testing.T) {
	// The reference states the limit.
	if f, _ := reflect.TypeOf(JSONSnippet{}).FieldByName("Code"); !strings.Contains(f.Tag.Get("doc"), fmt.Sprintf(" %d bytes", maxSnippetLine)) {
		t.Errorf("the doc of JSONSnippet.Code does not state maxSnippetLine (%d): %q", maxSnippetLine, f.Tag.Get("doc"))
	}
	const name = "main.hcl"
	long := strings.Repeat("aé", 350_000) // 1 MB, with characters of 2 bytes
	head := "locals {\n  x = [\""
	src := head + long + "\", undefined_thing]\n}\n"
	at := func(s string) hcl.Pos {
		i := strings.Index(src, s)
		return hcl.Pos{Line: 2, Column: utf8.RuneCountInString(src[len("locals {\n"):i]) + 1, Byte: i}
	}
	end := func(p hcl.Pos, s string) hcl.Pos {
		return hcl.Pos{Line: p.Line, Column: p.Column + utf8.RuneCountInString(s), Byte: p.Byte + len(s)}
	}
	ref := at("undefined_thing")
	str := at(`"aé`)
	tests := []struct {
		name      string
		subject   hcl.Range
		highlight string // the start of the highlighted text shown
	}{
		{"after", hcl.Range{Filename: name, Start: ref, End: end(ref, "undefined_thing")}, "undefined_thing"},
		{"long_subject", hcl.Range{Filename: name, Start: str, End: end(str, `"`+long+`"`)}, `"aéaé`},
		{"start", hcl.Range{Filename: name, Start: hcl.Pos{Line: 2, Column: 3, Byte: len("locals {\n  ")}, End: hcl.Pos{Line: 2, Column: 4, Byte: len("locals {\n  x")}}, "x"},
		{"empty", hcl.Range{Filename: name, Start: ref, End: ref}, "u"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diags := hcl.Diagnostics{diag.New(hcl.DiagError, diag.CodeUndeclared, tt.subject, "Unknown name", "Detail.")}
			opts := Options{Files: map[string][]byte{name: []byte(src)}}
			for _, f := range Formats() {
				out := render(t, f, diags, opts)
				if f == FormatGitHub || f == FormatGitLab {
					// No source in these: only their size matters.
					if len(out) > 4<<10 || !utf8.Valid(out) {
						t.Errorf("%s: %d bytes, valid UTF-8 %v:\n%.2000s", f, len(out), utf8.Valid(out), out)
					}
					continue
				}
				// SARIF has the rules' descriptions (about 35 KiB), and
				// the text of the range only: far below the line's 1 MB.
				if len(out) > 64<<10 || !utf8.Valid(out) || (f != FormatSARIF || tt.name == "long_subject") && !bytes.Contains(out, []byte("…")) {
					t.Errorf("%s: %d bytes, valid UTF-8 %v, want a few KiB with …:\n%.2000s", f, len(out), utf8.Valid(out), out)
				}
				if f != FormatSARIF && !bytes.Contains(out, []byte(tt.highlight)) {
					t.Errorf("%s does not show %q:\n%s", f, tt.highlight, out)
				}
			}
			var doc JSONDocument
			if err := json.Unmarshal(render(t, FormatJSON, diags, opts), &doc); err != nil {
				t.Fatal(err)
			}
			s := doc.Diagnostics[0].Snippet
			if s == nil || s.StartLine != 2 || s.HighlightStartOffset > s.HighlightEndOffset || s.HighlightEndOffset > len(s.Code) ||
				!strings.HasPrefix(s.Code[s.HighlightStartOffset:], tt.highlight) {
				t.Errorf("JSON snippet %+v does not highlight %q", s, tt.highlight)
			}
		})
	}
}

// TestManyDiagnosticsCheap checks that rendering costs each diagnostic its
// own lines, not the whole file: HCL's writer scanned the file for each, and
// 50,000 duplicate locals in an 800 KB file took minutes.
func TestManyDiagnosticsCheap(t *testing.T) {
	const name = "main.hcl"
	const n = 2000
	var src strings.Builder
	var diags hcl.Diagnostics
	for i := range n {
		start := hcl.Pos{Line: 3*i + 2, Column: 3, Byte: src.Len() + len("locals {\n  ")}
		src.WriteString("locals {\n  a = 1\n}\n")
		r := hcl.Range{Filename: name, Start: start, End: hcl.Pos{Line: start.Line, Column: 4, Byte: start.Byte + 1}}
		diags = append(diags, diag.New(hcl.DiagError, diag.CodeDuplicate, r, "Duplicate local value", fmt.Sprintf("Number %d.", i)))
	}
	opts := Options{Files: map[string][]byte{name: []byte(src.String())}}
	for _, f := range Formats() {
		var before, after runtime.MemStats
		var out []byte
		runtime.ReadMemStats(&before)
		out = render(t, f, diags, opts)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d bytes, allocated %d KiB", f, len(out), alloc>>10)
		if alloc > 32<<20 {
			t.Errorf("%s: allocated %d MiB for %d diagnostics, want at most 32 MiB", f, alloc>>20, n)
		}
		if f == FormatText && !bytes.Contains(out, []byte("\n  on main.hcl line 5999, in locals:\n5999:   a = 1\n")) {
			t.Errorf("text lacks the last diagnostic's snippet:\n%.1000s", out[len(out)-1000:])
		}
	}
}

// TestParsedFilesUsed checks that files the loader parsed are not parsed
// again, unless their bytes differ from those to show.
func TestParsedFilesUsed(t *testing.T) {
	files := sources(t)
	off := bytes.Index(files[fileHosts], []byte(`host "send_host"`))
	r := hcl.Range{Filename: fileHosts, Start: hcl.Pos{Line: 6, Column: 1, Byte: off}, End: hcl.Pos{Line: 6, Column: 5, Byte: off + 4}}
	diags := hcl.Diagnostics{diag.New(hcl.DiagError, diag.CodeUndeclared, r, "Summary", "Detail.")}
	for _, tt := range []struct {
		name   string
		bytes  []byte
		within string
	}{
		{"same", files[fileHosts], `in renamed "send_host"`},
		{"other_bytes", append([]byte("# changed\n"), files[fileHosts]...), `in host "send_host"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, ds := hclsyntax.ParseConfig(tt.bytes, fileHosts, hcl.InitialPos)
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			for _, b := range f.Body.(*hclsyntax.Body).Blocks {
				b.Type = "renamed" // tells the file given from one parsed again
			}
			out := render(t, FormatText, diags, Options{Files: files, Parsed: map[string]*hcl.File{fileHosts: f}})
			if !bytes.Contains(out, []byte(tt.within)) {
				t.Errorf("want %q:\n%s", tt.within, out)
			}
		})
	}
}

// A line longer than longLine is redacted only around what its snippet
// shows (splitLongLine), and shows what redacting it whole shows
// (splitWholeLine): for highlights anywhere, values anywhere, cuts through
// values and characters of several bytes.
func TestLongLineSameAsWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	long := make([]byte, 300) // longer than the context shown, not periodic
	for i := range long {
		long[i] = 'k' + byte(rng.IntN(10))
	}
	secrets := []string{"hunter22", "s3cr\u00e9t-value", string(long)}
	red := redact.New(secrets...)
	for i := range 150 {
		var b strings.Builder
		b.WriteString("x\n")
		ls := b.Len()
		for b.Len()-ls < longLine+1+rng.IntN(3*longLine) {
			switch rng.IntN(8) {
			case 0:
				b.WriteString(secrets[rng.IntN(len(secrets))])
			case 1:
				b.WriteString("é€")
			default:
				b.WriteString(strings.Repeat("a", 1+rng.IntN(40)))
			}
		}
		le := b.Len()
		b.WriteString("\ny\n")
		src := []byte(b.String())
		line := hcl.Range{Start: hcl.Pos{Line: 2, Column: 1, Byte: ls}, End: hcl.Pos{Line: 2, Byte: le}}
		hs := ls + rng.IntN(le-ls)
		he := min(le, hs+rng.IntN(600))
		highlight := hcl.Range{Start: hcl.Pos{Line: 2, Byte: hs}, End: hcl.Pos{Line: 2, Byte: he}}
		if i%10 == 0 { // the highlight on another line: the line all before
			highlight = hcl.Range{Start: hcl.Pos{Line: 3, Byte: le + 1}, End: hcl.Pos{Line: 3, Byte: le + 2}}
		}
		got, want := splitLongLine(src, line, highlight, red), splitWholeLine(src, line, highlight, red)
		got.redacted, want.redacted = false, false // of what each looked at
		if got != want {
			t.Fatalf("line of %d bytes, highlight [%d, %d):\n got %+v\nwant %+v", le-ls, hs-ls, he-ls, got, want)
		}
		// Each part shown is text of the line redacted whole: no part of
		// a value was left where a cut split it.
		whole := red.String(string(src[ls:le]))
		for _, part := range []string{got.before, got.highlight, got.after} {
			if p := strings.Trim(part, ellipsis); !strings.Contains(whole, p) {
				t.Fatalf("shown %q, not in the line redacted whole", p)
			}
		}
	}
}

// Findings on one long line (a minified JSON file) cost each its snippet,
// not the line: redacting the whole line for each made 3,000 findings on a
// 776 KB line take minutes.
func TestManyFindingsOnALongLineCheap(t *testing.T) {
	const name, n = "ports.hcl.json", 2000
	var src strings.Builder
	var diags hcl.Diagnostics
	src.WriteString(`{"send_port":{`)
	for i := range n {
		if i > 0 {
			src.WriteString(",")
		}
		fmt.Fprintf(&src, `"p%d":{"host":"host.nope"}`, i)
		end := src.Len() - 2
		r := hcl.Range{Filename: name, Start: hcl.Pos{Line: 1, Column: end - 9, Byte: end - 10}, End: hcl.Pos{Line: 1, Column: end + 1, Byte: end}}
		diags = append(diags, diag.New(hcl.DiagError, diag.CodeDuplicate, r, "Bad host", fmt.Sprintf("Number %d.", i)))
	}
	src.WriteString("}}\n")
	opts := Options{Files: map[string][]byte{name: []byte(src.String())}, Redact: redact.New("correct horse battery")}
	for _, f := range Formats() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out := render(t, f, diags, opts)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d bytes, allocated %d KiB", f, len(out), alloc>>10)
		if alloc > 64<<20 {
			t.Errorf("%s: allocated %d MiB for %d findings on a line of %d KB, want at most 64 MiB", f, alloc>>20, n, src.Len()>>10)
		}
	}
}

// Values that overlap one another run on as one (redact.Replacer.Spans),
// farther than the window a cut looks in for a value through it: a run of
// a value of 4-byte letters overlapping itself in any letter case, values
// chained. A snippet cut inside such a run, on a long line or at a short
// line's highlight, redacted each side apart and showed letters of the
// values; the text around them here has none.
func TestRunsOfValuesNotCut(t *testing.T) {
	sets := [][]string{
		{strings.Repeat("\U00010400", 40), "\U00010428\U00010429ab"},
		{"abcd", "cdef", "efgh", "ghab"},
		{strings.Repeat("ab", 30), "bab"},
		{"kkkk", "ſſſſ", "ßßßß"},
	}
	fillers := []string{".", " ", "€", "=", "\t", "→"}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 400 {
		values := sets[i%len(sets)]
		red := redact.New(values...)
		var b strings.Builder
		b.WriteString("=\n")
		ls := b.Len()
		size := 1 + rng.IntN(300)
		if i%2 == 0 {
			size = longLine + rng.IntN(2*longLine)
		}
		for b.Len()-ls < size {
			if rng.IntN(4) == 0 {
				b.WriteString(fillers[rng.IntN(len(fillers))])
				continue
			}
			// The value in a random letter case, its runes' fold kin.
			for _, c := range values[rng.IntN(len(values))] {
				for range rng.IntN(3) {
					c = unicode.SimpleFold(c)
				}
				b.WriteRune(c)
			}
		}
		le := b.Len()
		b.WriteString("\n=\n")
		src := []byte(b.String())
		line := hcl.Range{Start: hcl.Pos{Line: 2, Column: 1, Byte: ls}, End: hcl.Pos{Line: 2, Byte: le}}
		hs := ls + rng.IntN(le-ls)
		for !utf8.RuneStart(src[hs]) {
			hs--
		}
		he := min(le, hs+rng.IntN(600))
		for !utf8.RuneStart(src[he]) {
			he++
		}
		highlight := hcl.Range{Start: hcl.Pos{Line: 2, Byte: hs}, End: hcl.Pos{Line: 2, Byte: he}}
		if i%10 == 0 { // the highlight on another line: the line all before
			highlight = hcl.Range{Start: hcl.Pos{Line: 3, Byte: le + 1}, End: hcl.Pos{Line: 3, Byte: le + 2}}
		}
		l := splitWholeLine(src, line, highlight, red)
		if le-ls > longLine {
			got := splitLongLine(src, line, highlight, red)
			got.redacted, l.redacted = false, false
			if got != l {
				t.Fatalf("%q, line of %d bytes, highlight [%d, %d):\n got %+v\nwant %+v", values, le-ls, hs-ls, he-ls, got, l)
			}
		}
		for _, part := range []string{l.before, l.highlight, l.after} {
			if letter := lettersShown(part); letter != "" {
				t.Fatalf("%q, line of %d bytes, highlight [%d, %d): %q shows %q of a value", values, le-ls, hs-ls, he-ls, part, letter)
			}
		}
	}
}

// lettersShown returns the letters of part but those of redact.Shown,
// whole or cut by a clip's ellipsis.
func lettersShown(part string) string {
	p := strings.TrimPrefix(part, ellipsis)
	if p != part { // clipped before: the end of a Shown may start it
		for i := 1; i < len(redact.Shown); i++ {
			if strings.HasPrefix(p, redact.Shown[i:]) {
				p = p[len(redact.Shown)-i:]
				break
			}
		}
	}
	if q := strings.TrimSuffix(p, ellipsis); q != p {
		p = q
		for i := len(redact.Shown) - 1; i > 0; i-- {
			if strings.HasSuffix(p, redact.Shown[:i]) {
				p = p[:len(p)-i]
				break
			}
		}
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, strings.ReplaceAll(p, redact.Shown, ""))
}
