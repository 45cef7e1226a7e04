package runner

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// padTo returns header lines ("X-Pad: ppp" and nl) of exactly n bytes in
// all, n at least 16.
func padTo(n int, nl string) string {
	var b strings.Builder
	for b.Len() < n {
		left := n - b.Len()
		line := min(left, 1000)
		if left-line < 16 && left-line > 0 {
			line = left - 16 // leave room for one more line
		}
		b.WriteString("X-Pad: ")
		b.WriteString(strings.Repeat("p", line-len("X-Pad: ")-len(nl)))
		b.WriteString(nl)
	}
	return b.String()
}

// TestStartsWithHeader: a message is a whole MIME entity when its first
// lines are header fields, the first named as MIME names them, and one of
// them, within the first sniffHeader bytes, is Content-Type or
// MIME-Version; whatever the line endings, folding, and where the lines
// fall in what is read.
func TestStartsWithHeader(t *testing.T) {
	const ct = "Content-Type: application/pkcs7-mime\r\n"
	type tc struct {
		name string
		in   string
		want bool
	}
	tests := []tc{
		{"empty", "", false},
		{"openssl LF", "MIME-Version: 1.0\nContent-Disposition: attachment; filename=\"smime.p7m\"\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\n\nMIIB", true},
		{"openssl CRLF", "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime\r\n\r\nMIIB", true},
		{"content-type first", ct + "\r\nbody", true},
		{"lower case", "content-type: text/plain\n\nbody", true},
		{"mixed case", "mImE-vErSiOn: 1.0\n\n", true},
		{"no newline at all", "Content-Type: text/plain", true},
		{"name only", "Content-Type", false},
		{"name and colon only", "Content-Type:", true},
		{"other fields only", "Subject: x\nFrom: a@b\n\nbody", false},
		{"empty line first", "\nContent-Type: text/plain\n", false},
		{"CRLF empty line first", "\r\nContent-Type: text/plain\n", false},
		{"bare CR line", "X-A: 1\n\r\nContent-Type: x\n", false},
		{"after the header", "X-A: 1\n\nContent-Type: x\n", false},
		{"after the header CRLF", "X-A: 1\r\n\r\nContent-Type: x\r\n", false},
		{"folded", "Subject: a\n b: c\n\tmore\nContent-Type: x\n", true},
		{"folded CRLF", "Subject: a\r\n b: c\r\n\tmore\r\nContent-Type: x\r\n", true},
		{"folded line hides the name", "Subject: a\n Content-Type: x\n", false},
		{"first line folded", " Content-Type: x\n", false},
		{"first line tab", "\tContent-Type: x\n", false},
		{"first name starts with a digit", "1X: a\nContent-Type: x\n", false},
		{"first name with underscore", "X_A: a\nContent-Type: x\n", false},
		{"later name with a digit first", "X: a\n1X_y: b\nContent-Type: x\n", true},
		{"later name with a space", "X: a\nX y: b\nContent-Type: x\n", false},
		{"name with a space", "Content Type: x\n", false},
		{"space before colon", "Content-Type : x\n", false},
		{"CR in name", "Content-Type\r: x\n", false},
		{"colon first", ": x\nContent-Type: x\n", false},
		{"later colon first", "X: a\n: x\nContent-Type: x\n", false},
		{"longer name", "Content-Types: x\n", false},
		{"shorter name", "Content-Typ: x\n", false},
		{"shorter then real", "Content-Typ: x\nMIME-Version: 1.0\n", true},
		{"non-ASCII name", "X: a\nContent-Typé: x\nContent-Type: y\n", false},
		{"non-ASCII kelvin", "X: a\nMIME-Version\u212a: x\n", false},
		{"EDIFACT", "UNA:+.? 'UNB+UNOC:3+SENDER+RECEIVER+261206:0314+1'", false},
		{"EDIFACT lines", "UNA:+.? '\nUNB+UNOC:3+SENDER'\n", false},
		{"JSON", "{\"Content-Type\": \"x\"}\n", false},
		{"multipart body", "--b:1\nContent-Type: text/plain\n", false},
		{"DER", "\x30\x82\x01\x00\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03", false},
		{"base64", "MIIBCgYJKoZIhvcNAQcDoIIB+zCCAfcCAQAxggGUMIIBkAIBADB4MHAxCzAJBgNV\n", false},
		{"long value", "Subject: " + strings.Repeat("v", 3000) + "\nContent-Type: x\n", true},
		{"long folded value", "Subject: a\n " + strings.Repeat("v", 3000) + "\nMIME-Version: 1.0\n", true},
		{"long name", strings.Repeat("X", 3000) + ": a\nContent-Type: x\n", true},
		{"long name without colon", strings.Repeat("X", 3000) + "\nContent-Type: x\n", false},
		{"60 KiB header", padTo(60<<10, "\r\n") + ct + "\r\nbody", true},
		{"60 KiB header LF", padTo(60<<10, "\n") + "MIME-Version: 1.0\n\nbody", true},
		{"60 KiB header then empty line", padTo(60<<10, "\n") + "\n" + ct, false},
		{"name ends the window", padTo(sniffHeader-len("Content-Type:"), "\n") + "Content-Type: x\n", true},
		{"colon past the window", padTo(sniffHeader-len("Content-Type"), "\n") + "Content-Type: x\n", false},
		{"name cut by the window", padTo(sniffHeader-len("Content-Ty"), "\n") + "Content-Type: x\n", false},
		{"header past the window", padTo(sniffHeader, "\n") + ct, false},
		{"window ends in a line", padTo(sniffHeader-16, "\n") + "X-Long: " + strings.Repeat("v", 100) + "\nContent-Type: x\n", false},
		{"value cut by the window", padTo(sniffHeader-len(ct)+5, "\n") + ct, true},
	}
	// Every line end and field name around the offsets a reader might
	// stop at: the header continues across them.
	for _, at := range []int{512, 1024, 4096, 32 << 10} {
		for d := -3; d <= 3; d++ {
			for _, nl := range []string{"\n", "\r\n"} {
				pad := padTo(at+d, nl)
				tests = append(tests,
					tc{"line ends near " + strconv.Itoa(at+d) + nl, pad + "Content-Type: x" + nl, true},
					tc{"empty line near " + strconv.Itoa(at+d) + nl, pad + nl + "Content-Type: x" + nl, false},
					tc{"folded near " + strconv.Itoa(at+d) + nl, pad + " folded" + nl + "MIME-Version: 1.0" + nl, true},
					tc{"not a field near " + strconv.Itoa(at+d) + nl, pad + "not a field" + nl + "Content-Type: x" + nl, false},
				)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := startsWithHeader(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("startsWithHeader = %v, want %v (%d bytes)", got, tt.want, len(tt.in))
			}
			if ref := wholeWindowHeader([]byte(tt.in)); ref != tt.want {
				t.Errorf("the reference says %v, want %v", ref, tt.want)
			}
		})
	}
}

// failingReader is a ReaderAt whose every read fails.
type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("input/output error") }

// TestStartsWithHeaderReadError: a read that fails is an error, not a
// message without a header.
func TestStartsWithHeaderReadError(t *testing.T) {
	if _, err := startsWithHeader(failingReader{}); err == nil {
		t.Error("startsWithHeader over a failing read: no error")
	}
}

// BenchmarkStartsWithHeader reads the header openssl smime writes: its
// allocations are what each decoded message pays to sniff it.
func BenchmarkStartsWithHeader(b *testing.B) {
	msg := bytes.NewReader([]byte("MIME-Version: 1.0\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\n" +
		"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + strings.Repeat("MIIBCgYJKoZIhvcNAQcDoIIB+zCCAfcCAQAxggGUMIIBkAIBADB4MHAxCzAJBgNV\r\n", 2000)))
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := startsWithHeader(msg); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func TestPadTo(t *testing.T) {
	for _, n := range []int{16, 17, 509, 1000, 1001, 1015, 1016, 1017, 4096, 60 << 10, sniffHeader} {
		for _, nl := range []string{"\n", "\r\n"} {
			p := padTo(n, nl)
			if len(p) != n || !strings.HasSuffix(p, nl) {
				t.Errorf("padTo(%d, %q) is %d bytes", n, nl, len(p))
			}
			for _, l := range strings.SplitAfter(p, nl) {
				if l != "" && !strings.HasPrefix(l, "X-Pad: p") {
					t.Errorf("padTo(%d, %q) has the line %.20q", n, nl, l)
				}
			}
		}
	}
}

// FuzzStartsWithHeader: startsWithHeader, which reads a chunk at a time,
// decides as wholeWindowHeader, which parses the first sniffHeader bytes
// read at once, as startsWithHeader did before.
func FuzzStartsWithHeader(f *testing.F) {
	for _, s := range []string{"", "MIME-Version: 1.0\r\nContent-Type: x\r\n\r\nbody", "X: a\n b\n1y: c\nCONTENT-TYPE:x",
		"UNA:+.? 'UNB", " Content-Type: x", "X: a\n\nContent-Type: x", "Content-Type\r: x", "a: b\r\nMime-Version\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := startsWithHeader(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if want := wholeWindowHeader(in); got != want {
			t.Errorf("startsWithHeader(%q) = %v, want %v", in, got, want)
		}
	})
}

// wholeWindowHeader is startsWithHeader as it was, reading sniffHeader
// bytes at once and parsing them line by line: the reference for the
// fuzz test.
func wholeWindowHeader(b []byte) bool {
	b = b[:min(len(b), sniffHeader)]
	for first := true; len(b) > 0; first = false {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') && !first {
			continue // a folded value
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || first && !refMIMEFieldName(line[:colon]) || !refFieldName(line[:colon]) {
			return false // the empty line, or not a field
		}
		if name := string(line[:colon]); strings.EqualFold(name, "Content-Type") || strings.EqualFold(name, "MIME-Version") {
			return true
		}
	}
	return false
}

func refMIMEFieldName(name []byte) bool {
	for i, c := range name {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return len(name) > 0
}

func refFieldName(name []byte) bool {
	for _, c := range name {
		if c < 0x21 || c > 0x7e || c == ':' {
			return false
		}
	}
	return true
}
