package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// The line index answers what scanning the source does: the line's start
// and end around every offset and its column in code points, on lines
// short and long, of characters of several bytes, CRLF and bytes that are
// not UTF-8.
func TestLineIndex(t *testing.T) {
	long := strings.Repeat("aé€\U0001F600", 1000) // marks fall inside characters
	for _, src := range []string{
		"",
		"\n",
		"a = 1\nb = 2",
		"a = 1\r\n" + long + "\r\n\n" + long + "\xff\xfe" + long,
		long + "\n" + long[:markEvery-1] + "\n" + long[:markEvery] + "\n" + long[:markEvery+1],
	} {
		b := []byte(src)
		li := newLineIndex(b)
		for p := 0; p <= len(b); p++ {
			ls := bytes.LastIndexByte(b[:p], '\n') + 1
			le := len(b)
			if i := bytes.IndexByte(b[p:], '\n'); i >= 0 {
				le = p + i
			}
			col := utf8.RuneCount(b[ls:p]) + 1
			if got := li.lineStart(p); got != ls {
				t.Fatalf("%d bytes: lineStart(%d) = %d, want %d", len(b), p, got, ls)
			}
			if got := li.lineEnd(p); got != le {
				t.Fatalf("%d bytes: lineEnd(%d) = %d, want %d", len(b), p, got, le)
			}
			if got := li.column(p); got != col {
				t.Fatalf("%d bytes: column(%d) = %d, want %d", len(b), p, got, col)
			}
		}
	}
}

// Findings on one line of megabytes (a minified JSON file) cost each its
// snippet, not the line: finding each one's line start, line end and
// column scanned the line back to its start, which is no allocation but
// took 4 s a format for 3,000 findings on a 3 MB line, minutes for ten
// times both. What every format examines of the source is counted.
func TestManyFindingsOnALongLineScanned(t *testing.T) {
	const name, n = "ports.hcl.json", 3000
	var src strings.Builder
	var diags hcl.Diagnostics
	src.WriteString(`{"send_port":{`)
	pad := strings.Repeat("x", 1000)
	for i := range n {
		if i > 0 {
			src.WriteString(",")
		}
		fmt.Fprintf(&src, `"p%d":{"comment":"%s","host":"host.nope"}`, i, pad)
		end := src.Len() - 2
		r := hcl.Range{Filename: name, Start: hcl.Pos{Line: 1, Column: end - 9, Byte: end - 10}, End: hcl.Pos{Line: 1, Column: end + 1, Byte: end}}
		diags = append(diags, diag.New(hcl.DiagError, diag.CodeDuplicate, r, "Bad host", fmt.Sprintf("Number %d.", i)))
	}
	src.WriteString("}}\n")
	opts := Options{Files: map[string][]byte{name: []byte(src.String())}, Redact: redact.New("correct horse battery")}
	opts.Parsed = parseFiles(opts.Files, nil)
	for _, f := range []Format{FormatText, FormatJSON, FormatSARIF} {
		r := newResult(diags, opts)
		var out bytes.Buffer
		var err error
		switch f {
		case FormatText:
			err = writeText(&out, r, opts)
		case FormatJSON:
			err = writeJSON(&out, r)
		case FormatSARIF:
			err = writeSARIF(&out, r, opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		scanned := r.index[name].scanned
		if limit := 2*src.Len() + 2*n*markEvery; scanned > limit {
			t.Errorf("%s: examined %d MB of a %d KB line for %d findings, want at most %d MB", f, scanned>>20, src.Len()>>10, n, limit>>20)
		}
	}
}
