package aescbc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// constructors are the paths under test: NewKey (assembly where
// available) and the fallback, which other platforms and purego use.
var constructors = []struct {
	name string
	new  func([]byte) (*Key, error)
}{
	{"NewKey", NewKey},
	{"generic", newGenericKey},
}

// NIST SP 800-38A F.2.1, F.2.3, F.2.5 (CBC-AES128/192/256.Encrypt).
var sp80038a = []struct {
	name, key, ct string
}{
	{"F.2.1", "2b7e151628aed2a6abf7158809cf4f3c",
		"7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"},
	{"F.2.3", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
		"4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd"},
	{"F.2.5", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
		"f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"},
}

const (
	sp80038aIV = "000102030405060708090a0b0c0d0e0f"
	sp80038aPT = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51" +
		"30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)

func TestSP80038A(t *testing.T) {
	iv, pt := unhex(t, sp80038aIV), unhex(t, sp80038aPT)
	for _, c := range constructors {
		for _, v := range sp80038a {
			t.Run(c.name+"/"+v.name, func(t *testing.T) {
				key, want := unhex(t, v.key), unhex(t, v.ct)
				k, err := c.new(key)
				if err != nil {
					t.Fatal(err)
				}
				// All four blocks in one call.
				m, err := k.NewEncrypter(iv)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(pt))
				m.CryptBlocks(got, pt)
				if !bytes.Equal(got, want) {
					t.Fatalf("one call:\n got %x\nwant %x", got, want)
				}
				// One block per call, in place: the chaining carries over.
				m, _ = k.NewEncrypter(iv)
				got = bytes.Clone(pt)
				for i := 0; i < len(got); i += BlockSize {
					m.CryptBlocks(got[i:i+BlockSize], got[i:i+BlockSize])
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("per block:\n got %x\nwant %x", got, want)
				}
			})
		}
	}
}

// TestDifferential compares with crypto/cipher's CBC over random keys,
// IVs, lengths and splits into several CryptBlocks calls, in place and
// not, with dst longer than src.
func TestDifferential(t *testing.T) {
	rng := mrand.New(mrand.NewChaCha8([32]byte{'c', 'b', 'c'}))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	}
	for _, c := range constructors {
		for _, keyLen := range []int{16, 24, 32} {
			for iter := range 300 {
				key := make([]byte, keyLen)
				iv := make([]byte, BlockSize)
				fill(key)
				fill(iv)
				nblocks := iter % 70
				if iter%50 == 49 {
					nblocks = 1000 + rng.IntN(5000)
				}
				pt := make([]byte, nblocks*BlockSize)
				fill(pt)

				ref, _ := aes.NewCipher(key)
				want := make([]byte, len(pt))
				cipher.NewCBCEncrypter(ref, iv).CryptBlocks(want, pt)

				k, err := c.new(key)
				if err != nil {
					t.Fatal(err)
				}
				inPlace := iter%2 == 1
				m, _ := k.NewEncrypter(iv)
				var got []byte
				if inPlace {
					got = bytes.Clone(pt)
				} else {
					got = make([]byte, len(pt)+BlockSize) // dst may be longer
					fill(got)
				}
				tail := bytes.Clone(got[len(pt):])
				for off := 0; off < len(pt) || off == 0; {
					n := min(len(pt)-off, BlockSize*rng.IntN(nblocks+1))
					if inPlace {
						m.CryptBlocks(got[off:off+n], got[off:off+n])
					} else {
						m.CryptBlocks(got[off:], pt[off:off+n])
					}
					off += n
					if len(pt) == 0 {
						break
					}
				}
				if !bytes.Equal(got[:len(pt)], want) {
					t.Fatalf("%s key %d iter %d (%d blocks, in place %v): ciphertext differs", c.name, keyLen, iter, nblocks, inPlace)
				}
				if !bytes.Equal(got[len(pt):], tail) {
					t.Fatalf("%s key %d iter %d: wrote past len(src)", c.name, keyLen, iter)
				}
				// The chaining state after all calls is the same too.
				if len(pt) > 0 {
					more := make([]byte, 2*BlockSize)
					fill(more)
					refMode := cipher.NewCBCEncrypter(ref, want[len(want)-BlockSize:])
					w2, g2 := make([]byte, len(more)), make([]byte, len(more))
					refMode.CryptBlocks(w2, more)
					m.CryptBlocks(g2, more)
					if !bytes.Equal(g2, w2) {
						t.Fatalf("%s key %d iter %d: chaining state differs", c.name, keyLen, iter)
					}
				}
			}
		}
	}
}

// TestPanics checks the misuse panics match crypto/cipher's.
func TestPanics(t *testing.T) {
	key, iv := make([]byte, 32), make([]byte, BlockSize)
	ref, _ := aes.NewCipher(key)
	buf := make([]byte, 64)
	cases := []struct {
		name     string
		dst, src []byte
	}{
		{"partial block", buf[:40], buf[:40][:17]},
		{"short dst", make([]byte, 16), make([]byte, 32)},
		{"inexact overlap", buf[16:48], buf[0:32]},
		{"inexact overlap backwards", buf[0:32], buf[8:40]},
	}
	for _, c := range constructors {
		for _, tc := range cases {
			want := catch(func() { cipher.NewCBCEncrypter(ref, iv).CryptBlocks(tc.dst, tc.src) })
			if want == nil {
				t.Fatalf("%s: crypto/cipher does not panic", tc.name)
			}
			k, _ := c.new(key)
			m, _ := k.NewEncrypter(iv)
			got := catch(func() { m.CryptBlocks(tc.dst, tc.src) })
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s/%s: panic %v, want %v", c.name, tc.name, got, want)
			}
		}
		// Empty input is allowed, even with nil slices.
		k, _ := c.new(key)
		m, _ := k.NewEncrypter(iv)
		if p := catch(func() { m.CryptBlocks(nil, nil) }); p != nil {
			t.Errorf("%s: empty input: panic %v", c.name, p)
		}
		if m.BlockSize() != BlockSize {
			t.Errorf("%s: BlockSize %d", c.name, m.BlockSize())
		}
	}
}

func catch(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

func TestBadSizes(t *testing.T) {
	for _, n := range []int{0, 8, 15, 17, 31, 33, 64} {
		if _, err := NewEncrypter(make([]byte, n), make([]byte, BlockSize)); err == nil {
			t.Errorf("key of %d bytes accepted", n)
		}
	}
	for _, n := range []int{0, 8, 15, 17, 32} {
		if _, err := NewEncrypter(make([]byte, 16), make([]byte, n)); err == nil {
			t.Errorf("IV of %d bytes accepted", n)
		}
	}
}

// TestIVCopied: changing the caller's IV after NewEncrypter has no effect.
func TestIVCopied(t *testing.T) {
	key, iv := make([]byte, 16), make([]byte, BlockSize)
	m, err := NewEncrypter(key, iv)
	if err != nil {
		t.Fatal(err)
	}
	iv[0] = 1
	got := make([]byte, BlockSize)
	m.CryptBlocks(got, make([]byte, BlockSize))
	ref, _ := aes.NewCipher(key)
	want := make([]byte, BlockSize)
	cipher.NewCBCEncrypter(ref, make([]byte, BlockSize)).CryptBlocks(want, make([]byte, BlockSize))
	if !bytes.Equal(got, want) {
		t.Fatal("IV not copied")
	}
}

// BenchmarkCBCEncrypt compares this package with crypto/cipher on 1 MiB.
func BenchmarkCBCEncrypt(b *testing.B) {
	buf := make([]byte, 1<<20)
	iv := make([]byte, BlockSize)
	for _, keyLen := range []int{16, 32} {
		key := make([]byte, keyLen)
		b.Run(fmt.Sprintf("aescbc/AES-%d", keyLen*8), func(b *testing.B) {
			m, err := NewEncrypter(key, iv)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				m.CryptBlocks(buf, buf)
			}
		})
		b.Run(fmt.Sprintf("stdlib/AES-%d", keyLen*8), func(b *testing.B) {
			blk, _ := aes.NewCipher(key)
			m := cipher.NewCBCEncrypter(blk, iv)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				m.CryptBlocks(buf, buf)
			}
		})
	}
}
