package cms

import "encoding/binary"

// GHASH (NIST SP 800-38D §6.4) for streaming AES-GCM, which crypto/cipher
// cannot do: its AEAD needs the whole plaintext in one Seal call.
//
// The multiplication by H uses Shoup's 4-bit tables: the 16 multiples of H
// indexed by a nibble, and a 16-entry reduction table. Elements are held
// in GCM's bit-reflected order as two uint64 (low holds the first 8
// octets), so shifting right by one multiplies by x.
//
// Timing: the table lookups are indexed by nibbles of the running hash,
// which depends on the ciphertext and on H, so a local attacker who can
// observe this process's cache accesses could learn about H. This is the
// classic concern with table GHASH (OpenSSL's fallback has it too);
// crypto/cipher avoids it with carry-less multiply instructions that Go
// does not expose. The hash covers ciphertext that is sent anyway; H is
// per message (each message has a fresh key).

type ghashElement struct{ low, high uint64 }

// ghashReduction[i] is the reduction of the 4 bits shifted out of the low
// end, already in position for the top 16 bits of low.
var ghashReduction = [16]uint16{
	0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0,
	0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0,
}

// ghash is the running GHASH of a stream of blocks. The zero value is not
// usable; use newGHASH.
type ghash struct {
	table [16]ghashElement // table[reverse4(i)] = i·H
	y     ghashElement
	buf   [16]byte // partial block
	nbuf  int
}

func reverse4(i int) int {
	i = ((i << 2) & 0xc) | ((i >> 2) & 0x3)
	i = ((i << 1) & 0xa) | ((i >> 1) & 0x5)
	return i
}

// double multiplies x by x (the polynomial), i.e. shifts right in GCM's
// reflected bit order, reducing by the field polynomial.
func (x ghashElement) double() ghashElement {
	msb := x.high&1 == 1
	d := ghashElement{low: x.low >> 1, high: x.high>>1 | x.low<<63}
	if msb {
		d.low ^= 0xe100000000000000
	}
	return d
}

func newGHASH(h []byte) *ghash {
	g := &ghash{}
	x := ghashElement{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])}
	g.table[reverse4(1)] = x
	for i := 2; i < 16; i += 2 {
		d := g.table[reverse4(i/2)].double()
		g.table[reverse4(i)] = d
		g.table[reverse4(i+1)] = ghashElement{d.low ^ x.low, d.high ^ x.high}
	}
	return g
}

// mul sets y to y·H.
func (g *ghash) mul(y *ghashElement) {
	var z ghashElement
	for i := range 2 {
		word := y.high
		if i == 1 {
			word = y.low
		}
		for j := 0; j < 64; j += 4 {
			msw := z.high & 0xf
			z.high = z.high>>4 | z.low<<60
			z.low = z.low>>4 ^ uint64(ghashReduction[msw])<<48
			t := &g.table[word&0xf]
			z.low ^= t.low
			z.high ^= t.high
			word >>= 4
		}
	}
	*y = z
}

func (g *ghash) blocks(b []byte) {
	y := g.y
	for len(b) >= 16 {
		y.low ^= binary.BigEndian.Uint64(b)
		y.high ^= binary.BigEndian.Uint64(b[8:])
		g.mul(&y)
		b = b[16:]
	}
	g.y = y
}

// write hashes p as the continuation of the data.
func (g *ghash) write(p []byte) {
	if g.nbuf > 0 {
		n := copy(g.buf[g.nbuf:], p)
		g.nbuf += n
		p = p[n:]
		if g.nbuf < 16 {
			return
		}
		g.blocks(g.buf[:])
		g.nbuf = 0
	}
	full := len(p) &^ 15
	g.blocks(p[:full])
	g.nbuf = copy(g.buf[:], p[full:])
}

// pad ends a section (AAD or ciphertext): a partial block is zero-padded.
func (g *ghash) pad() {
	if g.nbuf > 0 {
		clear(g.buf[g.nbuf:])
		g.blocks(g.buf[:])
		g.nbuf = 0
	}
}

// sum pads the data and returns GHASH with the lengths block (in octets).
func (g *ghash) sum(aadLen, ctLen uint64) [16]byte {
	g.pad()
	var l [16]byte
	binary.BigEndian.PutUint64(l[:8], aadLen*8)
	binary.BigEndian.PutUint64(l[8:], ctLen*8)
	g.blocks(l[:])
	var out [16]byte
	binary.BigEndian.PutUint64(out[:8], g.y.low)
	binary.BigEndian.PutUint64(out[8:], g.y.high)
	return out
}
