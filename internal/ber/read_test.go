package ber

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestToDER(t *testing.T) {
	tests := []struct {
		name, in, want string // hex
		wantErr        string
	}{
		{"DER unchanged", "3006020101020102", "3006020101020102", ""},
		{"indefinite sequence", "308002010102010200 00", "3006020101020102", ""},
		{"nested indefinite", "3080 3080 0101ff 0000 0000", "3005 3003 0101ff", ""},
		{"constructed octet string kept constructed", "2480 0402abcd 0401ef 0000", "2407 0402abcd 0401ef", ""},
		{"context tag, high tag number", "a080 bf8f01 80 0500 0000 0000", "a006 bf8f01 02 0500", ""},
		{"non-minimal length", "04810161", "040161", ""},
		{"long content", "0481ff" + strings.Repeat("00", 255), "0481ff" + strings.Repeat("00", 255), ""},
		{"trailing data", "050000", "", "trailing data"},
		{"unterminated", "3080020101", "", "unterminated"},
		{"primitive indefinite", "0480", "", "primitive"},
		{"length beyond data", "0405abcd", "", "exceeds"},
		{"child beyond parent", "3003 0405abcdabcdabcd", "", "exceeds"},
		{"end-of-contents outside indefinite", "0000", "", "end-of-contents"},
		{"end-of-contents in long form", "3080 008400000000 0000", "", "end-of-contents"},
		{"huge length", "0485ffffffffff", "", "exceeds"},
		{"reserved length", "30ff", "", "reserved"},
		{"high tag not minimal", "1f8001 00", "", "tag number"},
		{"high tag form for a low tag", "1f05 00", "", "low tag"},
		{"truncated", "30", "", "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustHex(t, tt.in)
			got, err := ToDER(in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTruncated) {
					t.Errorf("err = %v wraps neither ErrMalformed nor ErrTruncated", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, tt.want); !bytes.Equal(got, want) {
				t.Errorf("got %x, want %x", got, want)
			}
		})
	}
	der := mustHex(t, "3006020101020102")
	if got, _ := ToDER(der); &got[0] != &der[0] {
		t.Error("DER input was copied")
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestToDERHostile: inputs that would exhaust the stack or take quadratic
// time in pkcs7's converter fail fast here. (Timing is logged, not
// asserted; a regression shows as a test timeout.)
func TestToDERHostile(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"deep nesting", bytes.Repeat([]byte{0x30, 0x80}, 2<<20), "nesting deeper"},
		{"many children without terminator", append([]byte{0x30, 0x80}, bytes.Repeat([]byte{0x05, 0x00}, 2<<20)...), "unterminated"},
		{"depth at the limit", append(bytes.Repeat([]byte{0x30, 0x80}, MaxDepth+1), bytes.Repeat([]byte{0, 0}, MaxDepth+1)...), ""},
		{"depth over the limit", append(bytes.Repeat([]byte{0x30, 0x80}, MaxDepth+2), bytes.Repeat([]byte{0, 0}, MaxDepth+2)...), "nesting deeper"},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := ToDER(tt.in)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
		t.Logf("%s: %d octets in %v", tt.name, len(tt.in), time.Since(start))
	}
}

// TestToDERStreamed: what this package writes (indefinite lengths, chunked
// OCTET STRING) converts to the DER a definite encoder would write.
func TestToDERStreamed(t *testing.T) {
	content := bytes.Repeat([]byte("abc"), 30000)
	var b bytes.Buffer
	b.Write(AppendIndefinite(nil, 0x30))
	b.Write(AppendIndefinite(nil, 0x24))
	c := NewChunkWriter(&b, 1000)
	c.Write(content)
	c.Flush()
	b.Write(EOC)
	b.Write(EOC)
	got, err := ToDER(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(got)
	if err != nil || h.Indefinite() || h.Len+h.Length != len(got) {
		t.Fatalf("not a definite-length element: %+v %v", h, err)
	}
}

// FuzzToDER: the converter never panics, and what it returns is DER in the
// sense it cares about: converting again changes nothing.
func FuzzToDER(f *testing.F) {
	for _, s := range []string{"3006020101020102", "308002010102010200 00", "2480 0402abcd 0401ef 0000", "a080 bf8f01 80 0500 0000 0000", "04810161", "3080 3080"} {
		f.Add(mustHex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := ToDER(in)
		if err != nil {
			return
		}
		again, err := ToDER(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not stable: %x -> %x -> %x, %v", in, out, again, err)
		}
	})
}

func TestChildren(t *testing.T) {
	for _, tc := range []struct {
		name string
		el   []byte
		want [][]byte // nil: an error
	}{
		{"two children", []byte{0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 'x'}, [][]byte{{0x02, 0x01, 0x05}, {0x04, 0x01, 'x'}}},
		{"none", []byte{0x31, 0x00}, [][]byte{}},
		{"primitive", []byte{0x04, 0x01, 'x'}, nil},
		{"indefinite", []byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00}, nil},
		{"a child of indefinite length", []byte{0x30, 0x06, 0x30, 0x80, 0x00, 0x00, 0x00, 0x00}, nil},
		{"trailing data", []byte{0x30, 0x03, 0x02, 0x01, 0x05, 0xff}, nil},
		{"a child beyond the parent", []byte{0x30, 0x03, 0x04, 0x05, 'x'}, nil},
	} {
		got, err := Children(tc.el)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: Children = %x, want an error", tc.name, got)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%s: Children = %x, %v; want %x", tc.name, got, err, tc.want)
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i], tc.want[i]) {
				t.Errorf("%s: child %d = %x, want %x", tc.name, i, got[i], tc.want[i])
			}
		}
	}
}
