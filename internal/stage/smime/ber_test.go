package smime

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestBERToDER(t *testing.T) {
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
		{"huge length", "0485ffffffffff", "", "invalid BER length"},
		{"truncated", "30", "", "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustHex(t, tt.in)
			got, err := berToDER(in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
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
	if got, _ := berToDER(der); &got[0] != &der[0] {
		t.Error("DER input was copied")
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBERToDERHostile: inputs that would exhaust the stack or take
// quadratic time in pkcs7's converter fail fast here. (Timing is logged,
// not asserted; a regression shows as a test timeout.)
func TestBERToDERHostile(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"deep nesting", bytes.Repeat([]byte{0x30, 0x80}, 2<<20), "nesting deeper"},
		{"many children without terminator", append([]byte{0x30, 0x80}, bytes.Repeat([]byte{0x05, 0x00}, 2<<20)...), "unterminated"},
		{"depth at the limit", append(bytes.Repeat([]byte{0x30, 0x80}, maxBERDepth+1), bytes.Repeat([]byte{0, 0}, maxBERDepth+1)...), ""},
		{"depth over the limit", append(bytes.Repeat([]byte{0x30, 0x80}, maxBERDepth+2), bytes.Repeat([]byte{0, 0}, maxBERDepth+2)...), "nesting deeper"},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := berToDER(tt.in)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
		t.Logf("%s: %d octets in %v", tt.name, len(tt.in), time.Since(start))
	}
}

// TestDecodeHostileSignedData: the same inputs inside an S/MIME message are
// refused by Decode (they never reach pkcs7).
func TestDecodeHostileSignedData(t *testing.T) {
	p := newPKI(t)
	sdPrefix := mustHex(t, "3080 06092a864886f70d010702 a080")
	deep := append(bytes.Clone(sdPrefix), bytes.Repeat([]byte{0x30, 0x80}, 1<<20)...)
	msg := append([]byte("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: binary\r\n\r\n"), deep...)
	if _, err := decodeBoth(t, msg, p.decodeOpts()); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
		t.Errorf("Decode: %v, want nesting error", err)
	}

	// Valid BER with a million children in one indefinite-length element:
	// pkcs7's converter needs minutes for this (it looks for the
	// end-of-contents marker from each child to the end of the input);
	// after berToDER it is a fast, ordinary error.
	wide := append(bytes.Clone(sdPrefix), 0x30, 0x80)
	wide = append(wide, bytes.Repeat([]byte{0x05, 0x00}, 1<<20)...)
	wide = append(wide, 0, 0, 0, 0, 0, 0)
	msg = append([]byte("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: binary\r\n\r\n"), wide...)
	start := time.Now()
	if _, err := decodeBoth(t, msg, p.decodeOpts()); err == nil {
		t.Error("Decode accepted a SignedData of a million NULLs")
	}
	t.Logf("wide BER: %d octets refused in %v", len(wide), time.Since(start))
}
