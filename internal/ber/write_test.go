package ber

import (
	"bytes"
	"encoding/asn1"
	"slices"
	"testing"
)

func TestAppendLength(t *testing.T) {
	for _, n := range []int{0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 1 << 30} {
		got := AppendLength(nil, n)
		// encoding/asn1 is the oracle: the length octets of an OCTET
		// STRING of n octets (only the header is compared).
		want, err := asn1.Marshal(make([]byte, min(n, 1<<17)))
		if err != nil {
			t.Fatal(err)
		}
		if n <= 1<<17 && !bytes.Equal(got, want[1:1+len(got)]) {
			t.Errorf("AppendLength(%d) = % x, want % x", n, got, want[1:1+len(got)])
		}
	}
	if got := AppendLength(nil, 1<<30); !bytes.Equal(got, []byte{0x84, 0x40, 0, 0, 0}) {
		t.Errorf("AppendLength(1<<30) = % x", got)
	}
}

func TestChunkWriter(t *testing.T) {
	for _, size := range []int{1, 3, 127, 128, 255, 256, 65535, 65536, DefaultChunk} {
		data := make([]byte, 3*size+7)
		for i := range data {
			data[i] = byte(i * 7)
		}
		// Small writes, and one write of everything: the buffer grows
		// with what is written, the chunks are the same.
		for _, step := range []int{5, len(data)} {
			var out bytes.Buffer
			c := NewChunkWriter(&out, size)
			for i := 0; i < len(data); i += step {
				if _, err := c.Write(data[i:min(i+step, len(data))]); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			// Read the chunks back with encoding/asn1: each of size
			// octets, and the rest in a last, shorter one.
			var want []int
			for left := len(data); left > 0; left -= size {
				want = append(want, min(left, size))
			}
			var got []byte
			var lens []int
			rest := out.Bytes()
			for len(rest) > 0 {
				var chunk []byte
				var err error
				rest, err = asn1.Unmarshal(rest, &chunk)
				if err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
				got = append(got, chunk...)
				lens = append(lens, len(chunk))
			}
			if !slices.Equal(lens, want) {
				t.Fatalf("size %d, writes of %d: chunks of %v octets, want %v", size, step, lens, want)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d, writes of %d: content differs", size, step)
			}
		}
	}
}
