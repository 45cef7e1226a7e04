//go:build amd64 && !purego

package aescbc

import (
	"crypto/cipher"
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAsm: the loop needs AES-NI (SSE2, which it also uses, is baseline).
var useAsm = cpu.X86.HasAES

// encryptBlocks CBC-encrypts n blocks from src to dst (which may be the
// same memory) with the nr+1 round keys at xk, chaining from *iv and
// leaving the last ciphertext block in *iv.
//
//go:noescape
func encryptBlocks(nr int, xk *byte, iv *[BlockSize]byte, dst, src *byte, n int)

// subWord is the FIPS-197 SubWord (S-box on each byte), done with
// AESENCLAST so that key expansion has no secret-indexed table lookups.
//
//go:noescape
func subWord(w uint32) uint32

// asmKey is the expanded encryption key: round key i is enc[16i:16i+16],
// the bytes in FIPS-197 order, as AESENC takes them.
type asmKey struct {
	nr  int
	enc [16 * 15]byte
}

func newAsmKey(key []byte) func(iv []byte) cipher.BlockMode {
	if !useAsm {
		return nil
	}
	k := &asmKey{nr: len(key)/4 + 6}
	expandKey(k.enc[:16*(k.nr+1)], key)
	return func(iv []byte) cipher.BlockMode {
		return &asmEncrypter{k: k, iv: [BlockSize]byte(iv)}
	}
}

// expandKey is the FIPS-197 §5.2 key expansion of key (Nk = len(key)/4
// words) into len(dst)/4 words.
func expandKey(dst, key []byte) {
	var w [4 * 15]uint32
	nk, n := len(key)/4, len(dst)/4
	for i := range nk {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := nk; i < n; i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(t<<8|t>>24) ^ rcon<<24
			rcon <<= 1
			if rcon&0x100 != 0 {
				rcon ^= 0x11b // reduce modulo the AES polynomial
			}
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	for i := range n {
		binary.BigEndian.PutUint32(dst[4*i:], w[i])
	}
	clear(w[:])
}

type asmEncrypter struct {
	k  *asmKey
	iv [BlockSize]byte // the chaining value: the last ciphertext block
}

func (x *asmEncrypter) BlockSize() int { return BlockSize }

// CryptBlocks checks as crypto/cipher's CBC encrypter does, with its
// panic messages.
func (x *asmEncrypter) CryptBlocks(dst, src []byte) {
	if len(src)%BlockSize != 0 {
		panic("crypto/cipher: input not full blocks")
	}
	if len(dst) < len(src) {
		panic("crypto/cipher: output smaller than input")
	}
	if inexactOverlap(dst[:len(src)], src) {
		panic("crypto/cipher: invalid buffer overlap")
	}
	if len(src) == 0 {
		return
	}
	encryptBlocks(x.k.nr, &x.k.enc[0], &x.iv, &dst[0], &src[0], len(src)/BlockSize)
}

// inexactOverlap reports whether x and y share memory other than at the
// same indexes (crypto/internal/alias.InexactOverlap, not importable).
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	return uintptr(unsafe.Pointer(&x[0])) <= uintptr(unsafe.Pointer(&y[len(y)-1])) &&
		uintptr(unsafe.Pointer(&y[0])) <= uintptr(unsafe.Pointer(&x[len(x)-1]))
}
