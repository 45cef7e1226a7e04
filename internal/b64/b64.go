// Package b64 writes base64 (RFC 4648 §4, padded) in the lines MIME uses:
// 76 characters, each line ending with CRLF (RFC 2045 §6.8). It gives the
// octets encoding/base64 gives, faster: an encrypted or opaque-signed
// message is base64-encoded twice by default, and the standard encoder was
// a third of the CPU of a large S/MIME message. On amd64 with AVX2 whole
// lines are encoded with vector instructions (about ten times the standard
// encoder); elsewhere six octets at a time through a 12-bit table.
package b64

import (
	"encoding/base64"
	"encoding/binary"
	"slices"
)

const (
	// LineBytes is how many octets one line encodes.
	LineBytes = 57
	// LineChars is the length of a full line, CRLF excluded.
	LineChars = 76
)

// LinesLen is the length of AppendLines' output for n octets.
func LinesLen(n int) int {
	if n == 0 {
		return 0
	}
	lines := (n + LineBytes - 1) / LineBytes
	return base64.StdEncoding.EncodedLen(n) + 2*lines
}

// AppendLines appends the base64 of src to dst in lines of LineChars
// characters (the last one shorter), each ending with CRLF, the last one
// too.
func AppendLines(dst, src []byte) []byte {
	return appendLines(dst, src, haveVector)
}

// appendLines is AppendLines, with the vector code used only when vector
// is set (the tests run both).
func appendLines(dst, src []byte, vector bool) []byte {
	size := LinesLen(len(src))
	dst = slices.Grow(dst, size)
	off := len(dst)
	dst = dst[:off+size]
	out := dst[off:]
	i, j := 0, 0
	if vector {
		// The vector code reads up to 7 octets past a line and writes up
		// to 2 characters past it, overwritten by the next line: it
		// stops while the buffers still hold that much more.
		if lines := vectorLines(len(src)); lines > 0 {
			encodeLines(&out[0], &src[0], lines)
			i, j = lines*LineBytes, lines*(LineChars+2)
		}
	}
	for i < len(src) {
		n := min(len(src)-i, LineBytes)
		m := base64.StdEncoding.EncodedLen(n)
		encode(out[j:j+m], src[i:i+n])
		out[j+m], out[j+m+1] = '\r', '\n'
		i, j = i+n, j+m+2
	}
	return dst
}

// vectorLines is how many lines of an n-octet input the vector code may
// encode: line k reads src[57k : 57k+64].
func vectorLines(n int) int {
	if n < 64 {
		return 0
	}
	return (n-64)/LineBytes + 1
}

// encode is base64.StdEncoding.Encode, about 1.4 times as fast: six
// octets at a time, as four lookups of two characters each (a 12-bit table
// of 8 KiB) instead of eight lookups of one. The table is indexed by
// message octets; the base64 of content that is sent anyway reveals
// nothing through cache timing.
func encode(dst, src []byte) {
	i, j := 0, 0
	// Eight-octet loads and stores: stop while 8 remain on both sides.
	for ; i+8 <= len(src) && j+8 <= len(dst); i, j = i+6, j+8 {
		v := binary.BigEndian.Uint64(src[i:])
		a := pairs[v>>52]
		b := pairs[v>>40&0xfff]
		c := pairs[v>>28&0xfff]
		d := pairs[v>>16&0xfff]
		binary.LittleEndian.PutUint64(dst[j:], uint64(a)|uint64(b)<<16|uint64(c)<<32|uint64(d)<<48)
	}
	base64.StdEncoding.Encode(dst[j:], src[i:])
}

// pairs[v] holds the two characters of the 12-bit value v, the first in
// the low octet.
var pairs = func() (t [4096]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for v := range t {
		t[v] = uint16(alphabet[v>>6]) | uint16(alphabet[v&63])<<8
	}
	return t
}()
