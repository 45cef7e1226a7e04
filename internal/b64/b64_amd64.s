//go:build amd64 && !purego

#include "textflag.h"

// The AVX2 encoding of Muła and Lemire ("Faster Base64 Encoding and
// Decoding Using AVX2 Instructions", ACM TWEB 2018), applied to MIME lines.
// Each 128-bit lane takes 12 octets and gives 16 characters: a shuffle
// puts each 3 octets b0 b1 b2 in a 32-bit word as b1 b0 b2 b1, two masks
// and two 16-bit multiplications move the four 6-bit values to the four
// octets, and a 16-entry table lookup adds the offset of each value's range
// of the alphabet (A-Z, a-z, 0-9, +, /).

// ENCODE turns the octets in register R (Y or X) into characters. Y8-Y15
// (X8-X15) hold the constants; R1 and R2 are scratch.
#define ENCODE(R, R1, R2, SHUF, M1, MUL1, M2, MUL2, C51, C25, LUT) \
	VPSHUFB  SHUF, R, R;   \
	VPAND    M1, R, R1;    \
	VPMULHUW MUL1, R1, R1; \
	VPAND    M2, R, R2;    \
	VPMULLW  MUL2, R2, R2; \
	VPOR     R1, R2, R;    \
	VPSUBUSB C51, R, R1;   \
	VPCMPGTB C25, R, R2;   \
	VPSUBB   R2, R1, R1;   \
	VPSHUFB  R1, LUT, R1;  \
	VPADDB   R1, R, R

#define ENCODE256(R) ENCODE(R, Y1, Y2, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15)
#define ENCODE128(R) ENCODE(R, X1, X2, X8, X9, X10, X11, X12, X13, X14, X15)

// func encodeLines(dst, src *byte, lines int)
TEXT ·encodeLines(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lines+16(FP), CX
	VMOVDQU shuf<>(SB), Y8
	VMOVDQU mask1<>(SB), Y9
	VMOVDQU mul1<>(SB), Y10
	VMOVDQU mask2<>(SB), Y11
	VMOVDQU mul2<>(SB), Y12
	VMOVDQU c51<>(SB), Y13
	VMOVDQU c25<>(SB), Y14
	VMOVDQU lut<>(SB), Y15

loop:
	TESTQ CX, CX
	JZ    done

	// Octets 0-23: characters 0-31.
	VMOVDQU     (SI), X0
	VINSERTI128 $1, 12(SI), Y0, Y0
	ENCODE256(Y0)
	VMOVDQU     Y0, (DI)

	// Octets 24-47: characters 32-63.
	VMOVDQU     24(SI), X0
	VINSERTI128 $1, 36(SI), Y0, Y0
	ENCODE256(Y0)
	VMOVDQU     Y0, 32(DI)

	// Octets 48-56 (and 57-59, read past the line): characters 64-75,
	// and 4 more that CRLF and the next line overwrite.
	VMOVDQU 48(SI), X0
	ENCODE128(X0)
	VMOVDQU X0, 64(DI)
	MOVW    $0x0a0d, 76(DI)

	ADDQ $57, SI
	ADDQ $78, DI
	DECQ CX
	JMP  loop

done:
	VZEROUPPER
	RET

// In each lane, octets 0-11 as b1 b0 b2 b1 per 3.
DATA shuf<>+0(SB)/8, $0x0405030401020001
DATA shuf<>+8(SB)/8, $0x0a0b090a07080607
DATA shuf<>+16(SB)/8, $0x0405030401020001
DATA shuf<>+24(SB)/8, $0x0a0b090a07080607
GLOBL shuf<>(SB), RODATA|NOPTR, $32

// The first and third 6-bit values of each word...
DATA mask1<>+0(SB)/8, $0x0fc0fc000fc0fc00
DATA mask1<>+8(SB)/8, $0x0fc0fc000fc0fc00
DATA mask1<>+16(SB)/8, $0x0fc0fc000fc0fc00
DATA mask1<>+24(SB)/8, $0x0fc0fc000fc0fc00
GLOBL mask1<>(SB), RODATA|NOPTR, $32

// ...shifted right by 10 and 6 (high half of a multiplication by 2^6 and 2^10).
DATA mul1<>+0(SB)/8, $0x0400004004000040
DATA mul1<>+8(SB)/8, $0x0400004004000040
DATA mul1<>+16(SB)/8, $0x0400004004000040
DATA mul1<>+24(SB)/8, $0x0400004004000040
GLOBL mul1<>(SB), RODATA|NOPTR, $32

// The second and fourth...
DATA mask2<>+0(SB)/8, $0x003f03f0003f03f0
DATA mask2<>+8(SB)/8, $0x003f03f0003f03f0
DATA mask2<>+16(SB)/8, $0x003f03f0003f03f0
DATA mask2<>+24(SB)/8, $0x003f03f0003f03f0
GLOBL mask2<>(SB), RODATA|NOPTR, $32

// ...shifted left by 4 and 8.
DATA mul2<>+0(SB)/8, $0x0100001001000010
DATA mul2<>+8(SB)/8, $0x0100001001000010
DATA mul2<>+16(SB)/8, $0x0100001001000010
DATA mul2<>+24(SB)/8, $0x0100001001000010
GLOBL mul2<>(SB), RODATA|NOPTR, $32

DATA c51<>+0(SB)/8, $0x3333333333333333
DATA c51<>+8(SB)/8, $0x3333333333333333
DATA c51<>+16(SB)/8, $0x3333333333333333
DATA c51<>+24(SB)/8, $0x3333333333333333
GLOBL c51<>(SB), RODATA|NOPTR, $32

DATA c25<>+0(SB)/8, $0x1919191919191919
DATA c25<>+8(SB)/8, $0x1919191919191919
DATA c25<>+16(SB)/8, $0x1919191919191919
DATA c25<>+24(SB)/8, $0x1919191919191919
GLOBL c25<>(SB), RODATA|NOPTR, $32

// Offsets to the alphabet, indexed by range: 0 for A-Z (+65), 1 for a-z
// (+71), 2-11 for 0-9 (-4), 12 for + (-19), 13 for / (-16).
DATA lut<>+0(SB)/8, $0xfcfcfcfcfcfc4741
DATA lut<>+8(SB)/8, $0x0000f0edfcfcfcfc
DATA lut<>+16(SB)/8, $0xfcfcfcfcfcfc4741
DATA lut<>+24(SB)/8, $0x0000f0edfcfcfcfc
GLOBL lut<>(SB), RODATA|NOPTR, $32
