package smime

import (
	"encoding/base64"
	"encoding/binary"
)

// encodeBase64 is base64.StdEncoding.Encode, about 1.4 times as fast on
// 57-octet lines (BenchmarkEncodeBase64): six octets at a time, as four
// lookups of two characters each (a 12-bit table of 8 KiB) instead of
// eight lookups of one. Base64 is the default transfer encoding, and an
// encrypted or opaque-signed message is base64-encoded twice, so this is
// much of the encoder's time. The table is indexed by message octets; the
// base64 of content that is sent anyway reveals nothing through cache
// timing.
func encodeBase64(dst, src []byte) {
	i, j := 0, 0
	// Eight-octet loads and stores: stop while 8 remain on both sides.
	for ; i+8 <= len(src) && j+8 <= len(dst); i, j = i+6, j+8 {
		v := binary.BigEndian.Uint64(src[i:])
		a := base64Pairs[v>>52]
		b := base64Pairs[v>>40&0xfff]
		c := base64Pairs[v>>28&0xfff]
		d := base64Pairs[v>>16&0xfff]
		binary.LittleEndian.PutUint64(dst[j:], uint64(a)|uint64(b)<<16|uint64(c)<<32|uint64(d)<<48)
	}
	base64.StdEncoding.Encode(dst[j:], src[i:])
}

// base64Pairs[v] holds the two characters of the 12-bit value v, the first
// in the low octet.
var base64Pairs = func() (t [4096]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for v := range t {
		t[v] = uint16(alphabet[v>>6]) | uint16(alphabet[v&63])<<8
	}
	return t
}()
