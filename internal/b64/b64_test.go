package b64

import (
	"bytes"
	"encoding/base64"
	mrand "math/rand/v2"
	"testing"
)

// reference is the MIME base64 of src as encoding/base64 writes it, cut
// into lines of 76 characters, each ending with CRLF.
func reference(src []byte) []byte {
	var out []byte
	for len(src) > 0 {
		n := min(len(src), LineBytes)
		out = base64.StdEncoding.AppendEncode(out, src[:n])
		out = append(out, '\r', '\n')
		src = src[n:]
	}
	return out
}

// TestAppendLines compares both paths with encoding/base64 for every length
// up to a few dozen lines, random content and the extremes of each octet,
// appended to a prefix that must stay as it was.
func TestAppendLines(t *testing.T) {
	r := mrand.New(mrand.NewPCG(8, 9))
	paths := []bool{false}
	if haveVector {
		paths = append(paths, true)
	}
	for _, vector := range paths {
		for n := range 57*40 + 3 {
			for _, fill := range []string{"random", "zeros", "ones"} {
				src := make([]byte, n)
				for i := range src {
					switch fill {
					case "random":
						src[i] = byte(r.Uint32())
					case "ones":
						src[i] = 0xff
					}
				}
				want := reference(src)
				if len(want) != LinesLen(n) {
					t.Fatalf("LinesLen(%d) = %d, want %d", n, LinesLen(n), len(want))
				}
				prefix := []byte("prefix")
				got := appendLines(bytes.Clone(prefix), src, vector)
				if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], want) {
					t.Fatalf("vector %v, %d %s octets:\ngot  %q\nwant %q", vector, n, fill, got, want)
				}
			}
		}
	}
}

// TestEveryValue: every 6-bit value in every position of a line, so that
// each range of the alphabet is reached from each lane.
func TestEveryValue(t *testing.T) {
	src := make([]byte, 57*64)
	for i := range src {
		src[i] = byte(i*37 + i/57)
	}
	for _, vector := range []bool{false, haveVector} {
		if got, want := appendLines(nil, src, vector), reference(src); !bytes.Equal(got, want) {
			t.Fatalf("vector %v: differs from encoding/base64", vector)
		}
	}
}

// TestVectorUsed makes sure that where the CPU has AVX2 the tests above
// ran the vector code over most of a long input, rather than testing the
// fallback twice.
func TestVectorUsed(t *testing.T) {
	if !haveVector {
		t.Skip("no vector code on this CPU")
	}
	if got := vectorLines(57 * 100); got != 99 {
		t.Fatalf("vectorLines(5700) = %d, want 99 (all but the last line)", got)
	}
}

func FuzzAppendLines(f *testing.F) {
	f.Add([]byte("hello"))
	f.Add(bytes.Repeat([]byte{0xfb, 0xff, 0x00}, 100))
	f.Fuzz(func(t *testing.T, src []byte) {
		want := reference(src)
		for _, vector := range []bool{false, haveVector} {
			if got := appendLines(nil, src, vector); !bytes.Equal(got, want) {
				t.Fatalf("vector %v: %q, want %q", vector, got, want)
			}
		}
	})
}

func BenchmarkAppendLines(b *testing.B) {
	src := make([]byte, 57*1024)
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	dst := make([]byte, 0, LinesLen(len(src)))
	for _, c := range []struct {
		name string
		run  func()
	}{
		{"vector", func() { dst = appendLines(dst[:0], src, haveVector) }},
		{"table", func() { dst = appendLines(dst[:0], src, false) }},
		{"stdlib", func() { dst = append(dst[:0], reference(src)...) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				c.run()
			}
		})
	}
}
