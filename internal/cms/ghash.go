package cms

import (
	"encoding/binary"
	"math/bits"
)

// GHASH (NIST SP 800-38D §6.4) for streaming AES-GCM, which crypto/cipher
// cannot do: its AEAD needs the whole plaintext in one Seal call.
//
// The multiplication uses Shoup's 8-bit tables: the 256 multiples of H
// indexed by an octet, and a 256-entry reduction table shared by all keys.
// Four blocks are hashed at once, as X1·H^4 ⊕ X2·H^3 ⊕ X3·H^2 ⊕ X4·H
// with a table for each power (16 KiB per key): the four products share
// one shift-and-reduce chain, whose latency is what bounds a table GHASH. Elements are held in GCM's bit-reflected order as two
// uint64 (low holds the first 8 octets), so shifting right by one
// multiplies by x.
//
// Timing: the table lookups are indexed by octets of the running hash,
// which depends on the ciphertext and on H, so a local attacker who can
// observe this process's cache accesses could learn about H. This is the
// classic concern with table GHASH (OpenSSL's non-PCLMUL fallback has it
// too); crypto/cipher avoids it with carry-less multiply instructions, which
// ghashBulk uses for all but short data. H is per message (every message
// has a fresh key) and the hashed data is ciphertext that is sent anyway.

type ghashElement struct{ low, high uint64 }

// ghashReduction[b] is what the 8 bits b shifted out of the high end of an
// element contribute when it is multiplied by x^8: the top 16 bits of low.
var ghashReduction = func() (r [256]uint16) {
	for b := range 256 {
		e := ghashElement{high: uint64(b)}
		for range 8 {
			e = e.double()
		}
		r[b] = uint16(e.low >> 48)
	}
	return r
}()

// ghash is the running GHASH of a stream of blocks. The zero value is not
// usable; use newGHASH.
type ghash struct {
	table [4][256]ghashElement // table[k][reverse8(i)] = i·H^(k+1)
	y     ghashElement
	buf   [16]byte // partial block
	nbuf  int
}

func reverse8(i int) int { return int(bits.Reverse8(uint8(i))) }

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
	for k := range g.table {
		t := &g.table[k]
		t[reverse8(1)] = x
		for i := 2; i < 256; i += 2 {
			d := t[reverse8(i/2)].double()
			t[reverse8(i)] = d
			t[reverse8(i+1)] = ghashElement{d.low ^ x.low, d.high ^ x.high}
		}
		x = mulTable(t, g.table[0][reverse8(1)]) // H^(k+2) = H·H^(k+1)
	}
	return g
}

// mulTable returns y·P where t is the table of P.
func mulTable(t *[256]ghashElement, y ghashElement) ghashElement {
	var zl, zh uint64
	for _, word := range [2]uint64{y.high, y.low} {
		for range 8 {
			msb := zh & 0xff
			zh = zh>>8 | zl<<56
			zl = zl>>8 ^ uint64(ghashReduction[msb])<<48
			e := &t[word&0xff]
			zl ^= e.low
			zh ^= e.high
			word >>= 8
		}
	}
	return ghashElement{zl, zh}
}

// mulH returns y·H.
func (g *ghash) mulH(y ghashElement) ghashElement { return mulTable(&g.table[0], y) }

// blocks hashes whole blocks: y = (y ⊕ X)·H for each block X, four at a
// time while there are four.
func (g *ghash) blocks(b []byte) {
	t1, t2, t3, t4 := &g.table[0], &g.table[1], &g.table[2], &g.table[3]
	yl, yh := g.y.low, g.y.high
	be := binary.BigEndian
	for len(b) >= 64 {
		a := [8]uint64{
			yh ^ be.Uint64(b[8:]), yl ^ be.Uint64(b), // X1 ⊕ y, by H^4
			be.Uint64(b[24:]), be.Uint64(b[16:]), // X2, by H^3
			be.Uint64(b[40:]), be.Uint64(b[32:]), // X3, by H^2
			be.Uint64(b[56:]), be.Uint64(b[48:]), // X4, by H
		}
		var zl, zh uint64
		for w := 0; w < 2; w++ {
			w1, w2, w3, w4 := a[w], a[2+w], a[4+w], a[6+w]
			for range 8 {
				msb := zh & 0xff
				zh = zh>>8 | zl<<56
				zl = zl>>8 ^ uint64(ghashReduction[msb])<<48
				e1, e2, e3, e4 := &t4[w1&0xff], &t3[w2&0xff], &t2[w3&0xff], &t1[w4&0xff]
				zl ^= e1.low ^ e2.low ^ e3.low ^ e4.low
				zh ^= e1.high ^ e2.high ^ e3.high ^ e4.high
				w1, w2, w3, w4 = w1>>8, w2>>8, w3>>8, w4>>8
			}
		}
		yl, yh = zl, zh
		b = b[64:]
	}
	for len(b) >= 16 {
		y := mulTable(t1, ghashElement{yl ^ be.Uint64(b), yh ^ be.Uint64(b[8:])})
		yl, yh = y.low, y.high
		b = b[16:]
	}
	g.y = ghashElement{yl, yh}
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
