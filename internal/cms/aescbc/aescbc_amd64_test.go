//go:build amd64 && !purego

package aescbc

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestAsmUsed makes sure the other tests exercise the assembly where the
// CPU has it, rather than silently testing the fallback twice.
func TestAsmUsed(t *testing.T) {
	if !cpu.X86.HasAES {
		t.Skip("no AES-NI")
	}
	m, err := NewEncrypter(make([]byte, 32), make([]byte, BlockSize))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*asmEncrypter); !ok {
		t.Fatalf("NewEncrypter returned %T, want the assembly encrypter", m)
	}
}

// TestExpandKey checks round keys against FIPS-197 Appendix A.
func TestExpandKey(t *testing.T) {
	if !cpu.X86.HasAES {
		t.Skip("no AES-NI (subWord uses AESENCLAST)")
	}
	cases := []struct {
		name, key string
		want      map[int]uint32 // word index → w[i]
	}{
		{"A.1", "2b7e151628aed2a6abf7158809cf4f3c", map[int]uint32{
			4: 0xa0fafe17, 5: 0x88542cb1, 6: 0x23a33939, 7: 0x2a6c7605,
			40: 0xd014f9a8, 41: 0xc9ee2589, 42: 0xe13f0cc8, 43: 0xb6630ca6}},
		{"A.2", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", map[int]uint32{
			6: 0xfe0c91f7, 7: 0x2402f5a5, 8: 0xec12068e, 9: 0x6c827f6b,
			48: 0xe98ba06f, 49: 0x448c773c, 50: 0x8ecc7204, 51: 0x01002202}},
		{"A.3", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", map[int]uint32{
			8: 0x9ba35411, 9: 0x8e6925af, 10: 0xa51a8b5f, 11: 0x2067fcde,
			12: 0xa8b09c1a, 13: 0x93d194cd, 14: 0xbe49846e, 15: 0xb75d5b9a,
			56: 0xfe4890d1, 57: 0xe6188d0b, 58: 0x046df344, 59: 0x706c631e}},
	}
	for _, c := range cases {
		key := unhex(t, c.key)
		nr := len(key)/4 + 6
		dst := make([]byte, 16*(nr+1))
		expandKey(dst, key)
		if string(dst[:len(key)]) != string(key) {
			t.Errorf("%s: first words are not the key", c.name)
		}
		for i, want := range c.want {
			if got := binary.BigEndian.Uint32(dst[4*i:]); got != want {
				t.Errorf("%s: w[%d] = %08x, want %08x", c.name, i, got, want)
			}
		}
	}
}

func TestSubWord(t *testing.T) {
	if !cpu.X86.HasAES {
		t.Skip("no AES-NI")
	}
	// S(00)=63, S(01)=7c, S(53)=ed, S(ff)=16 (FIPS-197 Figure 7).
	if got := subWord(0x000153ff); got != 0x637ced16 {
		t.Fatalf("subWord(000153ff) = %08x, want 637ced16", got)
	}
}
