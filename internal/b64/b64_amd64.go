//go:build amd64 && !purego

package b64

import "golang.org/x/sys/cpu"

// haveVector: encodeLines needs AVX2.
var haveVector = cpu.X86.HasAVX2

// encodeLines encodes lines whole lines of 57 octets from src into lines
// of 76 characters and CRLF at dst. It reads src[:57*(lines-1)+64] and
// writes dst[:78*(lines-1)+80].
//
//go:noescape
func encodeLines(dst, src *byte, lines int)
