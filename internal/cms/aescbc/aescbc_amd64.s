//go:build amd64 && !purego

#include "textflag.h"

// One CBC block: X15 holds the chaining value and becomes the ciphertext.
// The plaintext is XORed with round key 0 (at R8) off the critical path,
// which is then only one PXOR and the AES rounds.
#define CBC_IN \
	MOVOU   (SI), X0; \
	PXOR    (R8), X0; \
	PXOR    X0, X15

#define CBC_OUT \
	MOVOU   X15, (DI); \
	ADDQ    $16, SI;   \
	ADDQ    $16, DI;   \
	DECQ    DX

// func encryptBlocks(nr int, xk *byte, iv *[16]byte, dst, src *byte, n int)
//
// Round keys 1..nr stay in X1..X14 for the whole loop; X0 is the
// plaintext and X15 the state, so all 16 registers are taken and round
// key 0 is read from a 16-byte-aligned copy on the stack (SSE memory
// operands must be aligned; the caller's key need not be).
TEXT ·encryptBlocks(SB), NOSPLIT, $32-48
	MOVQ    nr+0(FP), CX
	MOVQ    xk+8(FP), AX
	MOVQ    iv+16(FP), BX
	MOVQ    dst+24(FP), DI
	MOVQ    src+32(FP), SI
	MOVQ    n+40(FP), DX

	LEAQ    15(SP), R8
	ANDQ    $-16, R8
	MOVOU   0(AX), X0
	MOVO    X0, (R8)

	MOVOU   16(AX), X1
	MOVOU   32(AX), X2
	MOVOU   48(AX), X3
	MOVOU   64(AX), X4
	MOVOU   80(AX), X5
	MOVOU   96(AX), X6
	MOVOU   112(AX), X7
	MOVOU   128(AX), X8
	MOVOU   144(AX), X9
	MOVOU   160(AX), X10
	MOVOU   (BX), X15
	TESTQ   DX, DX
	JZ      done
	CMPQ    CX, $12
	JB      loop128
	MOVOU   176(AX), X11
	MOVOU   192(AX), X12
	JE      loop192
	MOVOU   208(AX), X13
	MOVOU   224(AX), X14

loop256:
	CBC_IN
	AESENC      X1, X15
	AESENC      X2, X15
	AESENC      X3, X15
	AESENC      X4, X15
	AESENC      X5, X15
	AESENC      X6, X15
	AESENC      X7, X15
	AESENC      X8, X15
	AESENC      X9, X15
	AESENC      X10, X15
	AESENC      X11, X15
	AESENC      X12, X15
	AESENC      X13, X15
	AESENCLAST  X14, X15
	CBC_OUT
	JNZ     loop256
	JMP     done

loop192:
	CBC_IN
	AESENC      X1, X15
	AESENC      X2, X15
	AESENC      X3, X15
	AESENC      X4, X15
	AESENC      X5, X15
	AESENC      X6, X15
	AESENC      X7, X15
	AESENC      X8, X15
	AESENC      X9, X15
	AESENC      X10, X15
	AESENC      X11, X15
	AESENCLAST  X12, X15
	CBC_OUT
	JNZ     loop192
	JMP     done

loop128:
	CBC_IN
	AESENC      X1, X15
	AESENC      X2, X15
	AESENC      X3, X15
	AESENC      X4, X15
	AESENC      X5, X15
	AESENC      X6, X15
	AESENC      X7, X15
	AESENC      X8, X15
	AESENC      X9, X15
	AESENCLAST  X10, X15
	CBC_OUT
	JNZ     loop128

done:
	MOVOU   X15, (BX)
	// Do not leave the copy of round key 0 in the stack frame.
	PXOR    X0, X0
	MOVO    X0, (R8)
	RET

// func subWord(w uint32) uint32
//
// With the word in all four columns, ShiftRows is the identity, so
// AESENCLAST with a zero round key is SubBytes on each copy.
TEXT ·subWord(SB), NOSPLIT, $0-12
	MOVL    w+0(FP), AX
	MOVL    AX, X0
	PSHUFD  $0, X0, X0
	PXOR    X1, X1
	AESENCLAST X1, X0
	MOVL    X0, AX
	MOVL    AX, ret+8(FP)
	RET
