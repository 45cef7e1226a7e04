package cms

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	mrand "math/rand/v2"
	"testing"
)

// sealStream encrypts pt with gcmStream, fed in pieces of the given sizes
// (cycled), and returns ciphertext||tag as cipher.AEAD's Seal would.
func sealStream(t testing.TB, key, nonce, pt []byte, sizes []int) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	s := newGCMStream(block, nonce)
	out := make([]byte, 0, len(pt)+16)
	for i, k := 0, 0; i < len(pt); k++ {
		n := min(sizes[k%len(sizes)], len(pt)-i)
		piece := make([]byte, n)
		if err := s.encrypt(piece, pt[i:i+n]); err != nil {
			t.Fatal(err)
		}
		out = append(out, piece...)
		i += n
	}
	tag := s.tag()
	return append(out, tag[:]...)
}

// TestGCMStreamMatchesAEAD compares with crypto/cipher's GCM on random
// keys, nonces and lengths, fed at odd boundaries.
func TestGCMStreamMatchesAEAD(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	splits := [][]int{{1}, {3}, {15, 17}, {16}, {4095}, {1 << 16}}
	for i := range 200 {
		key := make([]byte, []int{16, 24, 32}[i%3])
		nonce := make([]byte, 12)
		fill(r, key)
		fill(r, nonce)
		n := r.IntN(5000)
		switch {
		case i%20 == 0:
			n = 1<<17 + r.IntN(100)
		case i%20 == 10:
			// Around the chunks ghashBulk hashes in bulk.
			n = []int{bulkChunk - 1, bulkChunk, bulkChunk + 1, 2 * bulkChunk, 3*bulkChunk + 16, 5*bulkChunk - 5}[i/20%6]
		}
		pt := make([]byte, n)
		fill(r, pt)
		block, _ := aes.NewCipher(key)
		aead, err := cipher.NewGCM(block)
		if err != nil {
			t.Fatal(err)
		}
		want := aead.Seal(nil, nonce, pt, nil)
		sizes := splits[i%len(splits)]
		if i%7 == 0 {
			sizes = []int{1 + r.IntN(100), 1 + r.IntN(3000)}
		}
		if got := sealStream(t, key, nonce, pt, sizes); !bytes.Equal(got, want) {
			t.Fatalf("case %d (len %d, split %v): stream GCM differs from crypto/cipher", i, n, sizes)
		}
	}
}

func fill(r *mrand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// TestGCMStreamNISTVectors: the 96-bit-IV, no-AAD test cases of the GCM
// specification (McGrew & Viega, test cases 1-4 and 13-16).
func TestGCMStreamNISTVectors(t *testing.T) {
	const pt4 = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
	const pt = pt4 + "1aafd255"
	for _, tc := range []struct{ key, iv, pt, ct, tag string }{
		{"00000000000000000000000000000000", "000000000000000000000000", "", "", "58e2fccefa7e3061367f1d57a4e7455a"},
		{"00000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000",
			"0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
		{"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", pt,
			"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
			"4d5c2af327cd64a62cf35abd2ba6fab4"},
		{"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "",
			"", "530f8afbc74536b9a963b4f1c4cb738b"},
		{"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
			"00000000000000000000000000000000", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
		{"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", pt,
			"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
			"b094dac5d93471bdec1a502270e3cc6c"},
	} {
		key, iv, p := unhex(t, tc.key), unhex(t, tc.iv), unhex(t, tc.pt)
		want := append(unhex(t, tc.ct), unhex(t, tc.tag)...)
		for _, sizes := range [][]int{{1}, {7}, {64}} {
			if got := sealStream(t, key, iv, p, sizes); !bytes.Equal(got, want) {
				t.Errorf("key %s…: got %x, want %x", tc.key[:8], got, want)
			}
		}
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkGCMStream measures the streaming GCM (table GHASH) against
// crypto/cipher's hardware GCM, for 64 KiB pieces.
func BenchmarkGCMStream(b *testing.B) {
	key := make([]byte, 32)
	block, _ := aes.NewCipher(key)
	buf := make([]byte, 64<<10)
	b.Run("stream", func(b *testing.B) {
		s := newGCMStream(block, make([]byte, 12))
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			if err := s.encrypt(buf, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crypto-cipher", func(b *testing.B) {
		aead, _ := cipher.NewGCM(block)
		out := make([]byte, 0, len(buf)+16)
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			out = aead.Seal(out[:0], make([]byte, 12), buf, nil)
		}
	})
}
