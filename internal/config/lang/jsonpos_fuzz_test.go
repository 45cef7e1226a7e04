package lang

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"golang.org/x/text/unicode/norm"
)

// FuzzJSONTemplatePositions writes a template as a .hcl.json string, each
// character escaped or not as esc chooses (\", \uXXXX in either case,
// surrogate pairs, \/, a lone surrogate, a raw invalid byte), on a line
// after a prefix of a few characters, and checks that every range of the
// template's syntax and diagnostics, mapped to the file (parseJSONTemplate),
// is inside the string's token, on its line, and covers the text the
// range of the same template parsed from its decoded text covers: the
// mechanical native twin. (testdata/fuzz/FuzzJSONTemplatePositions holds
// the inputs that found a bug.)
func FuzzJSONTemplatePositions(f *testing.F) {
	for _, s := range []struct {
		text, esc string
	}{
		{`${message.receive_location == "orders_in" && message.sizee > 1}`, "\x00\x01"},
		{`ä/${upper("x\\y") == "\"" ? [for k, v in {a = 1} : v if k != "c"][0] : (var.x[*].y)}`, "\x01\x02\x03"},
		{"%{ if !true }z%{ endif }${local.l.*.m}\n${<<EOT\n\ty\nEOT\n}", "\x04"},
		{"😀${message.id}é\u0301${", "\x01\x05"},
		{"${\"\x00\" == message.id}\xff", "\x00\x06"},
		{`${message.size >}`, ""},
		{`%{ for x in [1] }${x}%{ endfor`, "\x02"},
	} {
		f.Add(s.text, []byte(s.esc))
	}
	f.Fuzz(func(t *testing.T, text string, esc []byte) {
		const prefix = "{\n  \"é\": "
		tok := jsonStringToken(text, esc)
		file := []byte(prefix + tok + "\n}\n")
		jf, ds := hcljson.Parse(file, "p.hcl.json")
		if ds.HasErrors() {
			return // not a string the json package reads
		}
		attrs, ds := jf.Body.JustAttributes()
		if ds.HasErrors() || len(attrs) != 1 {
			t.Fatalf("attributes of %q: %v", file, ds)
		}
		expr := attrs["é"].Expr
		v, ds := expr.Value(nil)
		if ds.HasErrors() {
			t.Fatalf("value of %q: %v", file, ds)
		}
		decoded := v.AsString()
		rng := expr.Range()
		if rng.Start.Byte != len(prefix) || rng.End.Byte != len(prefix)+len(tok) {
			t.Fatalf("string token at %s, want bytes %d-%d", rng, len(prefix), len(prefix)+len(tok))
		}

		native, nativeDiags := hclsyntax.ParseTemplate([]byte(decoded), "p.hcl.json", stringStart(rng))
		tmpl, diags := parseJSONTemplate(decoded, rng, file)
		want, got := syntaxRanges(native), syntaxRanges(tmpl)
		for _, d := range nativeDiags {
			want = append(want, diagRanges(d)...)
		}
		for _, d := range diags {
			got = append(got, diagRanges(d)...)
		}
		if len(got) != len(want) {
			t.Fatalf("%d ranges, want %d", len(got), len(want))
		}
		base := stringStart(rng).Byte
		for i, g := range got {
			w := want[i]
			if g.Filename != "p.hcl.json" {
				continue // a range of no file (a zero Range): kept as it is
			}
			if g.Start.Byte < rng.Start.Byte || g.Start.Byte > g.End.Byte || g.End.Byte > rng.End.Byte {
				t.Errorf("%s is outside the string token %s of %q", g, rng, file)
				continue
			}
			for _, p := range []hcl.Pos{g.Start, g.End} {
				// A column counts a character at most a byte (HCL's
				// scanner's own may count fewer: a grapheme cluster of
				// invalid UTF-8 swallows the closing quote).
				if p.Line != rng.Start.Line || p.Column < rng.Start.Column || p.Column > rng.Start.Column+p.Byte-rng.Start.Byte {
					t.Errorf("position %d:%d (byte %d) is not on the token's line %d, between columns %d and %d",
						p.Line, p.Column, p.Byte, rng.Start.Line, rng.Start.Column, rng.Start.Column+p.Byte-rng.Start.Byte)
				}
			}
			ws, we := w.Start.Byte-base, w.End.Byte-base
			if ws < 0 || we > len(decoded) {
				continue // the twin's range is outside its text too
			}
			covered, err := decodeJSONPiece(file[g.Start.Byte:g.End.Byte])
			if err != nil {
				t.Errorf("%s covers %q, not whole characters: %v", g, file[g.Start.Byte:g.End.Byte], err)
				continue
			}
			// cty normalizes the decoded text to NFC: so is what the
			// range covers.
			if covered = norm.NFC.String(covered); covered != decoded[ws:we] {
				t.Errorf("%s covers %q, want %q (the decoded text's %s)", g, covered, decoded[ws:we], w)
			}
		}
	})
}

// diagRanges returns the ranges of d.
func diagRanges(d *hcl.Diagnostic) []hcl.Range {
	var out []hcl.Range
	for _, r := range []*hcl.Range{d.Subject, d.Context} {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// decodeJSONPiece decodes b, a part of a JSON string token's contents.
func decodeJSONPiece(b []byte) (string, error) {
	var s string
	err := json.Unmarshal([]byte(`"`+string(b)+`"`), &s)
	return s, err
}

// jsonStringToken writes text as a JSON string token, escaping its i-th
// character as esc[i] (cycled; none: only what must be) chooses.
func jsonStringToken(text string, esc []byte) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range text {
		c := byte(0)
		if len(esc) > 0 {
			c = esc[i%len(esc)]
		}
		if c&8 != 0 {
			b.WriteString(`\ud83d`) // a lone surrogate: U+FFFD
		}
		u := func(r rune) {
			if c&16 != 0 {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(text[i:], "\uFFFD"):
			b.WriteByte(text[i]) // invalid UTF-8, written raw
		case c&7 == 1 || r < 0x20 && c&7 != 2:
			if r > 0xFFFF {
				r1, r2 := utf16.EncodeRune(r)
				u(r1)
				u(r2)
			} else {
				u(r)
			}
		case r == '"' || r == '\\' || c&7 == 2 && strings.ContainsRune("/\b\f\n\r\t", r):
			b.WriteString(map[rune]string{'"': `\"`, '\\': `\\`, '/': `\/`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`}[r])
		case r < 0x20:
			u(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
