package smime

import (
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestParseEntity(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		fields  []HeaderField
		body    string
		wantErr bool
	}{
		{"crlf", "A: 1\r\nB-C: two words \r\n\r\nbody\r\n", []HeaderField{{"A", "1"}, {"B-C", "two words"}}, "body\r\n", false},
		{"lf", "A: 1\nB: 2\n\nbody\n", []HeaderField{{"A", "1"}, {"B", "2"}}, "body\n", false},
		{"folded", "Content-Type: multipart/signed;\r\n\tboundary=x;\r\n  micalg=sha-256\r\n\r\n", []HeaderField{{"Content-Type", "multipart/signed; boundary=x; micalg=sha-256"}}, "", false},
		{"no body", "A: 1\r\n", []HeaderField{{"A", "1"}}, "", false},
		{"folded empty value", "A:\r\n x\r\n\r\n", []HeaderField{{"A", "x"}}, "", false},
		{"folded twice", "A: 1\r\n \r\n\t2 \r\nB: 3\r\n 4\r\nC: 5\r\n\r\n", []HeaderField{{"A", "1 2"}, {"B", "3 4"}, {"C", "5"}}, "", false},
		{"folded at the end", "A: 1\n 2", []HeaderField{{"A", "1 2"}}, "", false},
		{"no header", "\r\nbody", nil, "body", false},
		{"empty", "", nil, "", false},
		{"empty value", "A:\r\n\r\nx", []HeaderField{{"A", ""}}, "x", false},
		{"body keeps blank lines", "A: 1\r\n\r\n\r\nx\r\n\r\n", []HeaderField{{"A", "1"}}, "\r\nx\r\n\r\n", false},
		{"not a header", "hello world\r\n\r\n", nil, "", true},
		{"space in name", "Bad Name: x\r\n\r\n", nil, "", true},
		{"leading continuation", " x\r\nA: 1\r\n\r\n", nil, "", true},
		{"empty name", ": x\r\n\r\n", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, body, err := parseEntity([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !reflect.DeepEqual(fields, tt.fields) || string(body) != tt.body {
				t.Errorf("got %q %q, want %q %q", fields, body, tt.fields, tt.body)
			}
		})
	}
}

func TestHeaderValue(t *testing.T) {
	fields := []HeaderField{{"content-type", "text/plain"}, {"X", "1"}, {"x", "2"}}
	if v, ok, err := headerValue(fields, "Content-Type"); v != "text/plain" || !ok || err != nil {
		t.Errorf("case-insensitive lookup: %q %v %v", v, ok, err)
	}
	if _, ok, err := headerValue(fields, "Missing"); ok || err != nil {
		t.Errorf("missing field: %v %v", ok, err)
	}
	if _, _, err := headerValue(fields, "X"); err == nil {
		t.Error("duplicate field accepted")
	}
}

// TestSplitEntity: the HTTP transport's view of an encoded message: the
// top-level fields in order, usable as HTTP headers, and the body.
func TestSplitEntity(t *testing.T) {
	p := newPKI(t)
	e := mustEncoder(t, Options{Signature: "clear", IncludeCertificate: true, Encrypt: true})
	out := mustEncode(t, e, "application/xml", []byte("<a/>"), p.signer(), p.partner.Cert)
	fields, body, err := SplitEntity(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	h := http.Header{}
	for _, f := range fields {
		names = append(names, f.Name)
		if strings.ContainsAny(f.Value, "\r\n") {
			t.Errorf("%s value contains a line break", f.Name)
		}
		h.Add(f.Name, f.Value)
	}
	want := []string{"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("fields %v, want %v", names, want)
	}
	if h.Get("Content-Type") != "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m" {
		t.Errorf("Content-Type %q", h.Get("Content-Type"))
	}
	if !strings.HasSuffix(string(out), string(body)) || len(body) == 0 || strings.HasPrefix(string(body), "\r\n") {
		t.Error("body is not the entity's tail after the empty line")
	}
	// Reassembling header and body gives an entity Decode accepts.
	var re strings.Builder
	for _, f := range fields {
		re.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	re.WriteString("\r\n")
	re.Write(body)
	d, err := decodeBoth(t, []byte(re.String()), p.decodeOpts())
	if err != nil || string(d.Body) != "<a/>" {
		t.Errorf("reassembled entity: %v", err)
	}

	if _, _, err := SplitEntity([]byte("not a header\r\n\r\n")); err == nil {
		t.Error("SplitEntity accepted a malformed entity")
	}
}

func TestSplitMultipart(t *testing.T) {
	type part struct{ body, lf string }
	tests := []struct {
		name    string
		in      string
		parts   []part
		wantErr bool
	}{
		{"crlf", "preamble\r\n--b\r\none\r\n--b\r\ntwo\r\n--b--\r\nepilogue", []part{{"one", "one\r"}, {"two", "two\r"}}, false},
		{"lf", "--b\none\n--b\ntwo\n--b--\n", []part{{"one", ""}, {"two", ""}}, false},
		{"part ends in CR, lf structure", "--b\none\r\n--b\ntwo\n--b--", []part{{"one", "one\r"}, {"two", ""}}, false},
		{"trailing white space on delimiters", "--b \t\r\none\r\n--b\t\r\ntwo\r\n--b-- \r\n", []part{{"one", "one\r"}, {"two", "two\r"}}, false},
		{"empty part", "--b\r\n--b\r\ntwo\r\n--b--", []part{{"", ""}, {"two", "two\r"}}, false},
		{"blank line in part", "--b\r\n\r\n\r\n--b--", []part{{"\r\n", "\r\n\r"}}, false},
		{"boundary as prefix is not a delimiter", "--b\r\n--bx\r\n--b--", []part{{"--bx", "--bx\r"}}, false},
		{"boundary mid-line is not a delimiter", "--b\r\nx--b\r\n--b--", []part{{"x--b", "x--b\r"}}, false},
		{"no close delimiter", "--b\r\none\r\n--b\r\ntwo\r\n", nil, true},
		{"no delimiter", "hello", nil, true},
		{"only close", "--b--\r\n", nil, true},
		{"more parts than maxParts", "--b\r\none\r\n--b\r\ntwo\r\n--b\r\nthree\r\n--b--\r\n", nil, true},
		{"more parts than maxParts, no close delimiter", "--b\r\n--b\r\n--b\r\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := splitMultipart([]byte(tt.in), "b", 2)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var got []part
			for _, p := range parts {
				got = append(got, part{string(p.body), string(p.lfBody)})
			}
			if !reflect.DeepEqual(got, tt.parts) {
				t.Errorf("parts %q, want %q", got, tt.parts)
			}
		})
	}
	// The cap applies as the delimiters are found, before the missing close
	// delimiter is noticed.
	if _, err := splitMultipart([]byte("--b\r\n--b\r\n--b\r\n--b\r\n"), "b", 2); err == nil || !strings.Contains(err.Error(), "more than 2 parts") {
		t.Errorf("four delimiters, at most 2 parts: %v", err)
	}
	if _, err := splitMultipart([]byte("--\r\n--"), "", 2); err == nil {
		t.Error("empty boundary accepted")
	}
}

func TestNormaliseContentType(t *testing.T) {
	tests := []struct {
		in, want, mt string
		wantErr      bool
	}{
		{"", "application/octet-stream", "application/octet-stream", false},
		{"Application/XML", "application/xml", "application/xml", false},
		{`text/plain; Charset="utf-8"`, "text/plain; charset=utf-8", "text/plain", false},
		{`text/plain; name="a b.txt"`, `text/plain; name="a b.txt"`, "text/plain", false},
		{"text/plain\r\nBcc: evil@example.com", "", "", true},
		{"text", "", "", true},
		{"text/plain; charset", "", "", true},
	}
	for _, tt := range tests {
		got, mt, err := normaliseContentType(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want || mt != tt.mt {
			t.Errorf("normaliseContentType(%q) = %q, %q, %v; want %q, %q (error %v)", tt.in, got, mt, err, tt.want, tt.mt, tt.wantErr)
		}
	}
}

// TestParseEntityManyContinuations: folding is linear, not quadratic, in
// the number of continuation lines (a hostile header would otherwise
// stall a receive location), and so is its memory.
func TestParseEntityManyContinuations(t *testing.T) {
	raw := []byte("X: a\r\n" + strings.Repeat(" b\r\n", 500_000) + "\r\nbody")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fields, body, err := parseEntity(raw)
	runtime.ReadMemStats(&after)
	if err != nil || len(fields) != 1 || string(body) != "body" {
		t.Fatalf("got %d fields, body %q, %v", len(fields), body, err)
	}
	if want := 1 + 2*500_000; len(fields[0].Value) != want {
		t.Errorf("value has %d characters, want %d", len(fields[0].Value), want)
	}
	// TotalAlloc only grows; the bound leaves room for other goroutines.
	if d := after.TotalAlloc - before.TotalAlloc; d > 4*uint64(len(raw)) {
		t.Errorf("parseEntity of %d octets allocated %d", len(raw), d)
	}
}
