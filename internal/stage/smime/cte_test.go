package smime

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/b64"
)

func TestCanonicalText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"no break", "no break"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\r\nb\r\n"},
		{"a\r\r\nb", "a\r\n\r\nb"},
		{"\n\n", "\r\n\r\n"},
		{"mixed\r\nunix\nmac\rend", "mixed\r\nunix\r\nmac\r\nend"},
		{"trailing  \n\t\n", "trailing  \r\n\t\r\n"},
		{"\x00\xff\n", "\x00\xff\r\n"},
	}
	for _, tt := range tests {
		if got := canonicalText([]byte(tt.in)); string(got) != tt.want {
			t.Errorf("canonicalText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Already canonical input is returned as is, not copied.
	in := []byte("a\r\nb")
	if got := canonicalText(in); &got[0] != &in[0] {
		t.Error("canonical input was copied")
	}
}

func TestLFToCRLF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a\nb", "a\r\nb"},
		{"a\r\nb", "a\r\nb"},
		{"\n", "\r\n"},
		{"lone\rCR\n", "lone\rCR\r\n"},
	}
	for _, tt := range tests {
		if got := lfToCRLF([]byte(tt.in)); string(got) != tt.want {
			t.Errorf("lfToCRLF(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBase64Lines(t *testing.T) {
	for _, n := range []int{0, 1, 56, 57, 58, 114, 1000, 4096} {
		src := bytes.Repeat([]byte{0xfb, 0xff, 0x00}, n)[:n]
		out := b64.AppendLines([]byte("prefix"), src)
		if !bytes.HasPrefix(out, []byte("prefix")) {
			t.Fatal("prefix lost")
		}
		enc := out[len("prefix"):]
		if len(enc) != b64.LinesLen(n) {
			t.Errorf("n=%d: %d bytes, b64.LinesLen says %d", n, len(enc), b64.LinesLen(n))
		}
		if n > 0 && !bytes.HasSuffix(enc, crlf) {
			t.Errorf("n=%d: last line not terminated by CRLF", n)
		}
		for i, line := range strings.Split(strings.TrimSuffix(string(enc), "\r\n"), "\r\n") {
			if len(line) > b64.LineChars || strings.ContainsAny(line, "\r\n") {
				t.Errorf("n=%d: line %d has %d characters", n, i, len(line))
			}
		}
		std, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(enc), "\r\n", ""))
		if err != nil || !bytes.Equal(std, src) {
			t.Errorf("n=%d: standard library decodes differently: %v", n, err)
		}
		own, err := decodeBase64(enc)
		if err != nil || !bytes.Equal(own, src) {
			t.Errorf("n=%d: decodeBase64 differs: %v", n, err)
		}
	}
}

func TestDecodeBase64(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"aGVs\r\nbG8=\r\n", "hello", false},
		{" aGVs bG8=\n\t", "hello", false},
		{"aGVsbG8", "", true},   // missing padding
		{"aGV*bG8=", "", true},  // not in the alphabet
		{"aGVsbG8=x", "", true}, // data after padding
	}
	for _, tt := range tests {
		got, err := decodeBase64([]byte(tt.in))
		if (err != nil) != tt.wantErr || (!tt.wantErr && string(got) != tt.want) {
			t.Errorf("decodeBase64(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestQuotedPrintable(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		name string
		in   string
		text bool
	}{
		{"empty", "", true},
		{"plain", "hello\r\n", true},
		{"no final break", "hello", true},
		{"utf8", "Grüße 東京\r\n", true},
		{"trailing white space", "a  \r\nb\t\r\nc ", true},
		{"from and dot", "From me\r\n.\r\n..x\r\nFrom", true},
		{"equals", "a=b==\r\n", true},
		{"long line", long + "\r\n" + long, true},
		{"long line of escapes", strings.Repeat("=", 100), true},
		{"binary", "\x00\r\n\n\r lone\rCR  \r\nFrom x\r\n.", false},
		{"all octets", allOctets(), false},
		{"binary trailing CR", "abc\r", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := appendQuotedPrintable(nil, []byte(tt.in), tt.text)
			if len(tt.in) > 0 && !bytes.HasSuffix(enc, crlf) {
				t.Errorf("encoding does not end with a line break: %q", enc)
			}
			for i, line := range strings.Split(string(enc), "\r\n") {
				if len(line) > qpMaxLine {
					t.Errorf("line %d has %d characters", i, len(line))
				}
				if strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
					t.Errorf("line %d ends with white space: %q", i, line)
				}
				if strings.HasPrefix(line, "From ") || strings.HasPrefix(line, ".") {
					t.Errorf("line %d starts with %q unencoded", i, line[:1])
				}
				if strings.ContainsAny(line, "\r\n") {
					t.Errorf("line %d contains a bare CR or LF", i)
				}
				for _, c := range []byte(line) {
					if c > 126 || (c < 32 && c != '\t') {
						t.Errorf("line %d contains octet 0x%02x", i, c)
					}
				}
			}
			own, err := decodeQuotedPrintable(enc)
			if err != nil || string(own) != tt.in {
				t.Errorf("decodeQuotedPrintable = %q, %v; want %q", own, err, tt.in)
			}
			std, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc)))
			if err != nil || string(std) != tt.in {
				t.Errorf("mime/quotedprintable decodes %q, %v; want %q", std, err, tt.in)
			}
		})
	}
}

func allOctets() string {
	var b strings.Builder
	for i := range 256 {
		b.WriteByte(byte(i))
	}
	return b.String()
}

func TestDecodeQuotedPrintable(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"a=3Db\r\n", "a=b\r\n", false},
		{"a=3db", "a=b", false}, // lowercase hex accepted
		{"soft=\r\nbreak", "softbreak", false},
		{"soft= \t\r\nbreak", "softbreak", false}, // white space after "="
		{"unix\nbreaks\n", "unix\r\nbreaks\r\n", false},
		{"padded   \r\nline\t\r\n", "padded\r\nline\r\n", false}, // transport-added white space
		{"end=", "end", false},
		{"bad=G1", "", true},
		{"short=4", "", true},
		{"=\r\n=ZZ", "", true},
	}
	for _, tt := range tests {
		got, err := decodeQuotedPrintable([]byte(tt.in))
		if (err != nil) != tt.wantErr || (!tt.wantErr && string(got) != tt.want) {
			t.Errorf("decodeQuotedPrintable(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCheckIdentityDomain(t *testing.T) {
	long := strings.Repeat("x", maxLineOctets)
	tests := []struct {
		in        string
		cte       transferEncoding
		wantErr   string
		wantError bool
	}{
		{"ascii\r\ntext\r\n", cte7bit, "", false},
		{long + "\r\n" + long, cte7bit, "", false},
		{long + "x", cte7bit, "at most 998", true},
		{long + "x\r\n", cte8bit, "at most 998", true},
		{"Grüße\r\n", cte7bit, "8-bit octet 0xc3", true},
		{"Grüße\r\n", cte8bit, "", false},
		{"nul\x00", cte8bit, "NUL", true},
		{"bare\nLF", cte8bit, "LF", true},
		{"bare\rCR", cte7bit, "CR", true},
		{"end CR\r", cte8bit, "CR", true},
		{"\x00\r\n\r\x80" + long + long, cteBinary, "", false},
	}
	for _, tt := range tests {
		err := checkIdentityDomain([]byte(tt.in), tt.cte)
		if (err != nil) != tt.wantError || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkIdentityDomain(%.20q, %s) = %v, want error containing %q", tt.in, tt.cte, err, tt.wantErr)
		}
	}
}

func TestDecodeTransfer(t *testing.T) {
	in := []byte("a=3D\r\n")
	for cte, want := range map[string]string{
		"": "a=3D\r\n", "7bit": "a=3D\r\n", "8bit": "a=3D\r\n", "binary": "a=3D\r\n",
		"quoted-printable": "a=\r\n",
	} {
		got, err := decodeTransfer(in, cte)
		if err != nil || string(got) != want {
			t.Errorf("decodeTransfer(%q) = %q, %v", cte, got, err)
		}
		if cte != "quoted-printable" && &got[0] == &in[0] {
			t.Errorf("decodeTransfer(%q) aliases its input", cte)
		}
	}
	if _, err := decodeTransfer(in, "x-uuencode"); err == nil {
		t.Error("unknown encoding accepted")
	}
}
