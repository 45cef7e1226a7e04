package smime

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// FuzzSplitMultipart: the two multipart splitters (splitMultipart over
// memory, which Decode and the AS2 MDN parser use, and
// splitMultipartSection over a spool file, which DecodeStream uses) split
// any hostile body alike: the same error, or the same parts with the same
// alternative bare-LF readings. And parts joined with delimiter lines as
// RFC 2046 §5.1.1 writes them (CRLF or bare LF, with transport padding)
// split back into exactly those parts.
func FuzzSplitMultipart(f *testing.F) {
	f.Add([]byte("preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b \t\r\n\r\nMAA=\r\n--b--\r\nepilogue"), "b", []byte("a\x00b\r\n"), false)
	f.Add([]byte("--b\n\n--b\n--b--"), "b", []byte("\r"), true)
	f.Add([]byte("--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b\r\n--b--"), "b", []byte("--b"), false)
	f.Add([]byte("--b--x\r\n--bb\r\n--b\r\nx\r\r\n--b--  "), "b", []byte("\x00\r\n--c"), true)
	f.Fuzz(func(t *testing.T, body []byte, boundary string, sep []byte, lf bool) {
		if len(body) > 1<<16 {
			return // below splitMultipartSection's line buffer
		}
		want, werr := splitMultipart(body, boundary, maxSignedParts)
		got, _, gerr := splitMultipartSection(context.Background(), io.NewSectionReader(bytes.NewReader(body), 0, int64(len(body))), boundary)
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Fatalf("boundary %q, body %q: in memory %v, over a section %v", boundary, body, werr, gerr)
		}
		if werr == nil {
			if len(got) != len(want) {
				t.Fatalf("boundary %q, body %q: %d parts in memory, %d over a section", boundary, body, len(want), len(got))
			}
			for i := range want {
				wb, wlf := want[i].body, want[i].lfBody
				gb, glf := readSection(t, got[i].body), []byte(nil)
				if got[i].lfBody != nil {
					glf = readSection(t, got[i].lfBody)
				}
				if !bytes.Equal(wb, gb) || (wlf == nil) != (glf == nil) || !bytes.Equal(wlf, glf) {
					t.Fatalf("boundary %q, body %q, part %d: in memory %q (%q), over a section %q (%q)", boundary, body, i, wb, wlf, gb, glf)
				}
			}
		}

		// Round trip: body and sep are two parts, unless they hold what
		// would read as a delimiter line.
		if !validBoundary(boundary) {
			return
		}
		dash := []byte("--" + boundary)
		if bytes.Contains(body, dash) || bytes.Contains(sep, dash) {
			return
		}
		nl := "\r\n"
		if lf {
			nl = "\n"
		}
		var joined bytes.Buffer
		fmt.Fprintf(&joined, "%s%s--%s \t%s", sep, nl, boundary, nl)
		joined.Write(body)
		fmt.Fprintf(&joined, "%s--%s%s", nl, boundary, nl)
		joined.Write(sep)
		fmt.Fprintf(&joined, "%s--%s--%s%s", nl, boundary, nl, body)
		parts, err := splitMultipart(joined.Bytes(), boundary, 2)
		if err != nil {
			t.Fatalf("%q: %v", joined.Bytes(), err)
		}
		if len(parts) != 2 {
			t.Fatalf("%q: %d parts, want 2", joined.Bytes(), len(parts))
		}
		for i, p := range [][]byte{body, sep} {
			// With bare LF line breaks, a part ending in CR reads as
			// without it (CRLF) or, the alternative, with it.
			b := parts[i].body
			if lf && parts[i].lfBody != nil {
				b = parts[i].lfBody
			}
			if !bytes.Equal(b, p) {
				t.Fatalf("%q: part %d is %q, want %q", joined.Bytes(), i, b, p)
			}
		}
	})
}

// validBoundary reports an RFC 2046 §5.1.1 boundary: 1 to 70 bchars, the
// last not a space.
func validBoundary(b string) bool {
	if b == "" || len(b) > 70 || b[len(b)-1] == ' ' {
		return false
	}
	for _, c := range []byte(b) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("'()+_,-./:=? ", c) >= 0) {
			return false
		}
	}
	return true
}

func readSection(t *testing.T, s *io.SectionReader) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(s, 0, s.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
