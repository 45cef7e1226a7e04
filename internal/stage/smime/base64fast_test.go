package smime

import (
	"bytes"
	"encoding/base64"
	mrand "math/rand/v2"
	"testing"
)

// TestEncodeBase64 compares with encoding/base64 for every length up to a
// few lines and random content.
func TestEncodeBase64(t *testing.T) {
	r := mrand.New(mrand.NewPCG(8, 9))
	for n := range 400 {
		for range 3 {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			want := base64.StdEncoding.EncodeToString(src)
			got := make([]byte, len(want))
			encodeBase64(got, src)
			if !bytes.Equal(got, []byte(want)) {
				t.Fatalf("length %d: got %s, want %s", n, got, want)
			}
		}
	}
}

func BenchmarkEncodeBase64(b *testing.B) {
	src := make([]byte, 57*1024)
	dst := make([]byte, 0, base64EncodedLen(len(src)))
	b.Run("lines", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			dst = appendBase64Lines(dst[:0], src)
		}
	})
	b.Run("lines-stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			dst = dst[:0]
			for s := src; len(s) > 0; s = s[base64LineBytes:] {
				off := len(dst)
				dst = dst[:off+base64LineChars]
				base64.StdEncoding.Encode(dst[off:], s[:base64LineBytes])
				dst = append(dst, '\r', '\n')
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		out := make([]byte, base64.StdEncoding.EncodedLen(len(src)))
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			base64.StdEncoding.Encode(out, src)
		}
	})
}
