//go:build !amd64 || purego

package b64

// haveVector: there is no vector code here.
const haveVector = false

func encodeLines(dst, src *byte, lines int) { panic("b64: no vector code") }
